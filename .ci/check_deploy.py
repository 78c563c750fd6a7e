#!/usr/bin/env python3
"""Check the deployment files without a cluster or a Docker engine.

* deploy/kubernetes: render every overlay (alone and with every component) with a small
  kustomize subset — `resources`, `components`, `images` and `patches` made of JSON 6902
  operations with a `target`; any other kustomize feature is refused, not ignored — then
  validate every object against the Kubernetes OpenAPI schemas (kubernetes-validate,
  --strict) and check how the objects refer to each other. Where `kubectl kustomize` is
  installed, its rendering must equal ours.
* compose.yaml: parses, uses only known keys, and refers to declared volumes; its `postgres`
  profile is one PostgreSQL service and at least two replicas whose password is a file.
* A replica on PostgreSQL (a container with MQ_LEASE_POSTGRES_URL) in Kubernetes: no password
  in the URL, sslmode=verify-full with its sslrootcert on a mounted Secret or ConfigMap, the
  password from a file on a mounted Secret.
* config/alerts.yaml and config/grafana-dashboard.json: every `mq_lease_*` name they use
  is one the service exports (METRICS below). promtool runs from check-deploy.sh.
* Every config.toml we ship (ConfigMap, compose) is loaded by the real binary when
  MQ_LEASE_BIN names it.

Prints one line per file or rendering; exits 1 if anything failed.
Usage: python3 .ci/check_deploy.py [--k8s-version 1.30]
"""

import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import jsonpatch
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "kubernetes"

# The metric names the service exports: every "mq_lease_…" name in src/metrics/, and for
# histograms their _bucket, _sum and _count series. Alerts and the dashboard may use only
# these, so a rename on one side is caught here.
def exported_metrics():
    names = set()
    for source in (ROOT / "src" / "metrics").glob("*.rs"):
        names |= set(re.findall(r'"(mq_lease_[a-z0-9_]+)"', source.read_text()))
    return names | {n + suffix for n in names for suffix in ("_bucket", "_sum", "_count")}


METRICS = exported_metrics()

# Secrets the operator creates by hand (the overlays' comments say how); anything else
# referenced but not rendered is an error.
EXTERNAL_SECRETS = {"mq-lease-service", "mq-lease-service-postgres", "mq-lease-service-tls"}

failures = []


def report(ok, what, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {what}{': ' + detail if detail else ''}")
    if not ok:
        failures.append(what)


# ---------------------------------------------------------------- kustomize subset


class RenderError(Exception):
    pass


def load_yaml_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def load_kustomization(directory, expected_kind):
    path = directory / "kustomization.yaml"
    if not path.is_file():
        raise RenderError(f"{directory}: no kustomization.yaml")
    (k,) = load_yaml_docs(path)
    kind = k.get("kind", "Kustomization")
    if kind != expected_kind:
        raise RenderError(f"{path}: kind {kind}, expected {expected_kind}")
    known = {"apiVersion", "kind", "resources", "components", "images", "patches"}
    unknown = set(k) - known
    if unknown:
        raise RenderError(f"{path}: {sorted(unknown)} not supported by this renderer")
    return k


def render(directory, kind="Kustomization", extra_components=()):
    """The objects a kustomization produces, in resource order."""
    k = load_kustomization(directory, kind)
    objects = []
    for entry in k.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            objects += render(target)
        elif target.is_file():
            objects += load_yaml_docs(target)
        else:
            raise RenderError(f"{directory}: resource {entry} does not exist")
    for entry in list(k.get("components", [])) + list(extra_components):
        component = (directory / entry).resolve()
        comp = load_kustomization(component, "Component")
        for res in comp.get("resources", []):
            objects += load_yaml_docs(component / res)
        objects = apply_patches(component, comp, objects)
        objects = apply_images(comp, objects)
    objects = apply_patches(directory, k, objects)
    return apply_images(k, objects)


def matches(target, obj):
    group, _, version = obj["apiVersion"].rpartition("/")
    want = {
        "group": group,
        "version": version,
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
    }
    unknown = set(target) - set(want)
    if unknown:
        raise RenderError(f"patch target {sorted(unknown)} not supported")
    return all(want[key] == value for key, value in target.items())


def apply_patches(directory, k, objects):
    for patch in k.get("patches", []):
        if "target" not in patch:
            raise RenderError(f"{directory}: a patch without a target (strategic merge) is not supported")
        if "path" in patch:
            (ops,) = load_yaml_docs(directory / patch["path"])
        else:
            ops = yaml.safe_load(patch["patch"])
        if not isinstance(ops, list):
            raise RenderError(f"{directory}: only JSON 6902 patches (a list of operations) are supported")
        hits = [i for i, obj in enumerate(objects) if matches(patch["target"], obj)]
        if not hits:
            raise RenderError(f"{directory}: patch target {patch['target']} matches nothing")
        for i in hits:
            try:
                objects[i] = jsonpatch.apply_patch(objects[i], ops)
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as e:
                raise RenderError(f"{directory}: patch {patch.get('path', '(inline)')}: {e}") from e
    return objects


def pod_spec(obj):
    if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return obj.get("spec", {}).get("template", {}).get("spec")
    if obj["kind"] == "Pod":
        return obj.get("spec")
    return None


def apply_images(k, objects):
    for image in k.get("images", []):
        for obj in objects:
            spec = pod_spec(obj) or {}
            for c in spec.get("containers", []) + spec.get("initContainers", []):
                name = re.split(r"[@]|:(?=[^/]*$)", c["image"])[0]
                if name != image["name"]:
                    continue
                tag = c["image"][len(name):]
                if "newTag" in image:
                    tag = ":" + str(image["newTag"])
                if "digest" in image:
                    tag = "@" + image["digest"]
                c["image"] = image.get("newName", name) + tag
    return objects


def kubectl_render(directory):
    kubectl = shutil.which("kubectl")
    if not kubectl:
        return None
    out = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True)
    if out.returncode != 0:
        raise RenderError(f"kubectl kustomize {directory}: {out.stderr.strip()}")
    return [d for d in yaml.safe_load_all(out.stdout) if d is not None]


def keyed(objects):
    return {(o["apiVersion"], o["kind"], o["metadata"]["name"]): o for o in objects}


# ---------------------------------------------------------------- checks on a rendering


def check_references(objects):
    """How the objects refer to each other, and the security settings we promise."""
    problems = []
    by_kind = {}
    for o in objects:
        by_kind.setdefault(o["kind"], {})[o["metadata"]["name"]] = o
    labels_of_pods = []
    for o in objects:
        spec = pod_spec(o)
        if spec is None:
            continue
        name = f"{o['kind']}/{o['metadata']['name']}"
        template_labels = o["spec"]["template"]["metadata"].get("labels", {})
        labels_of_pods.append((template_labels, spec))
        selector = o["spec"].get("selector", {}).get("matchLabels", {})
        if not selector.items() <= template_labels.items():
            problems.append(f"{name}: selector {selector} does not match its pod labels")
        sa = spec.get("serviceAccountName")
        if sa and sa not in by_kind.get("ServiceAccount", {}):
            problems.append(f"{name}: ServiceAccount {sa} is not rendered")
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{name}: automountServiceAccountToken is not false")
        psc = spec.get("securityContext", {})
        if psc.get("runAsNonRoot") is not True or psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{name}: pod securityContext lacks runAsNonRoot/seccompProfile RuntimeDefault")
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for v in volumes.values():
            if "configMap" in v and v["configMap"]["name"] not in by_kind.get("ConfigMap", {}):
                problems.append(f"{name}: volume {v['name']}: ConfigMap {v['configMap']['name']} is not rendered")
            pvc = v.get("persistentVolumeClaim", {}).get("claimName")
            if pvc and pvc not in by_kind.get("PersistentVolumeClaim", {}):
                problems.append(f"{name}: volume {v['name']}: PVC {pvc} is not rendered")
        for c in spec.get("containers", []):
            where = f"{name} container {c['name']}"
            csc = c.get("securityContext", {})
            wanted = {
                "readOnlyRootFilesystem": True,
                "allowPrivilegeEscalation": False,
            }
            for key, value in wanted.items():
                if csc.get(key) is not value:
                    problems.append(f"{where}: securityContext.{key} is not {value}")
            if csc.get("capabilities", {}).get("drop") != ["ALL"]:
                problems.append(f"{where}: capabilities do not drop ALL")
            ports = {p.get("name") for p in c.get("ports", [])} | {p["containerPort"] for p in c.get("ports", [])}
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                port = c.get(probe, {}).get("httpGet", {}).get("port")
                if port is not None and port not in ports:
                    problems.append(f"{where}: {probe} port {port} is not a container port")
            if "livenessProbe" not in c or "readinessProbe" not in c or "resources" not in c:
                problems.append(f"{where}: needs liveness and readiness probes and resources")
            for m in c.get("volumeMounts", []):
                if m["name"] not in volumes:
                    problems.append(f"{where}: volumeMount {m['name']} has no volume")
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["name"] not in EXTERNAL_SECRETS | set(by_kind.get("Secret", {})):
                    problems.append(f"{where}: env {e['name']}: Secret {ref['name']} is neither rendered nor documented")
        for v in volumes.values():
            secret = v.get("secret", {}).get("secretName")
            if secret and secret not in EXTERNAL_SECRETS | set(by_kind.get("Secret", {})):
                problems.append(f"{name}: volume {v['name']}: Secret {secret} is neither rendered nor documented")
        for c in spec.get("containers", []):
            problems += [f"{name} container {c['name']}: {p}" for p in check_postgres_container(c, volumes)]
    for svc in by_kind.get("Service", {}).values():
        sel = svc["spec"].get("selector", {})
        pods = [spec for labels, spec in labels_of_pods if sel.items() <= labels.items()]
        if not pods:
            problems.append(f"Service/{svc['metadata']['name']}: selector {sel} matches no pod template")
        names = {p.get("name") for spec in pods for c in spec["containers"] for p in c.get("ports", [])}
        for p in svc["spec"]["ports"]:
            if isinstance(p.get("targetPort"), str) and p["targetPort"] not in names:
                problems.append(f"Service/{svc['metadata']['name']}: targetPort {p['targetPort']} is no container port")
    for pdb in by_kind.get("PodDisruptionBudget", {}).values():
        sel = pdb["spec"]["selector"].get("matchLabels", {})
        if not any(sel.items() <= labels.items() for labels, _ in labels_of_pods):
            problems.append(f"PodDisruptionBudget/{pdb['metadata']['name']}: selector matches no pod template")
    for ing in by_kind.get("Ingress", {}).values():
        for rule in ing["spec"].get("rules", []):
            for path in rule.get("http", {}).get("paths", []):
                backend = path["backend"]["service"]
                svc = by_kind.get("Service", {}).get(backend["name"])
                if svc is None:
                    problems.append(f"Ingress/{ing['metadata']['name']}: Service {backend['name']} is not rendered")
                elif backend["port"].get("name") not in {p.get("name") for p in svc["spec"]["ports"]}:
                    problems.append(f"Ingress/{ing['metadata']['name']}: Service port {backend['port']} does not exist")
        if not ing["spec"].get("tls"):
            problems.append(f"Ingress/{ing['metadata']['name']}: no TLS")
    return problems


def password_in_url(url):
    """A PostgreSQL URL that carries a password (user:password@ or password=)."""
    parsed = urlparse(url)
    return parsed.password is not None or "password" in parse_qs(parsed.query)


def mounted_file(path, container, volumes):
    """The volume (Secret or ConfigMap) a file path in the container lies on, and its key."""
    for m in container.get("volumeMounts", []):
        mount = m["mountPath"].rstrip("/") + "/"
        if path.startswith(mount):
            volume = volumes.get(m["name"], {})
            source = volume.get("secret") or volume.get("configMap")
            if source is None:
                return None
            key = path[len(mount):]
            items = source.get("items")
            if items is not None and key not in {i["path"] for i in items}:
                return None
            return volume
    return None


def check_postgres_container(container, volumes):
    """A replica on PostgreSQL: the URL holds no password and checks the server's
    certificate and name (verify-full) against a mounted CA; the password is a mounted file."""
    env = {e["name"]: e for e in container.get("env", [])}
    url_env = env.get("MQ_LEASE_POSTGRES_URL")
    if url_env is None:
        return []
    problems = []
    url = url_env.get("value")
    if url is None:
        return ["MQ_LEASE_POSTGRES_URL must be a plain value (no password in it) so its sslmode can be checked"]
    if password_in_url(url):
        problems.append("MQ_LEASE_POSTGRES_URL carries a password: use MQ_LEASE_POSTGRES_PASSWORD_FILE")
    query = parse_qs(urlparse(url).query)
    if query.get("sslmode") != ["verify-full"]:
        problems.append(f"MQ_LEASE_POSTGRES_URL: sslmode is {query.get('sslmode')}, not verify-full")
    root = (query.get("sslrootcert") or [None])[0]
    if root and root != "system" and mounted_file(root, container, volumes) is None:
        problems.append(f"sslrootcert {root} is on no mounted Secret or ConfigMap key")
    password_file = env.get("MQ_LEASE_POSTGRES_PASSWORD_FILE", {}).get("value")
    if not password_file:
        problems.append("no MQ_LEASE_POSTGRES_PASSWORD_FILE")
    else:
        volume = mounted_file(password_file, container, volumes)
        if volume is None or "secret" not in volume:
            problems.append(f"password file {password_file} is on no mounted Secret key")
    return problems


def check_service_monitor(obj, objects):
    """The Prometheus Operator's CRD schema is not shipped here: check the fields we use."""
    problems = []
    spec = obj.get("spec", {})
    allowed = {"selector", "endpoints", "namespaceSelector", "jobLabel"}
    if obj.get("apiVersion") != "monitoring.coreos.com/v1":
        problems.append(f"apiVersion {obj.get('apiVersion')}")
    if set(spec) - allowed:
        problems.append(f"unknown spec fields {sorted(set(spec) - allowed)}")
    services = [o for o in objects if o["kind"] == "Service"]
    sel = spec.get("selector", {}).get("matchLabels", {})
    chosen = [s for s in services if sel.items() <= s["metadata"].get("labels", {}).items()]
    if not chosen:
        problems.append(f"selector {sel} matches no Service's labels")
    port_names = {p.get("name") for s in chosen for p in s["spec"]["ports"]}
    endpoint_fields = {"port", "path", "interval", "scrapeTimeout", "scheme", "honorLabels"}
    for ep in spec.get("endpoints", []) or [{}]:
        if set(ep) - endpoint_fields:
            problems.append(f"unknown endpoint fields {sorted(set(ep) - endpoint_fields)}")
        if ep.get("port") not in port_names:
            problems.append(f"endpoint port {ep.get('port')} is no port of the selected Service")
        if not str(ep.get("path", "/metrics")).startswith("/"):
            problems.append("endpoint path must start with /")
    return problems


def check_rendering(label, objects, k8s_version):
    problems = []
    for obj in objects:
        name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        if obj.get("kind") == "ServiceMonitor":
            problems += [f"{name}: {p}" for p in check_service_monitor(obj, objects)]
            continue
        try:
            kubernetes_validate.validate(obj, k8s_version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = "/".join(str(p) for p in e.path)
            problems.append(f"{name}: {path}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{name}: no schema for {obj.get('apiVersion')} {obj.get('kind')}")
    problems += check_references(objects)
    kinds = ", ".join(sorted(f"{o['kind']}" for o in objects))
    report(not problems, f"kubernetes {label}", "; ".join(problems) or f"{len(objects)} objects valid for {k8s_version} ({kinds})")
    return objects


def check_kubernetes(k8s_version):
    overlays = sorted(p.parent for p in (K8S / "overlays").glob("*/kustomization.yaml"))
    components = sorted(p.parent for p in (K8S / "components").glob("*/kustomization.yaml"))
    configs = []
    for overlay in overlays:
        variants = [((), overlay.name)]
        if components:
            variants.append((tuple(os.path.relpath(c, overlay) for c in components),
                             f"{overlay.name} + {', '.join(c.name for c in components)}"))
        for extra, label in variants:
            try:
                objects = render(overlay, extra_components=extra)
            except (RenderError, OSError, yaml.YAMLError) as e:
                report(False, f"kubernetes {label}", f"render: {e}")
                continue
            check_rendering(label, objects, k8s_version)
            compare_with_kubectl(overlay, extra, label, objects)
            for o in objects:
                if o["kind"] == "ConfigMap" and "config.toml" in o.get("data", {}):
                    configs.append((f"ConfigMap {o['metadata']['name']} ({label})", o["data"]["config.toml"]))
    return configs


def compare_with_kubectl(overlay, extra, label, objects):
    if not shutil.which("kubectl"):
        return
    tmp = None
    try:
        directory = overlay
        if extra:
            tmp = Path(tempfile.mkdtemp(prefix=".render-", dir=K8S))
            (tmp / "kustomization.yaml").write_text(yaml.safe_dump({
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(overlay, tmp)],
                "components": [os.path.relpath(overlay / c, tmp) for c in extra],
            }))
            directory = tmp
        theirs = keyed(kubectl_render(directory))
        ours = keyed(copy.deepcopy(objects))
        same = theirs == ours
        detail = "same objects" if same else f"differ: only kubectl {sorted(set(theirs) - set(ours))}, only ours {sorted(set(ours) - set(theirs))}, changed {[k for k in set(theirs) & set(ours) if theirs[k] != ours[k]]}"
        report(same, f"kubernetes {label} vs kubectl kustomize", detail)
    except RenderError as e:
        report(False, f"kubernetes {label} vs kubectl kustomize", str(e))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- compose

COMPOSE_TOP = {"name", "services", "volumes", "networks", "secrets", "configs"}
COMPOSE_SERVICE = {
    "build", "image", "command", "entrypoint", "environment", "env_file", "ports", "expose",
    "volumes", "healthcheck", "restart", "depends_on", "read_only", "security_opt",
    "cap_drop", "cap_add", "user", "tmpfs", "labels", "networks", "stop_grace_period",
    "deploy", "logging", "container_name", "profiles", "secrets",
}
COMPOSE_HEALTHCHECK = {"test", "interval", "timeout", "retries", "start_period", "start_interval", "disable"}


def check_compose():
    path = ROOT / "compose.yaml"
    problems = []
    configs = []
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        report(False, "compose.yaml", str(e))
        return configs
    problems += [f"unknown top-level key {k}" for k in set(doc) - COMPOSE_TOP]
    declared = set((doc.get("volumes") or {}).keys())
    for name, svc in (doc.get("services") or {}).items():
        problems += [f"{name}: unknown key {k}" for k in set(svc) - COMPOSE_SERVICE]
        problems += [f"{name}: healthcheck: unknown key {k}" for k in set(svc.get("healthcheck", {})) - COMPOSE_HEALTHCHECK]
        for v in svc.get("volumes", []):
            source = v.split(":")[0] if isinstance(v, str) else v.get("source", "")
            if source.startswith((".", "/")):
                if not (ROOT / source).exists():
                    problems.append(f"{name}: bind mount {source} does not exist")
                elif source.endswith(".toml"):
                    configs.append((f"compose {source}", (ROOT / source).read_text()))
            elif source not in declared:
                problems.append(f"{name}: volume {source} is not declared")
        build = svc.get("build")
        if build:
            context = build if isinstance(build, str) else build.get("context", ".")
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            if not (ROOT / context / dockerfile).is_file():
                problems.append(f"{name}: {context}/{dockerfile} does not exist")
    services = doc.get("services") or {}
    if not services:
        problems.append("no services")
    report(not problems, "compose.yaml", "; ".join(problems) or f"services: {', '.join(services)}")
    check_compose_postgres(doc, path.read_text())
    return configs


def service_env(svc):
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: str(v) for k, v in env.items()}


def check_compose_postgres(doc, text):
    """`docker compose --profile postgres up`: one PostgreSQL, at least two replicas on it,
    each reaching the others at its own advertise URL, the password a compose secret file."""
    problems = []
    services = doc.get("services") or {}
    secrets = set((doc.get("secrets") or {}).keys())
    profile = {n: s for n, s in services.items() if "postgres" in (s.get("profiles") or [])}
    dbs = [n for n, s in profile.items() if str(s.get("image", "")).split(":")[0] == "postgres"]
    replicas = {n: s for n, s in profile.items() if "MQ_LEASE_POSTGRES_URL" in service_env(s)}
    if len(dbs) != 1:
        problems.append(f"the postgres profile has {len(dbs)} PostgreSQL services, not one")
    if len(replicas) < 2:
        problems.append(f"the postgres profile has {len(replicas)} replicas, not two or more")
    if re.search(r"still to come|lands with its own issue", text):
        problems.append("a comment still says PostgreSQL mode is to come")

    def secret_file(svc_name, svc, path):
        name = path.removeprefix("/run/secrets/")
        if not path.startswith("/run/secrets/") or name not in secrets:
            problems.append(f"{svc_name}: {path} is not a declared compose secret")
        elif name not in (svc.get("secrets") or []):
            problems.append(f"{svc_name}: secret {name} is not given to the service")

    for name in dbs:
        db = services[name]
        env = service_env(db)
        if "POSTGRES_PASSWORD" in env:
            problems.append(f"{name}: POSTGRES_PASSWORD in the environment; use POSTGRES_PASSWORD_FILE")
        if "POSTGRES_PASSWORD_FILE" not in env:
            problems.append(f"{name}: no POSTGRES_PASSWORD_FILE")
        else:
            secret_file(name, db, env["POSTGRES_PASSWORD_FILE"])
    advertised = {}
    for name, svc in replicas.items():
        env = service_env(svc)
        url = env["MQ_LEASE_POSTGRES_URL"]
        if password_in_url(url):
            problems.append(f"{name}: the PostgreSQL URL carries a password")
        if urlparse(url).hostname not in dbs:
            problems.append(f"{name}: the PostgreSQL URL names {urlparse(url).hostname}, not the PostgreSQL service")
        if "MQ_LEASE_POSTGRES_PASSWORD_FILE" not in env:
            problems.append(f"{name}: no MQ_LEASE_POSTGRES_PASSWORD_FILE")
        else:
            secret_file(name, svc, env["MQ_LEASE_POSTGRES_PASSWORD_FILE"])
        depends = svc.get("depends_on") or []
        if not set(dbs) <= set(depends):
            problems.append(f"{name}: does not depend on {dbs}")
        advertise = urlparse(env.get("MQ_LEASE_ADVERTISE_URL", ""))
        if advertise.hostname != name:
            problems.append(f"{name}: MQ_LEASE_ADVERTISE_URL does not name the service itself")
        advertised[name] = advertise.geturl()
    ports = [p for svc in services.values() for p in (svc.get("ports") or [])]
    host_ports = [str(p).split(":")[0] for p in ports]
    if len(host_ports) != len(set(host_ports)):
        problems.append(f"two services publish the same host port: {host_ports}")
    report(not problems, "compose.yaml profile postgres",
           "; ".join(problems) or f"{', '.join(dbs)} and replicas {', '.join(f'{n} ({u})' for n, u in advertised.items())}")


# ---------------------------------------------------------------- metrics in alerts and dashboard


def metric_names(text):
    return set(re.findall(r"\bmq_lease_[a-z0-9_]+\b", text))


def check_metric_names():
    alerts = ROOT / "config" / "alerts.yaml"
    tests = ROOT / "config" / "alerts.test.yaml"
    dashboard = ROOT / "config" / "grafana-dashboard.json"
    try:
        rules = yaml.safe_load(alerts.read_text())
        exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
        used = metric_names("\n".join(exprs))
        unknown = used - METRICS
        report(not unknown, "config/alerts.yaml metric names",
               f"unknown {sorted(unknown)}" if unknown else f"{len(exprs)} rules use {len(used)} known metrics")
    except (OSError, yaml.YAMLError, KeyError, TypeError) as e:
        report(False, "config/alerts.yaml metric names", str(e))
    try:
        used = metric_names(tests.read_text())
        unknown = used - METRICS
        report(not unknown, "config/alerts.test.yaml metric names", f"unknown {sorted(unknown)}" if unknown else f"{len(used)} known metrics")
    except OSError as e:
        report(False, "config/alerts.test.yaml", str(e))
    try:
        board = json.loads(dashboard.read_text())
        exprs = []

        def walk(node):
            if isinstance(node, dict):
                for key, value in node.items():
                    if key in ("expr", "query", "definition") and isinstance(value, str):
                        exprs.append(value)
                    walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk(board)
        used = metric_names("\n".join(exprs))
        unknown = used - METRICS
        problems = []
        if unknown:
            problems.append(f"unknown {sorted(unknown)}")
        if not board.get("panels"):
            problems.append("no panels")
        report(not problems, "config/grafana-dashboard.json",
               "; ".join(problems) or f"{len(board['panels'])} panels, {len(exprs)} queries use {len(used)} known metrics")
    except (OSError, json.JSONDecodeError) as e:
        report(False, "config/grafana-dashboard.json", str(e))


# ---------------------------------------------------------------- config.toml with the real binary


def check_configs(configs):
    binary = os.environ.get("MQ_LEASE_BIN")
    seen = set()
    for label, text in configs:
        if text in seen:  # the same ConfigMap in several renderings
            continue
        seen.add(text)
        try:
            tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            report(False, f"{label} config.toml", str(e))
            continue
        if not binary:
            report(True, f"{label} config.toml", "TOML parses (set MQ_LEASE_BIN to load it with the service)")
            continue
        with tempfile.NamedTemporaryFile("w", suffix=".toml") as f:
            f.write(text)
            f.flush()
            # The healthcheck loads the whole config first (exit 2 on any config error),
            # then probes a port nobody serves (exit 1).
            env = {k: v for k, v in os.environ.items() if not k.startswith("MQ_LEASE_")}
            env.update({var: "x" for var in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text)})
            out = subprocess.run([binary, "--config", f.name, "--port", "1", "healthcheck"],
                                 capture_output=True, text=True, env=env, timeout=30)
        ok = out.returncode == 1 and "configuration error" not in out.stderr
        report(ok, f"{label} config.toml", "loaded by the service" if ok else out.stderr.strip())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--k8s-version", default="1.30")
    args = parser.parse_args()
    configs = check_kubernetes(args.k8s_version)
    configs += check_compose()
    check_configs(configs)
    check_metric_names()
    if failures:
        print(f"check-deploy: {len(failures)} failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
