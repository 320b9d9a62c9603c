package chartcheck

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

const chartDir = "../helm/herald"

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	if err := ch.Validate(); err != nil {
		t.Fatalf("chart metadata: %v", err)
	}
	return ch
}

// render renders the chart as `helm template herald deploy/helm/herald -f
// values` would: the values are merged over values.yaml and checked against
// values.schema.json first. It returns the manifests (NOTES.txt apart) and
// NOTES.txt.
func render(t *testing.T, values string) (set, string, error) {
	t.Helper()
	ch := loadChart(t)
	vals := map[string]any{}
	if err := yaml.Unmarshal([]byte(values), &vals); err != nil {
		t.Fatalf("values: %v", err)
	}
	opts := chartutil.ReleaseOptions{Name: "herald", Namespace: "ci", Revision: 1, IsInstall: true}
	top, err := chartutil.ToRenderValues(ch, vals, opts, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, "", err
	}
	out, err := engine.Render(ch, top)
	if err != nil {
		return nil, "", err
	}
	var s set
	var notes string
	for _, name := range slices.Sorted(maps.Keys(out)) {
		text := out[name]
		if strings.Contains(text, "<no value>") {
			t.Errorf("%s renders <no value>: a values key is misspelt or missing\n%s", name, text)
		}
		if strings.HasSuffix(name, "NOTES.txt") {
			notes = text
			continue
		}
		if strings.HasSuffix(name, ".tpl") {
			continue
		}
		s = append(s, decode(t, name, []byte(text))...)
	}
	return s, notes, nil
}

func mustRender(t *testing.T, values string) (set, string) {
	t.Helper()
	s, notes, err := render(t, values)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return s, notes
}

// secretValues are what the cases put in secrets.values: long and unusual
// enough that finding one in a ConfigMap can only mean a leak.
const secretValues = `
secrets:
  values:
    slack-webhook-url: https://hooks.slack.com/services/T0CHART01/B0CHART01/s3cr3tSlackPath
    teamcity-password: tc-pass-7d1f0c9a2b
`

// TestChartDefaults is case (a): the defaults, one replica on SQLite, with
// only the secrets the default config names.
func TestChartDefaults(t *testing.T) {
	s, notes := mustRender(t, secretValues)
	cfgs := checkSet(t, s, nil)
	want := []string{"ConfigMap/herald", "Deployment/herald", "PersistentVolumeClaim/herald", "Secret/herald", "Service/herald"}
	if got := names(s); !slices.Equal(got, want) {
		t.Errorf("objects %v, want %v", got, want)
	}
	cfg := cfgs["herald"]
	if cfg == nil {
		t.Fatal("no config loaded")
	}
	if cfg.Store.Driver != "sqlite" || cfg.Store.DSN.Value() != "/data/herald.db" {
		t.Errorf("store %s %s, want sqlite /data/herald.db", cfg.Store.Driver, cfg.Store.DSN.Value())
	}
	if got := cfg.EnabledSources(); !slices.Equal(got, []string{"teamcity"}) {
		t.Errorf("sources served %v, want [teamcity]", got)
	}
	if !cfg.Sources["teamcity"].Authenticated() {
		t.Error("teamcity is served without authentication")
	}
	dep := deployment(t, s, "herald")
	if *dep.Spec.Replicas != 1 || dep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("replicas %d strategy %s, want 1 Recreate", *dep.Spec.Replicas, dep.Spec.Strategy.Type)
	}
	if c := dep.Spec.Template.Spec.Containers[0]; c.Image != "herald-ci/herald:0.1.0" {
		t.Errorf("image %s, want the chart's appVersion", c.Image)
	}
	for _, want := range []string{"http://herald.ci.svc:8080/v1/events/<source>", "Sources served: teamcity.", "teamcity.internal.webhooks.url     http://herald.ci.svc:8080/v1/events/teamcity"} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES.txt lacks %q:\n%s", want, notes)
		}
	}
}

// TestChartPostgres is case (b): three replicas sharing PostgreSQL, the DSN
// from a Secret the chart creates, with a template override, every source,
// and the ServiceMonitor.
func TestChartPostgres(t *testing.T) {
	s, _ := mustRender(t, secretValues+`
    appcenter-token: ac-token-0123456789abcdef
    teams-webhook-url: https://prod-00.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?sig=s3cr3tTeamsSig
replicaCount: 3
postgresql:
  enabled: true
  dsn: postgres://herald:pg-pass-9f8e7d@db.ci.svc:5432/herald?sslmode=require
serviceMonitor:
  enabled: true
  labels: {release: prometheus}
templates:
  console.tmpl: |
    {{ define "console.build.text" }}[{{ .Name }}] {{ .Project }} #{{ .Number }}{{ end }}
config:
  sources:
    teamcity:
      basic_auth: {username: teamcity, password_file: /etc/herald/secrets/teamcity-password}
    appcenter:
      url_token_file: /etc/herald/secrets/appcenter-token
  destinations:
    - {name: builds, type: slack, url_file: /etc/herald/secrets/slack-webhook-url}
    - {name: mobile, type: teams, url_file: /etc/herald/secrets/teams-webhook-url, events: [crash, release]}
    - {name: log, type: console}
`)
	cfgs := checkSet(t, s, nil)
	want := []string{"ConfigMap/herald", "ConfigMap/herald-templates", "Deployment/herald", "Secret/herald", "Secret/herald-postgresql", "Service/herald", "ServiceMonitor/herald"}
	if got := names(s); !slices.Equal(got, want) {
		t.Errorf("objects %v, want %v", got, want)
	}
	cfg := cfgs["herald"]
	if cfg == nil {
		t.Fatal("no config loaded")
	}
	if cfg.Store.Driver != "postgres" || cfg.Store.DSN.Value() != "postgres://herald:pg-pass-9f8e7d@db.ci.svc:5432/herald?sslmode=require" {
		t.Errorf("store %s, want postgres with the DSN from the Secret", cfg.Store.Driver)
	}
	if cfg.TemplatesDir == "" || len(cfg.Destinations) != 3 {
		t.Errorf("templates_dir %q, %d destinations", cfg.TemplatesDir, len(cfg.Destinations))
	}
	dep := deployment(t, s, "herald")
	if *dep.Spec.Replicas != 3 || dep.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
		t.Errorf("replicas %d strategy %s, want 3 RollingUpdate", *dep.Spec.Replicas, dep.Spec.Strategy.Type)
	}
	c := dep.Spec.Template.Spec.Containers[0]
	if len(c.Env) != 1 || c.Env[0].Name != "HERALD_STORE_DSN" || c.Env[0].ValueFrom.SecretKeyRef.Name != "herald-postgresql" {
		t.Errorf("env %+v, want HERALD_STORE_DSN from Secret herald-postgresql", c.Env)
	}
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			t.Errorf("volume %s: a PVC on PostgreSQL", v.Name)
		}
	}
	sm, _ := s.find("ServiceMonitor", "herald")
	if sm.labels["release"] != "prometheus" {
		t.Errorf("ServiceMonitor labels %v lack serviceMonitor.labels", sm.labels)
	}
}

// TestChartExistingSecrets: the user's own Secrets for files and DSN; the
// chart creates none and mounts them by name.
func TestChartExistingSecrets(t *testing.T) {
	s, _ := mustRender(t, `
secrets: {existingSecret: my-herald}
postgresql: {enabled: true, existingSecret: my-db, existingSecretKey: url}
replicaCount: 2
`)
	if got := s.ofKind("Secret"); len(got) != 0 {
		t.Errorf("the chart made Secrets %v", got)
	}
	// The files the config names are not here to read: check the objects,
	// and that the mounts and env name the user's Secrets.
	checkServices(t, s)
	dep := deployment(t, s, "herald")
	pod := dep.Spec.Template.Spec
	if !slices.ContainsFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Secret != nil && v.Secret.SecretName == "my-herald" }) {
		t.Errorf("no volume of Secret my-herald: %+v", pod.Volumes)
	}
	e := pod.Containers[0].Env[0]
	if e.ValueFrom.SecretKeyRef.Name != "my-db" || e.ValueFrom.SecretKeyRef.Key != "url" {
		t.Errorf("DSN from %+v, want my-db key url", e.ValueFrom.SecretKeyRef)
	}
	// With the user's Secret supplied (here: made up), everything loads.
	s = append(s, object{source: "test", apiVersion: "v1", kind: "Secret", name: "my-herald", value: &corev1.Secret{StringData: map[string]string{
		"slack-webhook-url": "https://hooks.slack.com/services/T0/B0/xyzxyzxyz", "teamcity-password": "pw-from-my-secret"}}})
	s = append(s, object{source: "test", apiVersion: "v1", kind: "Secret", name: "my-db", value: &corev1.Secret{StringData: map[string]string{
		"url": "postgres://u:p@db:5432/h"}}})
	checkSet(t, s, nil)
}

// TestChartRefuses is case (c) and its kin: values that would give a
// herald that cannot start, or loses messages, fail to render with the
// chart's own message.
func TestChartRefuses(t *testing.T) {
	tests := []struct {
		name, values, want string
	}{
		{"three replicas on SQLite", secretValues + "replicaCount: 3\n",
			"herald: replicaCount is 3, but SQLite serves one process only (herald locks its file): set postgresql.enabled=true"},
		{"two replicas, persistence off", secretValues + "replicaCount: 2\npersistence: {enabled: false}\n",
			"herald: replicaCount is 2, but SQLite serves one process only"},
		{"postgresql without a DSN", secretValues + "postgresql: {enabled: true}\n",
			"herald: postgresql.enabled needs postgresql.dsn or postgresql.existingSecret"},
		{"secrets missing", "",
			"herald: config reads slack-webhook-url, teamcity-password from /etc/herald/secrets, but secrets.values has no such key"},
		{"one secret missing", "secrets: {values: {teamcity-password: x}}\n",
			"herald: config reads slack-webhook-url from /etc/herald/secrets"},
		{"listen in config", secretValues + "config: {listen: 0.0.0.0:9090}\n",
			"herald: config.listen is set by the chart"},
		{"store in config", secretValues + "config: {store: {driver: sqlite}}\n",
			"herald: config.store is set by the chart"},
		// values.schema.json
		{"replicas as text", secretValues + "replicaCount: three\n", "replicaCount"},
		{"unknown top-level key", secretValues + "replicas: 3\n", "replicas"},
		{"no destinations", secretValues + "config: {destinations: []}\n", "destinations"},
		{"destination type", secretValues + "config: {destinations: [{name: x, type: discord}]}\n", "type"},
		{"numeric secret", "secrets: {values: {teamcity-password: 12345678, slack-webhook-url: x}}\n", "teamcity-password"},
		{"unknown source", secretValues + "config: {sources: {jenkins: {}}}\n", "jenkins"},
		{"probe handler", secretValues + "probes: {liveness: {httpGet: {path: /}}}\n", "httpGet"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := render(t, tc.values)
			if err == nil {
				t.Fatalf("rendered; want an error holding %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\ndoes not hold %q", err, tc.want)
			}
		})
	}
}

func names(s set) []string {
	var out []string
	for _, o := range s {
		out = append(out, o.kind+"/"+o.name)
	}
	slices.Sort(out)
	return out
}

func deployment(t *testing.T, s set, name string) *appsv1.Deployment {
	t.Helper()
	o, ok := s.find("Deployment", name)
	if !ok {
		t.Fatalf("no Deployment %s", name)
	}
	return o.value.(*appsv1.Deployment)
}
