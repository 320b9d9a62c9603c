#!/usr/bin/env bash
# herald's Go micro-benchmarks: every package with a bench_test.go (decoders,
# router, templates, adapters' Build, the store's Accept).
#
#   scripts/bench.sh [OUT]           run them COUNT times (default 6) into OUT
#                                    (default bench-<git rev>.txt) and summarise
#                                    it with benchstat
#   scripts/bench.sh compare OLD NEW benchstat OLD against NEW
#   scripts/bench.sh smoke           run each once (-benchtime=1x): what CI runs,
#                                    to prove they still run and check their results
#
# Environment: COUNT (6), BENCHTIME (1s), BENCH (regexp, default .), and
# HERALD_TEST_POSTGRES_DSN to include PostgreSQL in BenchmarkAccept.
# benchstat comes from the Go module proxy through `go run` at a pinned
# version (golang.org/x/perf has no tagged releases); nothing is installed.
#
# Typical use: scripts/bench.sh before.txt on main, again as after.txt on
# your branch, then scripts/bench.sh compare before.txt after.txt. Timings
# are only comparable on the same, otherwise idle, machine; allocations
# (allocs/op, B/op) are exact anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

benchstat=golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

# Packages with a bench_test.go, as ./path.
mapfile -t pkgs < <(find . -name bench_test.go -not -path './node_modules/*' -not -path './.git/*' -printf '%h\n' | sort -u)
if [ "${#pkgs[@]}" -eq 0 ]; then
  echo "bench.sh: no bench_test.go found" >&2
  exit 1
fi

case "${1:-}" in
smoke)
  exec go test -run '^$' -bench "${BENCH:-.}" -benchtime=1x -benchmem "${pkgs[@]}"
  ;;
compare)
  [ $# -eq 3 ] || { echo "usage: $0 compare OLD NEW" >&2; exit 2; }
  exec go run "$benchstat" "$2" "$3"
  ;;
-h | --help)
  sed -n '2,20p' "$0"
  exit 0
  ;;
esac

out="${1:-bench-$(git rev-parse --short HEAD 2>/dev/null || echo local).txt}"
echo "bench.sh: ${#pkgs[@]} packages, count ${COUNT:-6}, benchtime ${BENCHTIME:-1s} -> $out" >&2
go test -run '^$' -bench "${BENCH:-.}" -benchmem -count "${COUNT:-6}" -benchtime "${BENCHTIME:-1s}" "${pkgs[@]}" | tee "$out"
go run "$benchstat" "$out"
