package teams_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters/adapterstest"
	"github.com/herald-ci/herald/adapters/teams"
	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/sources/sourcestest"
	"github.com/herald-ci/herald/templates"
)

var update = flag.Bool("update", false, "rewrite golden files")

var formats = []string{config.FormatWorkflows, config.FormatMessageCard, config.FormatAdaptiveCard}

func newAdapter(t *testing.T, format string, set *templates.Set, log zerolog.Logger) *teams.Adapter {
	t.Helper()
	a, err := teams.New(config.Destination{
		Name:   "ci-channel",
		Type:   config.TypeTeams,
		URL:    "https://example.webhook.office.com/webhookb2/SECRETPATH?sig=SECRETSIG",
		Format: format,
	}, set, nil, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

// ---------------------------------------------------------------- Build

type buildCase struct {
	name string
	ev   *event.Event
}

// baseBuild is the shared build event (adapterstest.Build).
func baseBuild(status event.Status) *event.Event { return adapterstest.Build(status) }

func handBuilt() []buildCase {
	succeeded := baseBuild(event.StatusSucceeded)
	succeeded.StatusText = "Tests passed: 212"
	succeeded.Tests = event.Tests{Total: 212, Passed: 212}
	succeeded.Changes = 2

	failed := baseBuild(event.StatusFailed)
	failed.StatusText = "Tests failed: 3 (2 new), passed: 209"
	failed.Tests = event.Tests{Total: 212, Passed: 209, Failed: 3, NewFailed: 2, Muted: 1}
	failed.Problems = 1
	failed.Trigger = event.Trigger{Type: "user", User: "dana"}
	failed.Links = []event.Link{{Title: "Build log", URL: "https://ci.example.com/buildConfiguration/SampleWeb_Client/9041?buildTab=log"}}

	interrupted := baseBuild(event.StatusInterrupted)
	interrupted.Type = "BUILD_INTERRUPTED"
	interrupted.StatusText = "Canceled"
	interrupted.Reason = "canceled by admin: Wrong branch selected\r\nplease rerun on main"
	interrupted.Duration = 47 * time.Second

	started := baseBuild(event.StatusStarted)
	started.Type = "BUILD_STARTED"
	started.StatusText = "Running"
	started.Progress = 35
	started.Duration = 0

	queued := baseBuild(event.StatusQueued)
	queued.Type = "BUILD_TYPE_ADDED_TO_QUEUE"
	queued.Number = ""
	queued.Branch = "feature/PROJ-12_login_form"
	queued.DefaultBranch = false
	queued.StatusText = "Waiting for a compatible agent"
	queued.Trigger = event.Trigger{Type: "user", User: "dana"}
	queued.Commit = event.Commit{}
	queued.Agent = event.Agent{}
	queued.Duration = 0

	frames := []string{
		"0 CoreFoundation __exceptionPreprocess + 164",
		"1 libobjc.A.dylib objc_exception_throw + 60",
		"2 CoreFoundation -[NSObject(NSObject) doesNotRecognizeSelector:] + 140",
		"3 CoreFoundation ___forwarding___ + 1592",
		"4 CoreFoundation _CF_forwarding_prep_0 + 92",
		"5 Ledger LedgerViewController.reload() (LedgerViewController.swift:212)",
		"6 Ledger LedgerViewController.viewDidAppear(_:) (LedgerViewController.swift:88)",
		"7 UIKitCore -[UIViewController _setViewAppearState:isAnimating:] + 920",
	}
	crash := &event.Event{
		Source: "appcenter", Type: "NewCrashGroupCreated", Kind: event.KindCrash, Status: event.StatusCreated,
		Project: "Pocket Ledger", AppName: "Pocket Ledger", Platform: "iOS",
		URL: "https://appcenter.ms/orgs/example/apps/pocket-ledger/crashes/errors/2201",
		Crash: event.Crash{
			ID: "2201", Name: "LedgerViewController.reload()",
			Reason: "NSInvalidArgumentException: -[__NSCFNumber length]: unrecognized selector sent to instance 0x8000000000000000",
			File:   "LedgerViewController.swift", Line: 212, StackTrace: frames,
			AffectedUsers: 14, Count: 37, AppVersion: "3.2.0 (418)",
		},
	}
	multiLine := *crash
	multiLine.Crash.Reason = "java.lang.IllegalStateException: Fragment not attached\nCaused by: java.lang.NullPointerException\n\tat com.example.Foo.bar(Foo.java:12)"
	multiLine.Crash.File, multiLine.Crash.Line = "", 0
	multiLine.Platform = "Android"

	release := &event.Event{
		Source: "appcenter", Type: "NewAppRelease", Kind: event.KindRelease, Status: event.StatusPublished,
		Project: "Pocket Ledger", AppName: "Pocket Ledger", Platform: "Android",
		URL: "https://appcenter.ms/orgs/example/apps/pocket-ledger/distribute/releases/77",
		Release: event.Release{
			ID: "77", Version: "418", ShortVersion: "3.2.0", Size: 48_213_337, MinOS: "8.0",
			BundleID: "com.example.ledger", InstallURL: "https://install.appcenter.ms/orgs/example/apps/pocket-ledger/releases/77",
			Notes: "- New: export to CSV\n- Fixed: a crash when the ledger is empty\n- Faster sync on slow networks",
		},
	}
	agent := func(st event.Status, connected, authorized bool) *event.Event {
		return &event.Event{
			Source: "teamcity", Type: "AGENT_" + strings.ToUpper(string(st)), Kind: event.KindAgent, Status: st,
			URL: "https://ci.example.com/agentDetails.html?id=12",
			Agent: event.Agent{ID: "12", Name: "linux-04", Pool: "Linux x64", Host: "linux-04.ci.internal", IP: "10.1.2.3",
				Connected: connected, Enabled: true, Authorized: authorized, URL: "https://ci.example.com/agentDetails.html?id=12"},
		}
	}
	ping := &event.Event{
		Source: "generic", Type: "test", Kind: event.KindTest, Status: event.StatusPing,
		Text: "Hello from herald: if you can read this, notifications reach this channel.",
		URL:  "https://herald.example.com/",
	}

	return []buildCase{
		{"build-succeeded", succeeded},
		{"build-failed", failed},
		{"build-interrupted", interrupted},
		{"build-started", started},
		{"build-queued", queued},
		{"crash", crash},
		{"crash-multiline-reason", &multiLine},
		{"release", release},
		{"agent-registered", agent(event.StatusRegistered, true, true)},
		{"agent-unregistered", agent(event.StatusUnregistered, false, true)},
		{"agent-removed", agent(event.StatusRemoved, false, false)},
		{"test-ping", ping},
	}
}

// adversarial are the events every adapter's goldens share
// (adapters/adapterstest): special characters, empty fields, 100 KB and
// 5 MB texts, 200 stack frames, 500 changes, 500 links.
func adversarial() []buildCase {
	var out []buildCase
	for _, c := range adapterstest.Adversarial() {
		out = append(out, buildCase{c.Name, c.Event})
	}
	return out
}

// fixtures are the senders' fixtures decoded by their sources.
func fixtures(t *testing.T) []buildCase {
	t.Helper()
	var out []buildCase
	for _, c := range sourcestest.Events(t) {
		out = append(out, buildCase{"fixture-" + c.Name, c.Event})
	}
	return out
}

func TestBuild(t *testing.T) {
	t.Parallel()
	cases := append(append(handBuilt(), adversarial()...), fixtures(t)...)
	for _, format := range formats {
		a := newAdapter(t, format, nil, zerolog.New(io.Discard))
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					p, err := a.Build(tc.ev)
					if err != nil {
						t.Fatalf("Build: %v", err)
					}
					again, err := a.Build(tc.ev)
					if err != nil || !bytes.Equal(p.Body, again.Body) {
						t.Fatalf("Build is not deterministic (err %v)", err)
					}
					if p.ContentType != "application/json" {
						t.Errorf("ContentType = %q", p.ContentType)
					}
					checkPayload(t, format, p.Body)

					var pretty bytes.Buffer
					if err := json.Indent(&pretty, p.Body, "", "  "); err != nil {
						t.Fatalf("indent: %v", err)
					}
					pretty.WriteByte('\n')
					if format != config.FormatAdaptiveCard && pretty.Len() > teams.MaxMessageBytes {
						t.Errorf("pretty-printed payload is %d bytes, over %d", pretty.Len(), teams.MaxMessageBytes)
					}
					golden(t, filepath.Join("testdata", filepath.FromSlash(t.Name())+".golden.json"), pretty.Bytes())
				})
			}
		})
	}
}

// checkPayload asserts what Teams needs of every body.
func checkPayload(t *testing.T, format string, body []byte) {
	t.Helper()
	if !utf8.Valid(body) {
		t.Fatal("payload is not valid UTF-8")
	}
	limit := teams.MaxMessageBytes
	if format == config.FormatAdaptiveCard {
		limit -= 200 // room for the envelope a flow adds
	}
	if len(body) > limit {
		t.Fatalf("payload is %d bytes, over %d", len(body), limit)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("payload is not JSON: %v", err)
	}
	switch format {
	case config.FormatMessageCard:
		if m["@type"] != "MessageCard" || m["@context"] != "https://schema.org/extensions" {
			t.Fatalf("not a MessageCard: @type %v @context %v", m["@type"], m["@context"])
		}
		if s, _ := m["summary"].(string); strings.TrimSpace(s) == "" {
			t.Error("summary is empty")
		}
		if c, _ := m["themeColor"].(string); len(c) != 6 {
			t.Errorf("themeColor %q is not 6 hex digits", c)
		}
		if s, _ := m["sections"].([]any); len(s) > 10 {
			t.Errorf("%d sections, over 10", len(s))
		}
		return
	case config.FormatWorkflows:
		if m["type"] != "message" {
			t.Fatalf("type = %v, want message", m["type"])
		}
		att, _ := m["attachments"].([]any)
		if len(att) != 1 {
			t.Fatalf("%d attachments, want 1", len(att))
		}
		a0, _ := att[0].(map[string]any)
		if a0["contentType"] != "application/vnd.microsoft.card.adaptive" {
			t.Fatalf("contentType = %v", a0["contentType"])
		}
		if v, ok := a0["contentUrl"]; !ok || v != nil {
			t.Errorf("contentUrl = %v, want null", v)
		}
		m, _ = a0["content"].(map[string]any)
	}
	if m["type"] != "AdaptiveCard" || m["version"] != "1.4" {
		t.Fatalf("not an Adaptive Card 1.4: type %v version %v", m["type"], m["version"])
	}
	if ms, _ := m["msteams"].(map[string]any); ms["width"] != "Full" {
		t.Errorf("msteams.width = %v, want Full", ms["width"])
	}
	body0, _ := m["body"].([]any)
	if len(body0) == 0 {
		t.Fatal("card body is empty")
	}
	if c, _ := body0[0].(map[string]any); c["type"] != "Container" {
		t.Errorf("body[0] is %v, want the header Container", c["type"])
	}
	actions, _ := m["actions"].([]any)
	if len(actions) > 4 {
		t.Errorf("%d actions, over 4", len(actions))
	}
	for _, x := range actions {
		act, _ := x.(map[string]any)
		u, _ := act["url"].(string)
		if act["type"] != "Action.OpenUrl" || !(strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")) {
			t.Errorf("action %v is not an OpenUrl to an http(s) URL", act)
		}
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("payload differs from %s (run go test -update and review the diff):\n%s", path, got)
	}
}

// TestBuildFallback: a user template that fails in any way gives the
// default card, and says so in the log.
func TestBuildFallback(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("x", 40_000)
	tests := []struct {
		name, format, tmpl string
	}{
		{"exec error", config.FormatWorkflows, `{{ define "teams.build.card" }}{{ .NoSuchField }}{{ end }}`},
		{"not JSON", config.FormatWorkflows, `{{ define "teams.build.card" }}{"type": "AdaptiveCard", {{ end }}`},
		{"trailing data", config.FormatWorkflows, `{{ define "teams.build.card" }}{"type": "AdaptiveCard", "version": "1.4"} {}{{ end }}`},
		{"unescaped value", config.FormatWorkflows, `{{ define "teams.build.card" }}{"type": "AdaptiveCard", "version": "1.4", "body": [{"type": "TextBlock", "text": "{{ .Project }}"}]}{{ end }}`},
		{"duplicate key", config.FormatWorkflows, `{{ define "teams.build.card" }}{"type": "AdaptiveCard", "version": "1.4", "version": "1.5"}{{ end }}`},
		{"not a card", config.FormatWorkflows, `{{ define "teams.build.card" }}{"type": "message", "text": "hi"}{{ end }}`},
		{"version too new", config.FormatAdaptiveCard, `{{ define "teams.build.card" }}{"type": "AdaptiveCard", "version": "1.6"}{{ end }}`},
		{"cannot fit", config.FormatWorkflows, `{{ define "teams.build.card" }}{"type": "AdaptiveCard", "version": "1.4", "actions": [{"type": "Action.OpenUrl", "title": "x", "url": "https://example.com/` + huge + `"}]}{{ end }}`},
		{"messagecard exec error", config.FormatMessageCard, `{{ define "messagecard.build.card" }}{{ fail "boom" }}{{ end }}`},
		{"messagecard without summary", config.FormatMessageCard, `{{ define "messagecard.build.card" }}{"@type": "MessageCard", "@context": "https://schema.org/extensions"}{{ end }}`},
		{"messagecard as adaptive card", config.FormatMessageCard, `{{ define "messagecard.build.card" }}{"type": "AdaptiveCard", "version": "1.4"}{{ end }}`},
	}
	ev := baseBuild(event.StatusFailed)
	ev.Project = `"quoted" project`
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "teams.tmpl"), []byte(tc.tmpl), 0o644); err != nil {
				t.Fatal(err)
			}
			set, err := templates.Load(dir)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			var logs bytes.Buffer
			a := newAdapter(t, tc.format, set, zerolog.New(&logs))
			p, err := a.Build(ev)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			want, err := newAdapter(t, tc.format, nil, zerolog.New(io.Discard)).Build(ev)
			if err != nil {
				t.Fatalf("default Build: %v", err)
			}
			if !bytes.Equal(p.Body, want.Body) {
				t.Errorf("Build with a broken user template:\n%s\nwant the default card:\n%s", p.Body, want.Body)
			}
			if !strings.Contains(logs.String(), "user template failed") {
				t.Errorf("no fallback log line; logs: %s", logs.String())
			}
		})
	}
}

// TestBuildShrinks: a card over Teams' limit is shortened visibly, not
// rejected: long texts are cut with "…", long lists lose their tail with a
// note, and a MessageCard keeps at most 10 sections.
func TestBuildShrinks(t *testing.T) {
	t.Parallel()
	const longText = `{{ define "teams.test.card" }}{"type": "AdaptiveCard", "version": "1.4", "body": [
	  {"type": "TextBlock", "text": "title"},
	  {"type": "TextBlock", "text": {{ json .Text }}, "wrap": true},
	  {"type": "TextBlock", "text": {{ json (printf "second %s" .Text) }}, "wrap": true}]}{{ end }}`
	const manyBlocks = `{{ define "teams.crash.card" }}{"type": "AdaptiveCard", "version": "1.4", "body": [
	  {"type": "TextBlock", "text": "title"},
	  {"type": "Container", "items": [{{ range $i, $f := .Crash.StackTrace }}{{ if $i }},{{ end }}{"type": "TextBlock", "text": {{ json $f }}}{{ end }}]}]}{{ end }}`
	const manySections = `{{ define "messagecard.crash.card" }}{"@type": "MessageCard", "@context": "https://schema.org/extensions", "summary": "s", "sections": [
	  {{ range $i, $f := .Crash.StackTrace }}{{ if $i }},{{ end }}{"text": {{ json $f }}}{{ end }}]}{{ end }}`

	frames := func(n int, s string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s %d", s, i)
		}
		return out
	}
	tests := []struct {
		name, format, tmpl string
		ev                 *event.Event
		want               []string // substrings of the body
		sections           int      // MessageCard sections, when > 0
	}{
		{"long texts workflows", config.FormatWorkflows, longText,
			&event.Event{Kind: event.KindTest, Status: event.StatusPing, Text: strings.Repeat("ab\"\\\u2028", 30_000)},
			[]string{`"title"`, "…"}, 0},
		{"long texts bare card", config.FormatAdaptiveCard, longText,
			&event.Event{Kind: event.KindTest, Status: event.StatusPing, Text: strings.Repeat("ab ", 100_000)},
			[]string{`"title"`, "…"}, 0},
		{"many small blocks", config.FormatWorkflows, manyBlocks,
			&event.Event{Kind: event.KindCrash, Status: event.StatusCreated, Crash: event.Crash{StackTrace: frames(3000, "frame")}},
			[]string{`"frame 0"`, "more left out (Teams accepts at most 28 KB)"}, 0},
		{"eleven sections", config.FormatMessageCard, manySections,
			&event.Event{Kind: event.KindCrash, Status: event.StatusCreated, Crash: event.Crash{StackTrace: frames(11, "s")}},
			[]string{`"s 8"`, "… 2 more left out (Teams shows at most 10 sections)"}, 10},
		{"big sections", config.FormatMessageCard, manySections,
			&event.Event{Kind: event.KindCrash, Status: event.StatusCreated, Crash: event.Crash{StackTrace: frames(9, strings.Repeat("z", 9_000))}},
			[]string{"…"}, 9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "mine.tmpl"), []byte(tc.tmpl), 0o644); err != nil {
				t.Fatal(err)
			}
			set, err := templates.Load(dir)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			var logs bytes.Buffer
			p, err := newAdapter(t, tc.format, set, zerolog.New(&logs)).Build(tc.ev)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if logs.Len() > 0 {
				t.Errorf("the user template fell back: %s", logs.String())
			}
			if len(p.Body) > teams.MaxMessageBytes-2048 {
				t.Errorf("payload is %d bytes, over the %d budget", len(p.Body), teams.MaxMessageBytes-2048)
			}
			if !json.Valid(p.Body) {
				t.Fatal("payload is not JSON")
			}
			for _, w := range tc.want {
				if !strings.Contains(string(p.Body), w) {
					t.Errorf("payload lacks %q", w)
				}
			}
			if tc.sections > 0 {
				var mc struct{ Sections []any }
				_ = json.Unmarshal(p.Body, &mc)
				if len(mc.Sections) != tc.sections {
					t.Errorf("%d sections, want %d", len(mc.Sections), tc.sections)
				}
			}
		})
	}
}

// TestBuildUnknownKind uses the event card for a kind without a card.
func TestBuildUnknownKind(t *testing.T) {
	t.Parallel()
	for _, format := range formats {
		p, err := newAdapter(t, format, nil, zerolog.New(io.Discard)).Build(&event.Event{Kind: "deploy", Status: "done", Project: "api"})
		if err != nil {
			t.Fatalf("%s: Build: %v", format, err)
		}
		if !strings.Contains(string(p.Body), "api done") {
			t.Errorf("%s: %s lacks the title", format, p.Body)
		}
	}
}

// ---------------------------------------------------------------- Send

type outcome struct {
	ok         bool
	retry      bool
	reason     string
	retryAfter time.Duration
}

func TestSend(t *testing.T) {
	t.Parallel()
	const (
		throttled = "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=deadbeef.0."
		tooLarge  = "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 413 with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=deadbeef.0."
	)
	reply := func(status int, body string, header ...string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			for i := 0; i+1 < len(header); i += 2 {
				w.Header().Set(header[i], header[i+1])
			}
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
		}
	}
	delivered := outcome{ok: true}
	final := func(reason string) outcome { return outcome{reason: reason} }
	tests := []struct {
		name    string
		handler http.HandlerFunc // nil: nothing listens
		wf, mc  outcome          // workflows and adaptive-card; messagecard
	}{
		{"202", reply(202, ""), delivered, final("http 202")},
		{"200 empty", reply(200, ""), delivered, final("http 200 empty body")},
		{"200 one", reply(200, "1"), delivered, delivered},
		{"200 one with newline", reply(200, "1\n"), delivered, delivered},
		{"200 throttled", reply(200, throttled), delivered, outcome{retry: true, reason: "throttled", retryAfter: 5 * time.Second}},
		{"200 throttled with retry-after", reply(200, throttled, "Retry-After", "2"), delivered, outcome{retry: true, reason: "throttled", retryAfter: 2 * time.Second}},
		{"200 too large", reply(200, tooLarge), delivered, final("too large")},
		{"200 other error", reply(200, "Summary or Text is required.\nmore"), delivered, final("http 200 Summary or Text is required.")},
		{"400", reply(400, "Bad payload received by generic incoming webhook."), final("http 400 Bad payload received by generic incoming webhook."), final("http 400 Bad payload received by generic incoming webhook.")},
		{"400 echoing the url", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(400)
			_, _ = io.WriteString(w, "bad request to "+r.URL.String())
		}, final("http 400 bad request to ***"), final("http 400 bad request to ***")},
		{"403", reply(403, "Forbidden"), final("http 403 Forbidden"), final("http 403 Forbidden")},
		{"404", reply(404, ""), final("http 404"), final("http 404")},
		{"410", reply(410, "Gone"), final("http 410 Gone"), final("http 410 Gone")},
		{"429 retry-after", reply(429, "Too many requests", "Retry-After", "7"),
			outcome{retry: true, reason: "http 429 Too many requests", retryAfter: 7 * time.Second},
			outcome{retry: true, reason: "http 429 Too many requests", retryAfter: 7 * time.Second}},
		{"500", reply(500, "oops"), outcome{retry: true, reason: "http 500 oops"}, outcome{retry: true, reason: "http 500 oops"}},
		{"503 retry-after", reply(503, "", "Retry-After", "3"),
			outcome{retry: true, reason: "http 503", retryAfter: 3 * time.Second},
			outcome{retry: true, reason: "http 503", retryAfter: 3 * time.Second}},
		{"302 not followed", reply(302, "", "Location", "https://elsewhere.example.com/steal"),
			final("http 302 redirect not followed"), final("http 302 redirect not followed")},
		{"connection refused", nil, outcome{retry: true, reason: "connection refused"}, outcome{retry: true, reason: "connection refused"}},
	}
	const secretPath = "/workflows/abc123/triggers/manual/paths/invoke"
	for _, tc := range tests {
		for _, format := range formats {
			want := tc.wf
			if format == config.FormatMessageCard {
				want = tc.mc
			}
			t.Run(tc.name+"/"+format, func(t *testing.T) {
				t.Parallel()
				var got atomic.Pointer[http.Request]
				var gotBody atomic.Value
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					b, _ := io.ReadAll(r.Body)
					gotBody.Store(b)
					got.Store(r)
					if tc.handler != nil {
						tc.handler(w, r)
					}
				}))
				url := srv.URL + secretPath + "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sig=SECRETSIG"
				if tc.handler == nil {
					srv.Close()
				} else {
					defer srv.Close()
				}
				a, err := teams.New(config.Destination{Name: "t", Type: "teams", URL: config.SecretURL(url), Format: format},
					nil, notify.NewClient(5*time.Second, notify.Egress{AllowPrivate: true}), zerolog.New(io.Discard))
				if err != nil {
					t.Fatal(err)
				}
				p, err := a.Build(baseBuild(event.StatusFailed))
				if err != nil {
					t.Fatal(err)
				}
				retry, err := a.Send(context.Background(), p)

				if tc.handler != nil {
					r := got.Load()
					if r == nil {
						t.Fatal("no request reached the server")
					}
					if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
						t.Errorf("request %s with Content-Type %q", r.Method, r.Header.Get("Content-Type"))
					}
					if r.URL.Path != secretPath || r.URL.Query().Get("sig") != "SECRETSIG" {
						t.Errorf("request went to %s", r.URL)
					}
					if b, _ := gotBody.Load().([]byte); !bytes.Equal(b, p.Body) {
						t.Error("request body is not the payload")
					}
				}
				if retry != want.retry {
					t.Errorf("retry = %v, want %v", retry, want.retry)
				}
				if want.ok {
					if err != nil {
						t.Fatalf("Send: %v, want delivered", err)
					}
					return
				}
				if err == nil {
					t.Fatalf("Send delivered, want %q", want.reason)
				}
				var ne *notify.Error
				if !errors.As(err, &ne) {
					t.Fatalf("error %T %v is not a *notify.Error", err, err)
				}
				if ne.Reason != want.reason || ne.Retry != want.retry || ne.RetryAfter != want.retryAfter {
					t.Errorf("error = {reason %q retry %v after %v}, want {%q %v %v}", ne.Reason, ne.Retry, ne.RetryAfter, want.reason, want.retry, want.retryAfter)
				}
				for _, secret := range []string{"SECRETSIG", "abc123", secretPath, "api-version"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error %q holds %q from the URL", err, secret)
					}
				}
			})
		}
	}
}

// TestSendRedirectNotFollowed: the payload never reaches a redirect's target.
func TestSendRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	var hit atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit.Store(true) }))
	defer target.Close()
	src := httptest.NewServer(http.RedirectHandler(target.URL+"/steal", http.StatusTemporaryRedirect))
	defer src.Close()
	a, err := teams.New(config.Destination{Name: "t", Type: "teams", URL: config.SecretURL(src.URL + "/hook?sig=SECRETSIG")},
		nil, notify.NewClient(5*time.Second, notify.Egress{AllowPrivate: true}), zerolog.New(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := a.Build(baseBuild(event.StatusFailed))
	retry, err := a.Send(context.Background(), p)
	if retry || err == nil || hit.Load() {
		t.Errorf("Send = (%v, %v), target hit %v; want a final error and no hit", retry, err, hit.Load())
	}
}

// TestSendWithoutURL: a render-only adapter refuses to send.
func TestSendWithoutURL(t *testing.T) {
	t.Parallel()
	a, err := teams.New(config.Destination{Name: "render", Type: "teams"}, nil, nil, zerolog.New(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	retry, err := a.Send(context.Background(), notify.Payload{Body: []byte("{}")})
	if retry || err == nil {
		t.Errorf("Send = (%v, %v), want a final error", retry, err)
	}
}

// FuzzBuild: whatever an event holds, every format gives valid JSON within
// Teams' limits, or an error, never a panic.
func FuzzBuild(f *testing.F) {
	// Seeds are cut short: TestBuild covers the huge events, and the
	// fuzzer crawls on megabyte inputs.
	short := func(s string) string { return s[:min(len(s), 2000)] }
	for _, tc := range adversarial() {
		f.Add(short(tc.ev.Project), short(tc.ev.Commit.Message), short(tc.ev.StatusText),
			short(strings.Join(tc.ev.Crash.StackTrace, "\n")), uint16(len(tc.ev.Crash.StackTrace)))
	}
	f.Add("", "", "", "", uint16(0))
	f.Add(`{"type":"AdaptiveCard"}`, "\\u0000", "\xff", "]}", uint16(500))
	adapters := map[string]*teams.Adapter{}
	for _, format := range formats {
		a, err := teams.New(config.Destination{Name: "fuzz", Type: "teams", Format: format}, nil, nil, zerolog.New(io.Discard))
		if err != nil {
			f.Fatal(err)
		}
		adapters[format] = a
	}
	f.Fuzz(func(t *testing.T, text, message, status, frame string, frames uint16) {
		trace := make([]string, int(frames)%400)
		for i := range trace {
			trace[i] = frame
		}
		events := []*event.Event{
			{Kind: event.KindBuild, Status: event.StatusFailed, Project: text, BuildConfig: text, Number: status,
				Branch: text, StatusText: status, Reason: message, Commit: event.Commit{SHA: text, Message: message, Author: status},
				URL: text, Links: []event.Link{{Title: text, URL: "https://x.example/" + text}}},
			{Kind: event.KindCrash, Status: event.StatusCreated, AppName: text, Crash: event.Crash{Reason: message, StackTrace: trace}},
			{Kind: event.KindRelease, Status: event.StatusPublished, AppName: text, Release: event.Release{Notes: message, ShortVersion: status}},
			{Kind: event.KindAgent, Status: event.StatusRemoved, Agent: event.Agent{Name: text, Pool: status}},
			{Kind: event.KindTest, Status: event.StatusPing, Text: message},
			{Kind: event.Kind(text), Status: event.Status(status)},
		}
		for format, a := range adapters {
			for _, ev := range events {
				p, err := a.Build(ev)
				if err != nil {
					t.Fatalf("%s %s: Build: %v", format, ev.Kind, err)
				}
				checkPayload(t, format, p.Body)
			}
		}
	})
}

// TestShrink: a card refused as too large is re-rendered smaller and still
// valid; a card that cannot shrink is an error.
func TestShrink(t *testing.T) {
	t.Parallel()
	for _, format := range formats {
		a := newAdapter(t, format, nil, zerolog.New(io.Discard))
		big := &event.Event{Kind: event.KindBuild, Status: event.StatusFailed, Project: "p", Number: "1",
			StatusText: strings.Repeat("a long failure text ", 200)}
		p, err := a.Build(big)
		if err != nil {
			t.Fatal(err)
		}
		q, err := a.Shrink(p)
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if len(q.Body) >= len(p.Body) || !json.Valid(q.Body) || q.ContentType != p.ContentType {
			t.Errorf("%s: shrunk to %d of %d bytes, valid %v", format, len(q.Body), len(p.Body), json.Valid(q.Body))
		}
		small, _ := a.Build(&event.Event{Kind: event.KindBuild, Status: event.StatusFailed})
		if _, err := a.Shrink(small); err == nil {
			t.Errorf("%s: a minimal card shrank", format)
		}
	}
}

// TestBuildChangeList: "500 changes" as a user template sees them, the
// sender's list in .Raw, one fact per change: far over 28 KB. The card
// keeps the newest changes and a fact that counts the others, in every
// format.
func TestBuildChangeList(t *testing.T) {
	t.Parallel()
	set, err := templates.Load(filepath.Join("testdata", "changes"))
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range formats {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			p, err := newAdapter(t, format, set, zerolog.New(&logs)).Build(adapterstest.Changes500())
			if err != nil {
				t.Fatal(err)
			}
			if logs.Len() > 0 {
				t.Fatalf("the user template fell back: %s", logs.String())
			}
			checkPayload(t, format, p.Body)
			s := string(p.Body)
			for _, want := range []string{`Change 500: Say \"hi\" \\\\ C:\\\\temp\\\\`, "Change 499", "more left out (Teams accepts at most 28 KB)"} {
				if !strings.Contains(s, want) {
					t.Errorf("payload lacks %s", want)
				}
			}
			if strings.Contains(s, "Change 1 ") {
				t.Error("the oldest change is in: nothing was left out")
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, p.Body, "", "  "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			golden(t, filepath.Join("testdata", "TestBuildChangeList", format, "changes-500.golden.json"), pretty.Bytes())
		})
	}
}

// TestBuildMentions: in the Adaptive Card formats, a build that broke after
// a success mentions its commit's author: one <at>Jane Doe</at> in the
// card's text and its entity in msteams.entities (Teams' incoming-webhook
// mention format). A MessageCard cannot mention: it shows no <at> tag.
// Other transitions, unknown authors and a set without mentions give no
// entity and no tag, and event text saying <at>...</at> stays escaped.
func TestBuildMentions(t *testing.T) {
	t.Parallel()
	set := templates.Defaults().WithMentions(templates.NewMentions([]templates.Person{
		{Match: []string{"jdoe", "jdoe@example.com"}, Slack: "U012AB3CD", TeamsID: "jdoe@example.com", TeamsName: "Jane Doe"},
		{Match: []string{"dana"}, TeamsID: "87d349ed-44d7-43e1-9a83-5f2406dee5bd", TeamsName: "Dana Scully"},
		{Match: []string{"zoe"}, Slack: "U0987ZYXW"}, // not on Teams
	}))
	broken := func(mod func(*event.Event)) *event.Event {
		ev := baseBuild(event.StatusFailed)
		ev.StatusText = "Tests failed: 3 (2 new), passed: 209"
		ev.Transition = "broken"
		if mod != nil {
			mod(ev)
		}
		return ev
	}
	type entity struct {
		Type      string `json:"type"`
		Text      string `json:"text"`
		Mentioned struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"mentioned"`
	}
	for _, tc := range []struct {
		name    string
		set     *templates.Set
		ev      *event.Event
		id, who string // the mention, "" for none
	}{
		{"mention-broken", set, broken(nil), "87d349ed-44d7-43e1-9a83-5f2406dee5bd", "Dana Scully"},
		{"mention-broken-hostile-text", set, broken(func(ev *event.Event) {
			ev.Commit.Author = "JDoe@example.com"
			ev.Project = "<at>Jane Doe</at> **team**"
			ev.Commit.Message = "cc <at>Everyone</at> and <at>Jane Doe</at>"
		}), "jdoe@example.com", "Jane Doe"},
		{"mention-broken-huge-event", set, broken(func(ev *event.Event) {
			long := strings.Repeat("0123456789 abcdefghij ", 5_000)
			ev.Commit.Author = "jdoe"
			ev.Project, ev.BuildConfig, ev.Number, ev.Branch = long, long, long, long
			ev.StatusText, ev.Reason, ev.Commit.Message = long, long, long
			ev.Trigger.User, ev.Agent.Name, ev.Platform = long, long, long
		}), "jdoe@example.com", "Jane Doe"},
		{"still failing", set, func() *event.Event { ev := broken(nil); ev.Transition = "still_failing"; return ev }(), "", ""},
		{"fixed", set, func() *event.Event {
			ev := baseBuild(event.StatusSucceeded)
			ev.Transition = "fixed"
			return ev
		}(), "", ""},
		{"unknown author", set, broken(func(ev *event.Event) { ev.Commit.Author = "someone-else" }), "", ""},
		{"author not on teams", set, broken(func(ev *event.Event) { ev.Commit.Author = "zoe" }), "", ""},
		{"no mentions configured", nil, broken(nil), "", ""},
	} {
		for _, format := range formats {
			t.Run(tc.name+"/"+format, func(t *testing.T) {
				t.Parallel()
				p, err := newAdapter(t, format, tc.set, zerolog.New(io.Discard)).Build(tc.ev)
				if err != nil {
					t.Fatal(err)
				}
				checkPayload(t, format, p.Body)
				var card struct {
					Type        string
					Attachments []struct{ Content json.RawMessage }
					MSTeams     struct{ Entities []entity } `json:"msteams"`
				}
				body := p.Body
				if err := json.Unmarshal(body, &card); err != nil {
					t.Fatal(err)
				}
				if format == config.FormatWorkflows {
					body = card.Attachments[0].Content
					card.MSTeams.Entities = nil
					if err := json.Unmarshal(body, &card); err != nil {
						t.Fatal(err)
					}
				}
				tags := atTags(t, body)
				if tc.id == "" || format == config.FormatMessageCard {
					if tags > 0 || len(card.MSTeams.Entities) > 0 || strings.Contains(string(body), "entities") {
						t.Fatalf("mentions someone: %d <at> tags, entities %+v", tags, card.MSTeams.Entities)
					}
					if tc.id != "" { // the MessageCard of a mention case
						golden(t, filepath.Join("testdata", "TestBuildMentions", format, tc.name+".golden.json"), indent(t, p.Body))
					}
					return
				}
				tag := "<at>" + tc.who + "</at>"
				if tags != 1 || !strings.Contains(string(body), tag) {
					t.Errorf("%d <at> tags, want one %s", tags, tag)
				}
				if len(card.MSTeams.Entities) != 1 {
					t.Fatalf("entities %+v, want one", card.MSTeams.Entities)
				}
				e := card.MSTeams.Entities[0]
				if e.Type != "mention" || e.Text != tag || e.Mentioned.ID != tc.id || e.Mentioned.Name != tc.who {
					t.Errorf("entity %+v, want a mention of %s (%s) as %s", e, tc.who, tc.id, tag)
				}
				golden(t, filepath.Join("testdata", "TestBuildMentions", format, tc.name+".golden.json"), indent(t, p.Body))
			})
		}
	}
}

// atTags counts the <at> tags of a card's texts: its msteams entities and
// a MessageCard's summary (plain text, for notifications) left out.
func atTags(t *testing.T, card []byte) int {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(card, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "msteams")
	delete(m, "summary")
	n := 0
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		case string:
			n += strings.Count(x, "<at>")
		}
	}
	walk(m)
	return n
}

func indent(t *testing.T, b []byte) []byte {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, b, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	return pretty.Bytes()
}

// TestBuildMentionDropped: when a card must lose the block that holds a
// mention to fit Teams' 28 KB, its entity goes too: an entity without its
// <at> text would not match anything in the card.
func TestBuildMentionDropped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tmpl := `{{ define "teams.build.card" }}{"type": "AdaptiveCard", "version": "1.4",
	  "msteams": {"width": "Full", "entities": [{{ json (mentionEntity .) }}]},
	  "body": [{"type": "Container", "items": [{"type": "TextBlock", "text": "title"}]}
	  {{- range .Crash.StackTrace }}, {"type": "TextBlock", "text": {{ json . }}}{{ end }},
	  {"type": "TextBlock", "text": {{ json (printf "cc %s" (mention . "teams")) }}}]}{{ end }}`
	if err := os.WriteFile(filepath.Join(dir, "teams.tmpl"), []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := templates.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	set = set.WithMentions(templates.NewMentions([]templates.Person{{Match: []string{"dana"}, TeamsID: "dana@example.com", TeamsName: "Dana"}}))
	for _, n := range []int{3, 3000} {
		ev := baseBuild(event.StatusFailed)
		ev.Transition = "broken"
		for i := range n {
			ev.Crash.StackTrace = append(ev.Crash.StackTrace, fmt.Sprintf("filler line %d", i))
		}
		var logs bytes.Buffer
		p, err := newAdapter(t, config.FormatWorkflows, set, zerolog.New(&logs)).Build(ev)
		if err != nil {
			t.Fatal(err)
		}
		if logs.Len() > 0 {
			t.Fatalf("the user template fell back: %s", logs.String())
		}
		checkPayload(t, config.FormatWorkflows, p.Body)
		kept := strings.Contains(string(p.Body), "cc <at>Dana</at>")
		entity := strings.Contains(string(p.Body), `"mentioned":{"id":"dana@example.com"`)
		if kept != entity || kept != (n == 3) {
			t.Errorf("%d lines: the mention's text is kept %v, its entity %v", n, kept, entity)
		}
	}
}
