#!/usr/bin/env bash
# Every golden payload through Slack's and Microsoft's own code: the Slack
# goldens type-checked against @slack/types and held to Block Kit's limits,
# the Teams goldens (Workflows bodies, MessageCards, bare Adaptive Cards)
# parsed, validated and rendered by the adaptivecards SDK in headless
# Chromium. Installs what it needs first (conformance/install.sh), then runs
# the suite's self-test, which proves each check can fail.
#   scripts/conformance.sh [--png DIR] [--strict] [--no-selftest]
#     --png DIR      save a picture of every rendered Adaptive Card under DIR
#     --strict       warnings fail too (CI runs it so)
#     --no-selftest  skip the self-test
# Exit: 0 all passed, 1 a payload (or the self-test) failed, 2 harness error.
set -euo pipefail
cd "$(dirname "$0")/.."

check_args=()
selftest=1
while [ $# -gt 0 ]; do
  case "$1" in
    --png)
      [ $# -ge 2 ] || { echo "conformance.sh: --png needs a folder" >&2; exit 2; }
      check_args+=(--png "$2"); shift 2 ;;
    --strict) check_args+=(--strict); shift ;;
    --no-selftest) selftest=0; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "conformance.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

conformance/install.sh

if [ "$selftest" = 1 ]; then
  log="$(mktemp)"
  trap 'rm -f "$log"' EXIT
  if node conformance/selftest.mjs >"$log" 2>&1; then
    echo "selftest: $(tail -n1 "$log")"
  else
    cat "$log"
    echo "conformance.sh: the self-test failed, so the suite cannot be trusted" >&2
    exit 1
  fi
fi

mapfile -t slack < <(find adapters/slack/testdata -name '*.golden.json' | sort)
mapfile -t teams < <(find adapters/teams/testdata -name '*.golden.json' | sort)
if [ "${#slack[@]}" -eq 0 ] || [ "${#teams[@]}" -eq 0 ]; then
  echo "conformance.sh: no golden files found (${#slack[@]} Slack, ${#teams[@]} Teams)" >&2
  exit 2
fi
exec node conformance/check.mjs "${check_args[@]}" --slack "${slack[@]}" --teams "${teams[@]}"
