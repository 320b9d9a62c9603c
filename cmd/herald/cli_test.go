package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters"
	"github.com/herald-ci/herald/sources"
	"github.com/herald-ci/herald/sources/sourcestest"
	"github.com/herald-ci/herald/templates"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRender: `herald render` prints exactly what the adapter builds, for
// every adapter name it documents.
func TestRender(t *testing.T) {
	dir := t.TempDir()
	body := sourcestest.Body(t, "teamcity-build-finished-failure")
	in := writeFile(t, dir, "event.json", string(body))
	dec, _ := sources.Lookup("teamcity")
	ev, err := dec.Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"slack", "teams", "teams-messagecard", "teams-adaptive-card", "webhook", "console"} {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "render", "--source", "teamcity", "--adapter", name, in)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			a, err := adapters.ForRender(name, templates.Defaults(), zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			p, err := a.Build(ev)
			if err != nil {
				t.Fatal(err)
			}
			if stdout != string(p.Body)+"\n" {
				t.Errorf("stdout differs from Build:\n%s", stdout)
			}
			if name != "console" && !json.Valid([]byte(stdout)) {
				t.Errorf("not JSON: %s", stdout)
			}
		})
	}
}

func TestRenderBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.json", `{"eventType": "BUILD_FINISHED", "payload": `)
	good := writeFile(t, dir, "good.json", string(sourcestest.Body(t, "teamcity-build-finished")))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"malformed json", []string{"render", "--source", "teamcity", bad}, "bad.json: "},
		{"unknown source", []string{"render", "--source", "jenkins", good}, `--source "jenkins" is not one of [appcenter generic teamcity]`},
		{"unknown adapter", []string{"render", "--source", "teamcity", "--adapter", "discord", good}, `unknown adapter "discord"`},
		{"no file", []string{"render", "--source", "teamcity"}, "give exactly one EVENT.json"},
		{"missing file", []string{"render", "--source", "teamcity", filepath.Join(dir, "nope.json")}, "no such file"},
		{"wrong source for the body", []string{"render", "--source", "appcenter", good}, "good.json: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if stdout != "" {
				t.Errorf("printed a payload for bad input: %s", stdout)
			}
			if !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
				t.Errorf("stderr %q, want one line containing %q", stderr, tc.want)
			}
		})
	}
}

// TestBrokenTemplate: a template that does not parse stops validate and
// serve with its file and line, before anything listens.
func TestBrokenTemplate(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "templates/slack.tmpl", "{{ define \"slack.build.message\" }}\n{{ .Project \n{{ end }}\n")
	cfg := writeFile(t, dir, "herald.yaml", "listen: 127.0.0.1:0\nstore: {dsn: herald.db}\ntemplates_dir: templates\ndestinations: [{name: log, type: console}]\n")
	want := regexp.MustCompile(`templates/slack\.tmpl:3: `)
	for _, cmd := range []string{"validate", "serve"} {
		code, _, stderr := runCLI(t, cmd, "--config", cfg)
		if code != exitError || !want.MatchString(stderr) {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 naming the file and line", cmd, code, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "herald.db")); err == nil {
		t.Errorf("serve opened the store before checking templates")
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", "destinations: [{name: log, type: console}]\n")
	code, stdout, stderr := runCLI(t, "validate", "--config", good)
	if code != exitOK || !strings.Contains(stdout, "ok (1 destinations)") {
		t.Errorf("good config: exit %d %q %q", code, stdout, stderr)
	}
	// Every problem is listed, not only the first.
	bad := writeFile(t, dir, "bad.yaml", "destinations:\n  - {name: a, type: discord}\n  - {name: b, type: console, events: [build.exploded]}\n")
	code, _, stderr = runCLI(t, "validate", "--config", bad)
	if code != exitError || !strings.Contains(stderr, `type "discord"`) || !strings.Contains(stderr, "build.exploded") {
		t.Errorf("bad config: exit %d, stderr %q", code, stderr)
	}
}

// TestReadmeTemplateSnippet renders the template override the README shows.
func TestReadmeTemplateSnippet(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- snippet: console-build -->\n```gotemplate\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README has no console-build snippet")
	}
	dir := t.TempDir()
	writeFile(t, dir, "templates/console.tmpl", string(m[1]))
	in := writeFile(t, dir, "event.json", string(sourcestest.Body(t, "teamcity-build-finished-failure")))
	code, stdout, stderr := runCLI(t, "render", "--templates-dir", filepath.Join(dir, "templates"), "--source", "teamcity", "--adapter", "console", in)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if want := "[build.failed] Sample Web #3 failed on dev\n"; stdout != want {
		t.Errorf("got %q, want %q", stdout, want)
	}
}

func TestVersionAndUsage(t *testing.T) {
	if code, stdout, _ := runCLI(t, "version"); code != exitOK || !strings.HasPrefix(stdout, "herald ") {
		t.Errorf("version: %d %q", code, stdout)
	}
	if code, _, stderr := runCLI(t, "frobnicate"); code != exitUsage || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %d %q", code, stderr)
	}
	if code, _, _ := runCLI(t); code != exitUsage {
		t.Errorf("no command: %d", code)
	}
}
