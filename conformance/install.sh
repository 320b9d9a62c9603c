#!/usr/bin/env bash
# Install what the conformance suite needs, and nothing when it is there:
#  - the npm packages exactly as package-lock.json pins them (npm ci), when
#    node_modules was not installed from this very lock file;
#  - Debian's chromium, when /usr/bin/chromium (or $HERALD_CHROMIUM) is
#    missing. playwright-core drives it; no browser is ever downloaded.
#   conformance/install.sh [--force]   (--force: run npm ci again anyway)
set -euo pipefail
cd "$(dirname "$0")"

for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "install.sh: $tool is required (Node.js 20 or later)" >&2; exit 2; }
done
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "install.sh: Node.js 20 or later is required, found $(node --version)" >&2
  exit 2
fi

# The stamp records the lock file node_modules was installed from.
stamp=node_modules/.herald-conformance-lock
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ "${1:-}" = "--force" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] ||
   [ ! -f node_modules/typescript/bin/tsc ] || [ ! -f node_modules/adaptivecards/dist/adaptivecards.min.js ]; then
  echo "install.sh: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

chromium="${HERALD_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  echo "install.sh: apt-get install chromium"
  sudo=
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "install.sh: root or sudo is needed to install chromium" >&2; exit 2; }
    sudo=sudo
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
  [ -x "$chromium" ] || { echo "install.sh: chromium is still missing at $chromium" >&2; exit 2; }
fi
echo "install.sh: ready ($(node --version), $("$chromium" --version 2>/dev/null | head -n1))"
