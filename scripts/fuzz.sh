#!/usr/bin/env bash
# Runs every fuzz target of the module, one after another, each for a
# bounded time, and prints a summary (issue 6).
#
#   scripts/fuzz.sh [SECONDS]     SECONDS of fuzzing per target, default 20
#
# Environment:
#   FUZZ_PARALLEL  fuzzing workers per target (go test -parallel), default 2
#   FUZZ_MINIMIZE  go test -fuzzminimizetime, default 2s. Go's default, 60s,
#                  is spent minimising every input that finds new coverage,
#                  during which nothing else is fuzzed: with 20 s per target
#                  most of the budget went there.
#   FUZZ_MATCH     an extended regexp on "<package dir> <FuzzName>" to run
#                  some targets only, e.g. FUZZ_MATCH='^sources/'
#
# Targets are found, not listed: every "func FuzzXxx(f *testing.F)" in a
# _test.go file of a package of this module (go list ./...), so a new
# target runs here without a change to this script.
#
# A target fails when its seed corpus fails (the f.Add seeds and the files
# under <package>/testdata/fuzz/<FuzzName>/, which plain `go test` runs as
# well) or when the fuzzer finds a failing input. go test writes that input
# to <package>/testdata/fuzz/<FuzzName>/<hash> by itself; it is kept there
# and printed in the output, with the command that replays it. Commit it with the
# fix: from then on it is a regression seed of plain `go test`. (In CI,
# keep **/testdata/fuzz/** as an artifact of a failed run.)
#
# Go 1.26 may end a clean run with a bare "context deadline exceeded" and no
# failing input: its fuzz coordinator reporting its own -fuzztime deadline
# (golang/go#75804, fixed in Go 1.27). Such a run counts as passed and is
# marked ok* in the summary; drop that case once go.mod says go 1.27.
#
# Exit status: 0 when every target passed, 1 when any failed, 2 on misuse.
set -uo pipefail
cd "$(dirname "$0")/.."

secs="${1:-20}"
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -eq 0 ] || [ $# -gt 1 ]; then
  echo "usage: $0 [SECONDS]   (fuzzing time per target, default 20)" >&2
  exit 2
fi
parallel="${FUZZ_PARALLEL:-2}"
minimize="${FUZZ_MINIMIZE:-2s}"
match="${FUZZ_MATCH:-}"

# The module's package directories, relative to the root ("." for the root).
root="$(pwd -P)"
if ! dirs="$(go list -e -f '{{.Dir}}' ./... | sed "s#^$root/\{0,1\}##; s#^\$#.#")"; then
  echo "fuzz: go list failed" >&2
  exit 1
fi

targets=()
while IFS=: read -r file decl; do
  dir="$(dirname "${file#./}")"
  grep -qxF "$dir" <<<"$dirs" || continue # testdata, vendor, another module
  name="${decl#func }"
  name="${name%%(*}"
  if [ -n "$match" ] && ! grep -qE -- "$match" <<<"$dir $name"; then
    continue
  fi
  targets+=("$dir $name")
done < <(grep -rEo --include='*_test.go' --exclude-dir='.[!.]*' --exclude-dir=node_modules \
  '^func Fuzz[A-Za-z0-9_]*\([A-Za-z_][A-Za-z0-9_]* \*testing\.F\)' . | sort -u)

if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no fuzz targets found${match:+ matching $match}" >&2
  exit 1
fi

echo "== fuzzing ${#targets[@]} targets, ${secs}s each, ${parallel} workers"
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
summary=()
failed=0
flaked=0
start_all=$SECONDS
for t in "${targets[@]}"; do
  dir="${t% *}"
  name="${t#* }"
  log="$logs/$(tr / _ <<<"$dir")_$name.log"
  echo "-- $dir $name"
  start=$SECONDS
  # -run='^$': no tests; the target's seed corpus still runs first.
  # -timeout: fuzzing, the baseline coverage of the corpus and a crash's
  # minimisation, with room for a slow shared machine.
  go test -run='^$' -fuzz="^${name}\$" -fuzztime="${secs}s" -fuzzminimizetime="$minimize" \
    -parallel="$parallel" -timeout="$((secs * 3 + 300))s" "./$dir" >"$log" 2>&1
  rc=$?
  took=$((SECONDS - start))
  execs="$(grep -oE 'execs: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)"
  if [ $rc -eq 0 ]; then
    summary+=("$(printf 'ok     %-22s %-26s %4ss  %s execs' "$dir" "$name" "$took" "${execs:-?}")")
    continue
  fi

  crash="$(grep -oE 'Failing input written to testdata/fuzz/[^[:space:]]+' "$log" | tail -1 | sed 's/^Failing input written to //')"
  # A seed that fails (a regression file under testdata/fuzz, or an f.Add)
  # stops go test before any fuzzing.
  seed="$(grep -oE -- "(seed corpus entry: |--- FAIL: )${name}/[^[:space:]]+" "$log" | head -1 | sed "s#^.*${name}/##")"
  if [ -z "$crash" ] && [ -z "$seed" ] && grep -qE -- "^--- FAIL: ${name} \(" "$log" &&
    grep -qxE '[[:space:]]+context deadline exceeded' "$log"; then
    # Go's fuzz coordinator may report its own -fuzztime deadline as a
    # failure, with no failing input (golang/go#75804, fixed in Go 1.27):
    # not a finding, so not a failure; said in the summary.
    flaked=$((flaked + 1))
    summary+=("$(printf 'ok*    %-22s %-26s %4ss  %s execs; Go reported its own deadline (golang/go#75804)' "$dir" "$name" "$took" "${execs:-?}")")
    continue
  fi

  failed=$((failed + 1))
  echo "   failed; the end of its output:"
  tail -n 40 "$log" | sed 's/^/   | /'
  if [ -n "$crash" ]; then
    id="${crash##*/}"
    summary+=("$(printf 'CRASH  %-22s %-26s %4ss  new input kept: %s' "$dir" "$name" "$took" "$dir/$crash")")
    summary+=("       reproduce: go test -run='^${name}\$/^${id}\$' ./$dir")
    echo "   the failing input, $dir/$crash (first 2 KB):"
    head -c 2048 "$dir/$crash" | sed 's/^/   | /'
    echo
  elif [ -n "$seed" ]; then
    summary+=("$(printf 'FAIL   %-22s %-26s %4ss  seed %s fails' "$dir" "$name" "$took" "$seed")")
    summary+=("       reproduce: go test -run='^${name}\$/^${seed}\$' ./$dir")
  else
    summary+=("$(printf 'FAIL   %-22s %-26s %4ss  exit %s, see its output above' "$dir" "$name" "$took" "$rc")")
  fi
done

total=$((SECONDS - start_all))
echo
flakes=""
[ $flaked -eq 0 ] || flakes=", $flaked ok*"
echo "== fuzz summary: ${#targets[@]} targets, ${secs}s each, $failed failed$flakes, $((total / 60))m$((total % 60))s in all"
printf '%s\n' "${summary[@]}"
[ $failed -eq 0 ]
