#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this script).
# On a fresh machine it installs what it needs first: the npm packages and
# Debian's Chromium used by ../shared/tools/chatcheck.
set -euo pipefail
cd "$(dirname "$0")/.."
chatcheck="${CHATCHECK_DIR:-../shared/tools/chatcheck}"

echo "== gofmt"
unformatted="$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"
if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted" >&2; exit 1; fi

echo "== go vet"
go vet ./...

echo "== static build and image steps"
scripts/check-image.sh

echo "== go test -race"
go test -race -count=1 ./...

echo "== golden payloads through the platforms' own clients (chatcheck)"
"$chatcheck/install.sh" >/dev/null
mapfile -t slack < <(find adapters/slack/testdata -name '*.golden.json' | sort)
mapfile -t teams < <(find adapters/teams/testdata -name '*.golden.json' -not -path '*adaptive-card*' | sort)
"$chatcheck/slack-check.sh" "${slack[@]}"
"$chatcheck/teams-check.sh" "${teams[@]}"
echo "== all tests passed"
