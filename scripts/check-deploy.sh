#!/usr/bin/env bash
# Checks the deployment files without a cluster or the helm binary:
# deploy/chartcheck (a Go module of its own, so herald's go.mod stays free of
# Helm and the Kubernetes libraries) renders the Helm chart with Helm's Go
# packages, decodes the chart's output and deploy/kubernetes strictly into
# the Kubernetes API types, loads every herald config they hold with
# herald's own config package, and checks the Grafana dashboard's metric
# names and the Dockerfile's HEALTHCHECK.
#   scripts/check-deploy.sh [go test flags, e.g. -run TestChart -v]
set -euo pipefail
cd "$(dirname "$0")/../deploy/chartcheck"
unformatted="$(gofmt -l .)"
if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted" >&2; exit 1; fi
# go.mod and go.sum must be what go mod tidy makes: herald is required
# through replace => ../.., so a dependency herald adds shows up here too.
go mod tidy -diff || { echo "check-deploy: run (cd deploy/chartcheck && go mod tidy)" >&2; exit 1; }
go vet ./...
go test -count=1 "$@" ./...
