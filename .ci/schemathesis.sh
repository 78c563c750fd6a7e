#!/usr/bin/env bash
# Property-based API test: schemathesis generates requests from openapi.json (positive and
# negative data, every operation, every check) and sends them to the real binary with auth
# on (a bearer token). Any server error, schema violation, wrong status or content type
# fails the run.
#
# Usage: bash .ci/schemathesis.sh path/to/mq-lease-service
# Env:   MQ_LEASE_ST_EXAMPLES (fuzzing cases per operation, default 200),
#        MQ_LEASE_ST_SEED (default 20261123), MQ_LEASE_ST_VENV (where schemathesis goes).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bin="${1:?usage: .ci/schemathesis.sh path/to/mq-lease-service}"
examples="${MQ_LEASE_ST_EXAMPLES:-200}"
seed="${MQ_LEASE_ST_SEED:-20261123}"
# Pinned so a new release cannot change the verdict by itself.
ST_VERSION="4.32.5"

# CPython 3.11.7 (this machine's python3) trips "AST constructor recursion depth
# mismatch" inside hypothesis; a newer interpreter (pyenv's, if present) does not.
python=""
pyenv_root="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"
for candidate in "$pyenv_root"/versions/3.13*/bin/python3 "$pyenv_root"/versions/3.12*/bin/python3 \
  python3.13 python3.12 python3; do
  if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
    python="$candidate"
    break
  fi
done
if [ -z "$python" ]; then
  python=python3
  echo "schemathesis: no Python >= 3.12 found; using $(python3 --version 2>&1)"
fi
py_version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

venv="${MQ_LEASE_ST_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/mq-lease-service/schemathesis-$ST_VERSION-py$py_version}"
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$ST_VERSION"; then
  echo "schemathesis: installing schemathesis==$ST_VERSION into $venv (Python $py_version)"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$ST_VERSION"
fi

work="$(mktemp -d)"
pid=""
# shellcheck disable=SC2329 # called by the EXIT trap
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

token="st-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
# Any owner/repo/base_ref is a provider. One run is enough for a grant and a silent holder
# loses the lease after 1 s, so a held `?wait=` call is answered within about a second.
cat >"$work/config.toml" <<EOF
[server]
port = 0
bind = "127.0.0.1"
data_dir = "$work/data"
auto_register = true
max_providers = 100000

[defaults]
stabilisation_window = "0s"
ttl = "30s"
expected_build_count = 1
delay_assignment_count = 0
lease_timeout = "1s"

[auth]
bearer_tokens = ["$token"]
EOF

# A free port: bind to 0 and read it back from the log line.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
RUST_LOG=warn "$bin" --config "$work/config.toml" --port "$port" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "schemathesis: the server did not start:"; cat "$work/server.log"; exit 1
  fi
  sleep 0.1
done

# The served document must be the checked-in one (tests/openapi.rs checks the code side).
curl -fsS "http://127.0.0.1:$port/openapi.json" -o "$work/served.json"
if ! cmp -s "$work/served.json" openapi.json; then
  echo "schemathesis: GET /openapi.json differs from openapi.json; regenerate it:"
  echo "  cargo run --quiet -- openapi > openapi.json"
  exit 1
fi

start=$(date +%s)
status=0
# From the temp dir: schemathesis keeps a crash cache in its working directory, and a
# cache replayed into the next run would make runs depend on each other.
(cd "$work" && SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$root/.ci" \
  "$venv/bin/schemathesis" --config-file "$root/.ci/schemathesis.toml" run "$root/openapi.json" \
  --url "http://127.0.0.1:$port" \
  --header "Authorization: Bearer $token" \
  --mode all \
  --max-examples "$examples" \
  --seed "$seed" \
  --request-timeout 15 \
  --workers 2 \
  --no-color \
  --generation-database none) || status=$?
end=$(date +%s)

# A server error is in the run's checks; a panic or a crash would also show here.
if ! kill -0 "$pid" 2>/dev/null; then
  echo "schemathesis: the server exited during the run:"; tail -50 "$work/server.log"; status=1
fi
if grep -q "panicked" "$work/server.log"; then
  echo "schemathesis: the server panicked:"; grep -A5 "panicked" "$work/server.log" | head -40; status=1
fi
echo "schemathesis: exit $status, $((end - start)) s, seed $seed, max-examples $examples"
exit "$status"
