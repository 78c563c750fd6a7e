#!/usr/bin/env bash
# The GitHub Action (action/): install its locked dependencies, type-check it, build the
# bundle, fail if the fresh bundle differs from the committed action/dist/ (GitHub runs
# the committed files as they are), and run its unit tests with `node --test`.
# Run from anywhere: `bash .ci/action.sh`. Needs node and npm (Node 20 or later).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/action"

echo "action: node $(node --version), npm $(npm --version)"
npm ci --no-audit --no-fund
npx --no-install tsc -p tsconfig.json
node build.mjs
if ! git -C "$root" diff --exit-code --stat -- action/dist ||
  [ -n "$(git -C "$root" status --porcelain -- action/dist)" ]; then
  echo "action: the committed action/dist/ is not what action/src/ builds to: run 'bash .ci/action.sh' and commit action/dist/" >&2
  git -C "$root" status --short -- action/dist >&2
  exit 1
fi
echo "action: action/dist/ matches a fresh build of action/src/"
node build.mjs --tests
node --test build/test/
