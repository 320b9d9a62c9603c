#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this script).
# On a fresh machine it installs what it needs first: the npm packages and
# Debian's Chromium used by conformance/ (conformance/install.sh), and a
# throwaway PostgreSQL (scripts/pg.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

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

echo "== go benchmarks, once each, so they cannot rot (scripts/bench.sh smoke)"
scripts/bench.sh smoke
if [ -n "$pg_started" ]; then scripts/pg.sh stop; fi

echo "== fuzzing: every Fuzz target for a bounded time (scripts/fuzz.sh)"
scripts/fuzz.sh "${HERALD_FUZZ_SECONDS:-20}"

echo "== deployment files: Helm chart, Kubernetes manifests, Grafana dashboard (deploy/chartcheck)"
scripts/check-deploy.sh

echo "== golden payloads through the platforms' own code (conformance/)"
scripts/conformance.sh --strict
echo "== all tests passed"
