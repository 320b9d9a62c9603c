package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters"
	"github.com/herald-ci/herald/sources/sourcestest"
	"github.com/herald-ci/herald/templates"
)

func TestRenderAll(t *testing.T) {
	t.Parallel()
	in, out := t.TempDir(), t.TempDir()
	fixtures := sourcestest.Fixtures()
	for _, f := range fixtures {
		if !sourcestest.Rejected[f.Name] {
			writeFile(t, in, f.Name+".json", string(f.Body))
		}
	}
	code, stdout, stderr := runCLI(t, "render", "--all", "--out", out, in)
	if code != exitOK || !strings.Contains(stdout, "rendered into") {
		t.Fatalf("render --all = %d %q %q", code, stdout, stderr)
	}
	// Each file is exactly what the adapter builds for that fixture.
	ts := templates.Defaults()
	for _, c := range sourcestest.Events(t) {
		f, ev := c, c.Event
		for _, name := range renderAdapters {
			a, err := adapters.ForRender(name, ts, zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			want, err := a.Build(ev)
			if err != nil {
				t.Fatal(err)
			}
			ext := ".json"
			if name == "console" {
				ext = ".txt"
			}
			got, err := os.ReadFile(filepath.Join(out, f.Name+"."+name+ext))
			if err != nil || string(got) != string(want.Body) {
				t.Errorf("%s · %s: %v\n got %.200s\nwant %.200s", f.Name, name, err, got, want.Body)
			}
		}
	}

	// To stdout, one adapter; a file of an unknown source is reported and
	// makes the exit code non-zero, the others are still rendered.
	writeFile(t, in, "jenkins-build.json", `{}`)
	code, stdout, stderr = runCLI(t, "render", "--all", "--adapter", "slack", in)
	if code != exitError || !strings.Contains(stderr, `jenkins-build: source "jenkins" unknown`) ||
		!strings.Contains(stdout, "== teamcity-build-finished-failure · slack\n{") {
		t.Errorf("render --all to stdout = %d, stderr %q, stdout %.300q", code, stderr, stdout)
	}
	if code, _, stderr := runCLI(t, "render", "--all", t.TempDir()); code != exitUsage || !strings.Contains(stderr, "no *.json event") {
		t.Errorf("empty dir = %d %q", code, stderr)
	}
}
