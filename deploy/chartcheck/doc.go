// Package chartcheck checks herald's deployment files without a cluster or
// the helm binary: it renders the Helm chart in deploy/helm/herald with
// Helm's own Go packages, reads the raw manifests in deploy/kubernetes, and
// decodes every object strictly into the Kubernetes API types, so a
// misspelt field fails as it would on kubectl apply. Then it checks what
// only herald knows: the config in each ConfigMap loads with herald's own
// config package, the probes hit /healthz and /readyz on herald's port, the
// secrets come from Secrets and never sit in a ConfigMap. It also checks the
// Grafana dashboard in deploy/grafana against herald's metric names, and the
// Dockerfile's HEALTHCHECK.
//
// It is a module of its own, so herald's go.mod stays free of Helm and the
// Kubernetes libraries. Run it with scripts/check-deploy.sh.
package chartcheck
