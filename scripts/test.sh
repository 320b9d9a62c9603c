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

echo "== PostgreSQL for the store's tests"
pg_started=
if [ -z "${HERALD_TEST_POSTGRES_DSN:-}" ]; then
  scripts/pg.sh status >/dev/null 2>&1 || pg_started=1
  eval "$(scripts/pg.sh)"
  # Stopped below once the tests are done; this trap covers a failure first.
  if [ -n "$pg_started" ]; then trap 'scripts/pg.sh stop' EXIT; fi
fi

echo "== go test -race"
go test -race -count=1 ./...
if [ -n "$pg_started" ]; then scripts/pg.sh stop; fi

echo "== golden payloads through the platforms' own clients (chatcheck)"
"$chatcheck/install.sh" >/dev/null
mapfile -t slack < <(find adapters/slack/testdata -name '*.golden.json' | sort)
mapfile -t teams < <(find adapters/teams/testdata -name '*.golden.json' -not -path '*adaptive-card*' | sort)
# teams-check takes Workflows bodies: wrap the bare adaptive-card goldens
# in the envelope, as a flow would receive them inside Teams.
wrapped="$(mktemp -d)"
trap 'rm -rf "$wrapped"' EXIT
for f in $(find adapters/teams/testdata -path '*adaptive-card*' -name '*.golden.json' | sort); do
  node -e 'const fs=require("fs");const c=JSON.parse(fs.readFileSync(process.argv[1]));
    process.stdout.write(JSON.stringify({type:"message",attachments:[{contentType:"application/vnd.microsoft.card.adaptive",contentUrl:null,content:c}]}))' \
    "$f" > "$wrapped/adaptive-card-$(basename "$f")"
  teams+=("$wrapped/adaptive-card-$(basename "$f")")
done
"$chatcheck/slack-check.sh" --strict "${slack[@]}"
"$chatcheck/teams-check.sh" --strict "${teams[@]}"
echo "== all tests passed"
