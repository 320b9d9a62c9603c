#!/usr/bin/env bash
# Redraws the README's pictures under docs/gallery from the golden payloads,
# with ../shared/tools/chatcheck (Slack: an approximation; Teams: Microsoft's
# Adaptive Cards SDK in headless Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
chatcheck="${CHATCHECK_DIR:-../shared/tools/chatcheck}"
"$chatcheck/install.sh" >/dev/null
out=docs/gallery
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out" "$tmp/slack" "$tmp/teams"
for c in teamcity-build-finished-failure appcenter-crash-with-stacktrace appcenter-distribute generic-build-succeeded teamcity-agent-registered generic-test-ping; do
  cp "adapters/slack/testdata/TestBuild/fixture-$c.golden.json" "$tmp/slack/$c.json"
  cp "adapters/teams/testdata/TestBuild/workflows/fixture-$c.golden.json" "$tmp/teams/$c.json"
done
"$chatcheck/slack-check.sh" --png "$tmp/slack/png" "$tmp"/slack/*.json >/dev/null
"$chatcheck/teams-check.sh" --png "$tmp/teams/png" "$tmp"/teams/*.json >/dev/null
for f in "$tmp"/slack/png/*.png; do cp "$f" "$out/slack-$(basename "$f")"; done
for f in "$tmp"/teams/png/*.png; do cp "$f" "$out/teams-$(basename "$f")"; done
ls "$out"
