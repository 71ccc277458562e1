#!/bin/sh
# tests/sdk/install.sh - installs the pinned JavaScript test dependencies (the
# unmodified Centrifugo SDK `centrifuge`, `ws`, and `playwright-core`, which drives
# Debian's /usr/bin/chromium and never downloads a browser; versions in package.json
# and package-lock.json) into tests/sdk/node_modules (git-ignored). Called by
# scripts/install-deps.sh --test; safe to run again: it does nothing when
# node_modules already matches the lock file. Needs node >= 20 and npm (installed by
# scripts/install-deps.sh --test as the Debian packages nodejs/npm when missing).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "tests/sdk/install.sh: node and npm are needed (scripts/install-deps.sh --test installs them)" >&2
    exit 1
fi
stamp=node_modules/.pulse-lock
if [ -f "$stamp" ] && cmp -s package-lock.json "$stamp" && [ -f node_modules/centrifuge/package.json ] &&
   [ -f node_modules/playwright-core/package.json ]; then
    exit 0
fi
echo "tests/sdk/install.sh: npm ci (centrifuge, ws, playwright-core) into $here/node_modules" >&2
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
cp package-lock.json "$stamp"
node -e 'const v=JSON.parse(require("fs").readFileSync("node_modules/centrifuge/package.json","utf8")).version; if(!/^5\./.test(v)){console.error("centrifuge "+v+" is not 5.x");process.exit(1)}'
