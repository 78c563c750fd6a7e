#!/usr/bin/env bash
# Check the deployment files: Kubernetes overlays rendered and schema-validated,
# compose.yaml, the config.toml files we ship, the Prometheus alert rules (promtool check
# and unit tests) and the metric names in the alerts and the Grafana dashboard.
# Installs its tools (a venv for the Python ones, apt for promtool) if they are missing.
# MQ_LEASE_BIN=path/to/mq-lease-service also loads every shipped config.toml with the service.
# Exits non-zero on any finding.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# Pinned so a new release cannot break CI by itself. 1.30 is a Kubernetes version
# kubernetes-validate ships schemas for; older clusters may lack fields used here.
PY_TOOLS=("kubernetes-validate==1.37.0" "jsonpatch==1.33" "PyYAML==6.0.3")
K8S_VERSION="${MQ_LEASE_K8S_VERSION:-1.30}"

venv="${MQ_LEASE_DEPLOY_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/mq-lease-service/deploy-venv}"
if ! "$venv/bin/python" -c 'import kubernetes_validate, jsonpatch, yaml' 2>/dev/null; then
  echo "deploy: installing ${PY_TOOLS[*]} into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${PY_TOOLS[@]}"
fi
if ! command -v promtool >/dev/null 2>&1; then
  echo "deploy: installing promtool (Debian package prometheus)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

failed=0
"$venv/bin/python" .ci/check_deploy.py --k8s-version "$K8S_VERSION" || failed=1

echo "deploy: promtool check rules config/alerts.yaml"
promtool check rules config/alerts.yaml || failed=1
echo "deploy: promtool test rules config/alerts.test.yaml"
promtool test rules config/alerts.test.yaml || failed=1

if [ "$failed" -ne 0 ]; then
  echo "deploy: FAILED" >&2
  exit 1
fi
echo "deploy: Kubernetes, compose, alerts and dashboard are valid"
