package main

import (
	"bytes"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters"
	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/metrics"
	"github.com/herald-ci/herald/sources"
	"github.com/herald-ci/herald/sources/sourcestest"
)

// TestTemplateFallbackCounted: a user template that fails at render time is
// answered with the built-in default, byte for byte; the log line names the
// template and the error, and herald_template_fallbacks_total counts it
// under the template's name, with the hook serve and reload install.
func TestTemplateFallbackCounted(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "templates/broken.tmpl",
		`{{ define "slack.build.title" }}{{ fail "boom" }}{{ end }}`+
			`{{ define "teams.build.card" }}{{ .Nope }}{{ end }}`)
	destinations := `destinations:
  - {name: builds, type: slack, url: "https://hooks.slack.com/services/T0/B0/x"}
  - {name: team, type: teams, format: workflows, url: "https://example.webhook.office.com/webhookb2/x"}
`
	load := func(yaml string) *config.Config {
		c, err := config.Load(writeFile(t, t.TempDir(), "herald.yaml", yaml))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	var logs bytes.Buffer
	set, err := adapters.NewSet(load("templates_dir: "+filepath.Join(dir, "templates")+"\n"+destinations), nil, zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	set.OnFallback(m.TemplateFallback) // as serve and reload do
	defaults, err := adapters.NewSet(load(destinations), nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	dec, _ := sources.Lookup("teamcity")
	ev, err := dec.Decode(sourcestest.Body(t, "teamcity-build-finished-failure"))
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ destination, template, error string }{
		{"builds", "slack.build.message", `error calling fail: boom`},
		{"team", "teams.build.card", `can't evaluate field Nope`},
	} {
		logs.Reset()
		a, _ := set.Get(tc.destination)
		p, err := a.Build(ev)
		if err != nil {
			t.Fatalf("%s: %v", tc.destination, err)
		}
		d, _ := defaults.Get(tc.destination)
		want, err := d.Build(ev)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p.Body, want.Body) {
			t.Errorf("%s: sent\n%s\nwant the default\n%s", tc.destination, p.Body, want.Body)
		}
		line := logs.String()
		if !strings.Contains(line, `"level":"warn"`) || !strings.Contains(line, tc.template) || !strings.Contains(line, tc.error) {
			t.Errorf("%s: log %q does not name the template %s and the error %q", tc.destination, line, tc.template, tc.error)
		}
	}

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	var got []string
	for l := range strings.Lines(string(body)) {
		if strings.HasPrefix(l, "herald_template_fallbacks_total") {
			got = append(got, strings.TrimSpace(l))
		}
	}
	want := []string{
		`herald_template_fallbacks_total{template="slack.build.message"} 1`,
		`herald_template_fallbacks_total{template="teams.build.card"} 1`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("metrics:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
