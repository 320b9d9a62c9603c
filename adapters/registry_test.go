package adapters

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/internal/notify"
)

// TestNewSetTemplateDirs: the global templates_dir applies to every
// destination, a destination's own directory only to it, and it wins.
func TestNewSetTemplateDirs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("global/console.tmpl", `{{ define "console.build.text" }}global {{ .Number }}{{ end }}`)
	write("ops/console.tmpl", `{{ define "console.build.text" }}ops {{ .Number }}{{ end }}`)
	cfg, err := config.Parse([]byte(`
templates_dir: global
destinations:
  - {name: team, type: console}
  - {name: ops, type: console, templates_dir: ops}
`), dir)
	if err != nil {
		t.Fatal(err)
	}
	set, err := NewSet(cfg, notify.Client(0), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ev := &event.Event{Kind: event.KindBuild, Status: event.StatusFailed, Number: "7"}
	for name, want := range map[string]string{"team": "global 7", "ops": "ops 7"} {
		a, ok := set.Get(name)
		if !ok {
			t.Fatalf("no adapter for %s", name)
		}
		p, err := a.Build(ev)
		if err != nil {
			t.Fatal(err)
		}
		if string(p.Body) != want {
			t.Errorf("%s: %q, want %q", name, p.Body, want)
		}
	}
	// Kinds the overrides don't define keep their defaults.
	a, _ := set.Get("ops")
	p, err := a.Build(&event.Event{Kind: event.KindCrash, Status: event.StatusCreated, AppName: "App"})
	if err != nil || !strings.HasPrefix(string(p.Body), "[crash.created]") {
		t.Errorf("crash with overrides for builds only: %q %v", p.Body, err)
	}
}

func TestForRender(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"slack", "teams", "teams-messagecard", "teams-adaptive-card", "webhook", "console"} {
		if _, err := ForRender(name, nil, zerolog.Nop()); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ForRender("discord", nil, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "unknown adapter") {
		t.Errorf("discord: %v", err)
	}
	if _, err := ForRender("teams-carrier-pigeon", nil, zerolog.Nop()); err == nil {
		t.Errorf("teams-carrier-pigeon accepted")
	}
}

// TestOnFallback: a user template that fails at render time is counted,
// and the default is sent.
func TestOnFallback(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "console.tmpl"), []byte(`{{ define "console.build.text" }}{{ fail "boom" }}{{ end }}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte("templates_dir: .\ndestinations: [{name: log, type: console}]\n"), dir)
	if err != nil {
		t.Fatal(err)
	}
	set, err := NewSet(cfg, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	var n int
	set.OnFallback(func(error) { n++ })
	a, _ := set.Get("log")
	p, err := a.Build(&event.Event{Kind: event.KindBuild, Status: event.StatusFailed, Number: "9"})
	if err != nil || !strings.HasPrefix(string(p.Body), "[build.failed] Build #9 failed") {
		t.Fatalf("want the default message, got %q %v", p.Body, err)
	}
	if n != 1 {
		t.Errorf("fallbacks counted %d, want 1", n)
	}
}

// TestNewSetMentions: the config's mentions reach every destination's
// templates, user sets and the defaults they fall back to included: the
// author of a broken build is mentioned on Slack and Teams, and a console
// line is unchanged.
func TestNewSetMentions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A user template that fails for Slack: its fallback, the default,
	// must mention too.
	if err := os.WriteFile(filepath.Join(dir, "broken.tmpl"), []byte(`{{ define "slack.build.message" }}{{ fail "no" }}{{ end }}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(`
egress: {allow_private: true}
mentions:
  - match: [jdoe, jdoe@example.com]
    slack: U012AB3CD
    teams: {id: jdoe@example.com, name: Jane Doe}
destinations:
  - {name: slack, type: slack, url: "https://hooks.slack.com/services/T0/B0/x"}
  - {name: slack-user, type: slack, url: "https://hooks.slack.com/services/T0/B0/y", templates_dir: `+dir+`}
  - {name: teams, type: teams, url: "https://example.webhook.office.com/webhookb2/x", format: workflows}
  - {name: log, type: console}
`), dir)
	if err != nil {
		t.Fatal(err)
	}
	set, err := NewSet(cfg, notify.Client(0), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ev := &event.Event{Kind: event.KindBuild, Status: event.StatusFailed, Number: "7", Project: "web",
		Commit: event.Commit{SHA: "9b1c3e7f2a4d", Author: "JDoe"}, Transition: "broken"}
	for name, want := range map[string]string{
		"slack":      "<@U012AB3CD>",
		"slack-user": "<@U012AB3CD>",
		"teams":      `"mentioned":{"id":"jdoe@example.com","name":"Jane Doe"}`,
	} {
		a, _ := set.Get(name)
		p, err := a.Build(ev)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(p.Body), want) {
			t.Errorf("%s: %s lacks %s", name, p.Body, want)
		}
	}
	a, _ := set.Get("log")
	p, err := a.Build(ev)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(p.Body), "U012AB3CD") || strings.Contains(string(p.Body), "<at>") {
		t.Errorf("console: %s", p.Body)
	}
}
