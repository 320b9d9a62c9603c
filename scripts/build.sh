#!/usr/bin/env bash
# Builds the static herald binary: the one build step the Dockerfile runs,
# and CI runs too (scripts/check-image.sh) so it cannot rot.
#   scripts/build.sh [OUT]     default OUT: bin/herald
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-bin/herald}"
version="${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${version}" -o "$out" ./cmd/herald
echo "built $out ($version)"
