package console

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters/adapterstest"
	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/sources/sourcestest"
	"github.com/herald-ci/herald/templates"
)

var update = flag.Bool("update", false, "rewrite golden files")

func cases() []struct {
	name string
	ev   *event.Event
} {
	t0 := time.Date(2024, 1, 15, 9, 30, 0, 0, time.UTC)
	return []struct {
		name string
		ev   *event.Event
	}{
		{"build-failed", &event.Event{
			Source: "teamcity", Kind: event.KindBuild, Status: event.StatusFailed,
			Project: "Sample Web", BuildConfig: "Client", Number: "118", Branch: "main",
			StatusText: "Tests failed: 3 (1 new), passed: 409\nsecond line",
			Commit:     event.Commit{SHA: "d1a9f4773431d60bb53d9a9c5476c6813c266775", Author: "jdoe"},
			Tests:      event.Tests{Failed: 3}, Duration: 312 * time.Second,
			URL: "https://ci.example.com/build/1042", StartedAt: t0,
		}},
		{"build-started", &event.Event{Kind: event.KindBuild, Status: event.StatusStarted, Project: "Sample Web", Number: "119"}},
		{"crash", &event.Event{Kind: event.KindCrash, Status: event.StatusCreated, AppName: "SampleApp",
			Crash: event.Crash{Reason: "java.lang.ArithmeticException: divide by zero", Name: "MainActivity.onClick", AppVersion: "1.0 (1)"},
			URL:   "https://appcenter.ms/crash/1"}},
		{"release", &event.Event{Kind: event.KindRelease, Status: event.StatusPublished, AppName: "SampleApp", Platform: "Android",
			Release: event.Release{ShortVersion: "1.7.0", Size: 2634279, Mandatory: true, InstallURL: "https://install.example/123"}}},
		{"agent", &event.Event{Kind: event.KindAgent, Status: event.StatusUnregistered, Agent: event.Agent{Name: "agent-linux-01", Pool: "Linux agents"}}},
		{"test-ping", &event.Event{Kind: event.KindTest, Status: event.StatusPing, AppName: "SampleApp", Text: "Hello from App Center!"}},
		{"empty", &event.Event{Kind: event.KindBuild, Status: event.StatusFailed}},
		{"multiline", &event.Event{Kind: event.KindBuild, Status: event.StatusFailed, Project: "a\nb", StatusText: "x\ny\nz"}},
	}
}

func TestBuild(t *testing.T) {
	t.Parallel()
	a, err := New(config.Destination{Name: "console", Type: config.TypeConsole}, nil, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	all := cases()
	for _, c := range adapterstest.Adversarial() {
		all = append(all, struct {
			name string
			ev   *event.Event
		}{c.Name, c.Event})
	}
	for _, c := range sourcestest.Events(t) {
		all = append(all, struct {
			name string
			ev   *event.Event
		}{"fixture-" + c.Name, c.Event})
	}
	for _, tc := range all {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := a.Build(tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			if p.ContentType != "text/plain" {
				t.Errorf("content type %q", p.ContentType)
			}
			if n := strings.Count(string(p.Body), "\n"); n > 1 {
				t.Errorf("%d lines, want one or two:\n%s", n+1, p.Body)
			}
			// Every piece of event text is cut: a 5 MB commit message or
			// 500 links make a summary of a few hundred characters.
			if len(p.Body) > 2000 {
				t.Errorf("summary is %d bytes", len(p.Body))
			}
			if !strings.HasPrefix(string(p.Body), "["+tc.ev.Name()+"] ") {
				t.Errorf("does not start with the event name: %q", p.Body)
			}
			path := filepath.Join("testdata", "TestBuild", tc.name+".golden.txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, append(p.Body, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if string(p.Body)+"\n" != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", p.Body, want)
			}
		})
	}
}

func TestSend(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	a, err := New(config.Destination{Name: "console", Type: config.TypeConsole}, nil, nil, zerolog.New(&logs).With().Str("destination", "console").Logger())
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Build(cases()[0].ev)
	if err != nil {
		t.Fatal(err)
	}
	retry, err := a.Send(context.Background(), p)
	if retry || err != nil {
		t.Fatalf("Send = %v, %v; want false, nil", retry, err)
	}
	var line map[string]any
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("log line %q: %v", logs.String(), err)
	}
	if line["level"] != "info" || line["message"] != "notification" || line["destination"] != "console" || line["text"] != string(p.Body) {
		t.Errorf("log line = %v", line)
	}
}

func TestNewRejectsURL(t *testing.T) {
	t.Parallel()
	if _, err := New(config.Destination{Name: "c", Type: config.TypeConsole, URL: "https://example.com/x"}, nil, nil, zerolog.Nop()); err == nil {
		t.Error("a console destination with a url was accepted")
	}
}

func TestFallback(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "console.tmpl"), []byte(`{{ define "console.build.text" }}{{ fail "boom" }}{{ end }}`), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := templates.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	a, err := New(config.Destination{Name: "console", Type: config.TypeConsole}, set, nil, zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	a.OnFallback = func(name string, err error) { got = append(got, name) }
	p, err := a.Build(cases()[0].ev)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(p.Body), "[build.failed] Build #118 failed") {
		t.Errorf("body = %q, want the default", p.Body)
	}
	if len(got) != 1 || got[0] != "console.build.text" || !strings.Contains(logs.String(), "boom") {
		t.Errorf("fallback not reported: %v %s", got, logs.String())
	}
}
