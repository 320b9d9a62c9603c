#!/usr/bin/env bash
# There is no Docker engine on the build machines, so CI checks what the
# image would hold instead: the Dockerfile builds with scripts/build.sh, the
# binary that script makes is static (no ELF interpreter, so it runs on
# distroless/static), and the final stage runs as a non-root user.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
scripts/build.sh "$tmp/herald" >/dev/null
if readelf -l "$tmp/herald" | grep -q 'INTERP'; then
  echo "check-image: herald is dynamically linked" >&2; exit 1
fi
"$tmp/herald" version | grep -q '^herald ' || { echo "check-image: herald version failed" >&2; exit 1; }
grep -q 'scripts/build.sh' Dockerfile || { echo "check-image: Dockerfile does not build with scripts/build.sh" >&2; exit 1; }
final="$(awk '/^FROM /{stage=""} {stage=stage"\n"$0} END{print stage}' Dockerfile)"
echo "$final" | grep -q '^FROM .*distroless/static.*:nonroot' || { echo "check-image: final stage is not distroless static nonroot" >&2; exit 1; }
echo "$final" | grep -q '^USER nonroot' || { echo "check-image: final stage does not run as nonroot" >&2; exit 1; }
echo "check-image: ok (static binary, $(du -h "$tmp/herald" | cut -f1))"
