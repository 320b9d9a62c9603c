package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	slackapi "github.com/slack-go/slack"

	"github.com/herald-ci/herald/adapters/adapterstest"
	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/templates"
)

var update = flag.Bool("update", false, "rewrite golden files")

var (
	t0       = time.Date(2024, 1, 15, 9, 30, 15, 0, time.UTC)
	t1       = t0.Add(5*time.Minute + 12*time.Second)
	sha      = "d1a9f4773431d60bb53d9a9c5476c6813c266775"
	buildURL = "https://ci.example.com/buildConfiguration/SampleWeb_Client/1042"
)

func newAdapter(t testing.TB, set *templates.Set) *Adapter {
	t.Helper()
	a, err := New(config.Destination{Name: "ci-alerts", Type: config.TypeSlack, URL: "https://hooks.slack.com/services/T000/B000/XXXX"}, set, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// teamcityBuild is a TeamCity-like build event with every field a build
// message shows.
func teamcityBuild(status event.Status, mod func(*event.Event)) *event.Event {
	ev := &event.Event{
		Source: "teamcity", Type: "BUILD_FINISHED", Kind: event.KindBuild, Status: status,
		Project: "Sample Web", ProjectID: "SampleWeb", BuildConfig: "Client", BuildConfigID: "SampleWeb_Client",
		BuildID: "1042", Number: "118", Branch: "main", DefaultBranch: true,
		URL:        buildURL,
		Commit:     event.Commit{SHA: sha, Author: "jdoe", Message: "Fix the login redirect\n\nThe callback lost its state parameter.", URL: "https://git.example.com/sample-web/commit/" + sha},
		Trigger:    event.Trigger{Type: "vcs", Text: "Git"},
		Agent:      event.Agent{Name: "agent-linux-01"},
		Changes:    2,
		QueuedAt:   t0.Add(-time.Second),
		StartedAt:  t0,
		FinishedAt: t1,
		Duration:   t1.Sub(t0),
	}
	if mod != nil {
		mod(ev)
	}
	return ev
}

// buildCases are the hand-built events of TestBuild: every kind and status
// a message is written for, and adversarial text.
func buildCases() []struct {
	name string
	ev   *event.Event
} {
	long := strings.Repeat("All work and no play makes Jack a dull boy. ", 228)[:10000]
	nasty := "Say \"hi\" \\ to <!channel> & <@U024BE7LH> </script><script>alert(1)</script>\u2028next\u2029line\nsecond line 🚀🔥 *bold* _it_ `code` ```fence``` <https://evil.example|click>"
	return []struct {
		name string
		ev   *event.Event
	}{
		{"build-succeeded", teamcityBuild(event.StatusSucceeded, func(e *event.Event) {
			e.StatusText = "Tests passed: 412, ignored: 3"
			e.Tests = event.Tests{Total: 415, Passed: 412, Ignored: 3}
		})},
		{"build-failed", teamcityBuild(event.StatusFailed, func(e *event.Event) {
			e.StatusText = "Tests failed: 3 (1 new), passed: 409"
			e.Trigger = event.Trigger{Type: "user", User: "jdoe"}
			e.Tests = event.Tests{Total: 412, Passed: 409, Failed: 3, NewFailed: 1, Muted: 1}
			e.Problems = 1
			e.Links = []event.Link{{Title: "Build log", URL: buildURL + "?buildTab=log"}}
		})},
		{"build-interrupted", teamcityBuild(event.StatusInterrupted, func(e *event.Event) {
			e.Type = "BUILD_INTERRUPTED"
			e.StatusText = "Canceled"
			e.Reason = "Canceled by jdoe: superseded by #119"
			e.FinishedAt, e.Duration = time.Time{}, 0
		})},
		{"build-started", teamcityBuild(event.StatusStarted, func(e *event.Event) {
			e.Type = "BUILD_STARTED"
			e.StatusText = "Running"
			e.Progress = 12
			e.FinishedAt, e.Duration = time.Time{}, 0
		})},
		{"build-queued", teamcityBuild(event.StatusQueued, func(e *event.Event) {
			e.Type = "BUILD_TYPE_ADDED_TO_QUEUE"
			e.Number, e.Agent, e.Changes = "", event.Agent{}, 0
			e.Reason = "Waiting for a compatible agent"
			e.StartedAt, e.FinishedAt, e.Duration = time.Time{}, time.Time{}, 0
		})},
		{"crash", &event.Event{
			Source: "appcenter", Kind: event.KindCrash, Status: event.StatusCreated, SenderID: "1139624368u",
			Project: "SampleApp-Android", AppName: "SampleApp-Android", Platform: "Java",
			URL: "https://appcenter.ms/users/example-user/apps/SampleApp-Android/crashes/errors/1139624368u",
			Crash: event.Crash{
				ID: "1139624368u", Name: "com.example.sampleapp.MainActivity$1.onClick (MainActivity.java:25)",
				Reason: "java.lang.ArithmeticException: divide by zero", File: "MainActivity.java", Line: 25,
				StackTrace: []string{
					"com.example.sampleapp.MainActivity$1.onClick (MainActivity.java:25)",
					"android.view.View.performClick (View.java:7448)",
					"android.view.View.performClickInternal (View.java:7425)",
					"android.view.View$PerformClick.run (View.java:28305)",
					"android.os.Handler.handleCallback (Handler.java:938)",
				},
				AffectedUsers: 14, Count: 37, AppVersion: "1.0 (1)",
			},
			OccurredAt: t0,
		}},
		{"release", &event.Event{
			Source: "appcenter", Kind: event.KindRelease, Status: event.StatusPublished, SenderID: "123",
			Project: "SampleApp", AppName: "SampleApp", Platform: "Android",
			URL: "https://appcenter.ms/orgs/example/apps/SampleApp/distribute/releases/123",
			Release: event.Release{
				ID: "123", Version: "74", ShortVersion: "1.7.0", Size: 2634279, MinOS: "4.0.3", Mandatory: true,
				BundleID: "com.example.sampleapp", Notes: "• Faster start-up\n• Fixed the crash on the settings screen\n• New dark theme",
				InstallURL: "https://install.appcenter.ms/orgs/example/apps/SampleApp/releases/123",
			},
			OccurredAt: t0,
		}},
		{"agent-registered", &event.Event{
			Source: "teamcity", Type: "AGENT_REGISTRED", Kind: event.KindAgent, Status: event.StatusRegistered,
			Agent: event.Agent{ID: "3", Name: "agent-linux-01", Pool: "Linux agents", Host: "agent-linux-01.example.internal", IP: "10.0.12.34",
				Connected: true, Enabled: true, Authorized: true, URL: "https://ci.example.com/agentDetails.html?id=3"},
		}},
		{"agent-removed", &event.Event{
			Source: "teamcity", Type: "AGENT_REMOVED", Kind: event.KindAgent, Status: event.StatusRemoved,
			Agent: event.Agent{ID: "3", Name: "agent-linux-01", Pool: "Linux agents", Host: "agent-linux-01.example.internal", IP: "10.0.12.34",
				URL: "https://ci.example.com/agentDetails.html?id=3"},
			StatusText: "Agent was removed by admin",
		}},
		{"agent-unregistered", &event.Event{
			Source: "teamcity", Type: "AGENT_UNREGISTERED", Kind: event.KindAgent, Status: event.StatusUnregistered,
			Agent: event.Agent{ID: "3", Name: "agent-linux-01", Pool: "Linux agents", Host: "agent-linux-01.example.internal", IP: "10.0.12.34",
				Enabled: true, Authorized: true, URL: "https://ci.example.com/agentDetails.html?id=3"},
			Reason: "Agent has unregistered (will upgrade)",
		}},
		{"test-ping", &event.Event{
			Source: "appcenter", Kind: event.KindTest, Status: event.StatusPing,
			AppName: "SampleApp-Android", Text: "Hello from your SampleApp-Android app in App Center!",
			URL: "https://appcenter.ms/users/example-user/apps/SampleApp-Android", OccurredAt: t0,
		}},

		// Adversarial text: it must stay literal and valid.
		{"adversarial-text", teamcityBuild(event.StatusFailed, func(e *event.Event) {
			e.Project, e.BuildConfig, e.Branch = nasty, "Build \"main\"", "feature/<!here>&\"quotes\""
			e.StatusText, e.Reason = nasty, "C:\\temp\\build\\ \\\" \\n"
			e.Commit.Message, e.Commit.Author = nasty, "Zoë \"z\" <zoe@example.com>"
			e.Trigger = event.Trigger{Type: "user", User: "<!everyone>"}
			e.Agent.Name = "agent </script>"
			e.Links = []event.Link{{Title: nasty, URL: buildURL + "?q=<!channel>&x=\"y\""}, {Title: "bad link", URL: "javascript:alert(1)"}}
		})},
		{"adversarial-long-commit", teamcityBuild(event.StatusFailed, func(e *event.Event) {
			e.Commit.Message = long
			e.StatusText = long
			e.Reason = long
			e.Project = strings.Repeat("Very Long Project Name ", 12)
			e.BuildConfig = strings.Repeat("Config ", 20)
			e.Branch = strings.Repeat("b", 300)
		})},
		{"adversarial-crash-stack", &event.Event{
			Source: "appcenter", Kind: event.KindCrash, Status: event.StatusCreated,
			AppName: "Sample ```App``` 🚀",
			Crash: event.Crash{
				Reason:     "Fatal: </script> & <!channel> ```\n\u2028" + long,
				Name:       "`weird` frame",
				StackTrace: stackFrames(30),
				AppVersion: "2.0",
			},
		}},
		{"adversarial-release-notes", &event.Event{
			Source: "appcenter", Kind: event.KindRelease, Status: event.StatusPublished,
			AppName: "SampleApp", Release: event.Release{ShortVersion: "2.0.0", Notes: long + nasty, InstallURL: "not a url"},
		}},
		{"empty-build", &event.Event{Kind: event.KindBuild, Status: event.StatusFailed}},
		{"empty-crash", &event.Event{Kind: event.KindCrash, Status: event.StatusCreated}},
		{"empty-release", &event.Event{Kind: event.KindRelease, Status: event.StatusPublished}},
		{"empty-agent", &event.Event{Kind: event.KindAgent, Status: event.StatusRemoved}},
		{"empty-test", &event.Event{Kind: event.KindTest, Status: event.StatusPing}},
	}
}

// sharedCases are the adversarial events every adapter's goldens show
// (adapters/adapterstest): special characters, empty and missing fields,
// 100 KB and 5 MB texts, 200 stack frames, 500 changes, 500 links.
func sharedCases() []struct {
	name string
	ev   *event.Event
} {
	var out []struct {
		name string
		ev   *event.Event
	}
	for _, c := range adapterstest.Adversarial() {
		out = append(out, struct {
			name string
			ev   *event.Event
		}{c.Name, c.Event})
	}
	return out
}

func stackFrames(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("com.example.Frame%d.call (Frame%d.java:%d) <!channel> & ```", i, i, 10+i)
	}
	return s
}

// TestBuild renders every case and compares it with its golden file.
func TestBuild(t *testing.T) {
	t.Parallel()
	a := newAdapter(t, templates.Defaults())
	cases := buildCases()
	cases = append(cases, sharedCases()...)
	cases = append(cases, fixtureCases(t)...)
	seen := map[string]bool{}
	for _, tc := range cases {
		if seen[tc.name] {
			t.Fatalf("two cases are named %s", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := a.Build(tc.ev)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if p.ContentType != "application/json" {
				t.Errorf("content type %q", p.ContentType)
			}
			again, err := a.Build(tc.ev)
			if err != nil || !bytes.Equal(p.Body, again.Body) {
				t.Errorf("Build is not deterministic")
			}
			checkMessage(t, p.Body)
			golden(t, filepath.Join("testdata", "TestBuild", tc.name+".golden.json"), p.Body)
		})
	}
}

// golden compares body, pretty-printed, with the file at path, or writes
// it there with -update.
func golden(t *testing.T, path string, body []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, body, "", "  "); err != nil {
		t.Fatalf("payload is not JSON: %v\n%s", err, body)
	}
	pretty.WriteByte('\n')
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("%s differs from the golden file; got:\n%s", path, pretty.Bytes())
	}
}

// TestGoldenFilesValid checks every golden file on disk: valid JSON that
// round-trips through slack-go's types and respects Block Kit's limits.
func TestGoldenFilesValid(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "TestBuild", "*.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden files")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			checkMessage(t, b)
		})
	}
}

// checkMessage asserts body is a message Slack accepts: it parses with
// slack-go's types, writes back to the same JSON, and every limit holds.
func checkMessage(t *testing.T, body []byte) {
	t.Helper()
	if !json.Valid(body) {
		t.Fatalf("not valid JSON:\n%s", body)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		t.Fatal(err)
	}
	for k := range top {
		switch k {
		case "text", "blocks", "attachments", "username", "icon_emoji", "icon_url", "channel", "unfurl_links", "unfurl_media":
		default:
			t.Errorf("unexpected top-level key %q", k)
		}
	}
	m, err := parse(body)
	if err != nil {
		t.Fatalf("does not parse as a message: %v", err)
	}
	again, err := marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, body, again) {
		t.Errorf("does not round-trip through slack-go:\n got %s\nwant %s", again, body)
	}
	if strings.TrimSpace(m.Text) == "" {
		t.Error("no top-level text")
	}
	if n := textLen(m.Text); n > maxMessageText {
		t.Errorf("text: %d units", n)
	}
	var lists [][]slackapi.Block
	if m.Blocks != nil {
		lists = append(lists, m.Blocks.BlockSet)
	}
	for i, a := range m.Attachments {
		if a.Color != "" && !validColor(a.Color) {
			t.Errorf("attachments[%d].color %q", i, a.Color)
		}
		if a.Blocks != nil {
			lists = append(lists, a.Blocks.BlockSet)
		}
	}
	total := 0
	for _, l := range lists {
		total += len(l)
		for _, b := range l {
			checkBlock(t, b)
		}
	}
	if total > maxBlocks {
		t.Errorf("%d blocks", total)
	}
}

func checkBlock(t *testing.T, b slackapi.Block) {
	t.Helper()
	text := func(where string, o *slackapi.TextBlockObject, max int) {
		t.Helper()
		if o == nil {
			t.Errorf("%s: missing text", where)
			return
		}
		if strings.TrimSpace(o.Text) == "" || textLen(o.Text) > max {
			t.Errorf("%s: %d units, max %d", where, textLen(o.Text), max)
		}
		if o.Type != slackapi.PlainTextType && o.Type != slackapi.MarkdownType {
			t.Errorf("%s: type %q", where, o.Type)
		}
	}
	switch b := b.(type) {
	case *slackapi.HeaderBlock:
		text("header", b.Text, maxHeaderText)
		if b.Text != nil && b.Text.Type != slackapi.PlainTextType {
			t.Errorf("header: type %q", b.Text.Type)
		}
	case *slackapi.SectionBlock:
		if b.Text == nil && len(b.Fields) == 0 {
			t.Error("section: no text and no fields")
		}
		if b.Text != nil {
			text("section", b.Text, maxSectionText)
		}
		if len(b.Fields) > maxFields {
			t.Errorf("section: %d fields", len(b.Fields))
		}
		for _, f := range b.Fields {
			text("field", f, maxFieldText)
		}
	case *slackapi.ContextBlock:
		if n := len(b.ContextElements.Elements); n == 0 || n > maxContextElems {
			t.Errorf("context: %d elements", n)
		}
		for _, e := range b.ContextElements.Elements {
			if o, ok := e.(*slackapi.TextBlockObject); ok {
				text("context", o, maxTextObject)
			}
		}
	case *slackapi.ActionBlock:
		if b.Elements == nil || len(b.Elements.ElementSet) == 0 || len(b.Elements.ElementSet) > maxActionElems {
			t.Error("actions: wrong element count")
			return
		}
		ids := map[string]bool{}
		for _, e := range b.Elements.ElementSet {
			btn, ok := e.(*slackapi.ButtonBlockElement)
			if !ok {
				continue
			}
			text("button", btn.Text, maxButtonText)
			if !validURL(btn.URL) || textLen(btn.URL) > maxURL {
				t.Errorf("button url %q", btn.URL)
			}
			if btn.ActionID != "" && ids[btn.ActionID] {
				t.Errorf("duplicate action_id %q", btn.ActionID)
			}
			ids[btn.ActionID] = true
		}
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// TestBuildEscapes checks the promises the adversarial golden files show:
// event text never becomes Slack markup and long text is cut visibly.
func TestBuildEscapes(t *testing.T) {
	t.Parallel()
	a := newAdapter(t, templates.Defaults())
	var cases []struct {
		name string
		ev   *event.Event
	}
	for _, tc := range buildCases() {
		if strings.HasPrefix(tc.name, "adversarial") {
			cases = append(cases, tc)
		}
	}
	cases = append(cases, sharedCases()...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := a.Build(tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(p.Body, &m); err != nil {
				t.Fatal(err)
			}
			// mrkdwn and the top-level text are parsed by Slack; plain_text
			// (header, button) is shown literally and URLs are not text.
			forEachString(m, "", func(path, s string) {
				if !strings.HasSuffix(path, ".text") || isPlainText(m, path) {
					return
				}
				for _, bad := range []string{"<!channel>", "<!here>", "<!everyone>", "<@U024BE7LH>", "<https://evil", "</script>", "<at>"} {
					if strings.Contains(s, bad) {
						t.Errorf("%s holds live markup %q: %q", path, bad, s)
					}
				}
			})
			// Nothing that hides or reverses text, nor a control
			// character, reaches a reader.
			forEachString(m, "", func(path, s string) {
				if i := strings.IndexFunc(s, templates.Unwanted); i >= 0 {
					t.Errorf("%s holds %U: %q", path, []rune(s[i:])[0], s)
				}
			})
			if strings.Contains(tc.name, "long") || strings.Contains(tc.name, "huge") {
				if !bytes.Contains(p.Body, []byte("…")) {
					t.Error("long text was not cut visibly")
				}
			}
			// However big the event, the message stays small: a 5 MB
			// text gives a message of a few KB, cut visibly.
			if len(p.Body) > 16<<10 {
				t.Errorf("payload is %d bytes", len(p.Body))
			}
		})
	}
}

// forEachString calls f with every string in v and its path.
func forEachString(v any, path string, f func(path, s string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			forEachString(x, path+"."+k, f)
		}
	case []any:
		for i, x := range v {
			forEachString(x, fmt.Sprintf("%s[%d]", path, i), f)
		}
	case string:
		f(path, v)
	}
}

// isPlainText reports whether the string at path (ending in ".text") is
// the text of a plain_text object.
func isPlainText(root any, path string) bool {
	parent := strings.TrimSuffix(path, ".text")
	if parent == path {
		return false
	}
	var found bool
	forEachString(root, "", func(p, s string) {
		if p == parent+".type" && s == slackapi.PlainTextType {
			found = true
		}
	})
	return found
}

// TestFit feeds fit a message over every limit and checks that it comes
// back within them, cut visibly.
func TestFit(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 5000)
	var blocks []map[string]any
	blocks = append(blocks, map[string]any{"type": "header", "text": map[string]any{"type": "mrkdwn", "text": strings.Repeat("🚀", 100)}})
	var fields []map[string]any
	for i := 0; i < 14; i++ {
		fields = append(fields, map[string]any{"type": "mrkdwn", "text": long})
	}
	fields = append(fields, map[string]any{"type": "mrkdwn", "text": "  "})
	blocks = append(blocks, map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "```" + long + "```"}, "fields": fields})
	var elems []map[string]any
	for i := 0; i < 12; i++ {
		elems = append(elems, map[string]any{"type": "mrkdwn", "text": fmt.Sprintf("e%d", i)})
	}
	blocks = append(blocks, map[string]any{"type": "context", "elements": elems})
	blocks = append(blocks, map[string]any{"type": "actions", "elements": []map[string]any{
		{"type": "button", "action_id": "a", "text": map[string]any{"type": "plain_text", "text": strings.Repeat("b", 100)}, "url": "https://x.example/1", "style": "fancy"},
		{"type": "button", "action_id": "a", "text": map[string]any{"type": "plain_text", "text": "two"}, "url": "https://x.example/2"},
		{"type": "button", "action_id": "c", "text": map[string]any{"type": "plain_text", "text": "no url"}},
		{"type": "button", "action_id": "d", "text": map[string]any{"type": "plain_text", "text": "js"}, "url": "javascript:alert(1)"},
	}})
	blocks = append(blocks, map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": ""}})
	// Control characters alone are empty once cleaned (found by FuzzRender).
	blocks = append(blocks, map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "\x1f\x00"}})
	blocks = append(blocks, map[string]any{"type": "context", "elements": []map[string]any{{"type": "plain_text", "text": "\x00"}}})
	blocks = append(blocks, map[string]any{"type": "context", "elements": []map[string]any{{"type": "mrkdwn", "text": " "}}})
	for i := 0; i < 60; i++ {
		blocks = append(blocks, map[string]any{"type": "divider", "block_id": "same"})
	}
	in, err := json.Marshal(map[string]any{
		"blocks": blocks[:3],
		"attachments": []map[string]any{
			{"color": "purple", "blocks": blocks[3:]},
			{"color": "#2EB67D", "blocks": []map[string]any{{"type": "divider"}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := parse(in)
	if err != nil {
		t.Fatal(err)
	}
	fit(m, "fallback text")
	out, err := marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	checkMessage(t, out)

	if m.Text != "fallback text" {
		t.Errorf("text = %q, want the fallback", m.Text)
	}
	h := m.Blocks.BlockSet[0].(*slackapi.HeaderBlock)
	if h.Text.Type != slackapi.PlainTextType || !strings.HasSuffix(h.Text.Text, "…") || textLen(h.Text.Text) > maxHeaderText {
		t.Errorf("header = %+v", h.Text)
	}
	s := m.Blocks.BlockSet[1].(*slackapi.SectionBlock)
	if !strings.HasSuffix(s.Text.Text, "…\n```") {
		t.Errorf("section text does not close its code block: %q", s.Text.Text[len(s.Text.Text)-10:])
	}
	if len(s.Fields) != maxFields || s.Fields[maxFields-1].Text != "_… and 5 more_" {
		t.Errorf("fields: %d, last %q", len(s.Fields), s.Fields[len(s.Fields)-1].Text)
	}
	c := m.Blocks.BlockSet[2].(*slackapi.ContextBlock)
	if n := len(c.ContextElements.Elements); n != maxContextElems {
		t.Errorf("context elements: %d", n)
	}
	if len(m.Attachments) != 1 || m.Attachments[0].Color != "" {
		t.Errorf("attachments: want one, without the invalid colour: %+v", m.Attachments)
	}
	att := m.Attachments[0].Blocks.BlockSet
	act := att[0].(*slackapi.ActionBlock)
	if n := len(act.Elements.ElementSet); n != 2 {
		t.Fatalf("buttons: %d, want 2 (no url and javascript: dropped)", n)
	}
	b0, b1 := act.Elements.ElementSet[0].(*slackapi.ButtonBlockElement), act.Elements.ElementSet[1].(*slackapi.ButtonBlockElement)
	if b0.ActionID == b1.ActionID || textLen(b0.Text.Text) > maxButtonText || b0.Style != "" {
		t.Errorf("buttons: %+v %+v", b0, b1)
	}
	last := att[len(att)-1].(*slackapi.ContextBlock)
	if got := last.ContextElements.Elements[0].(*slackapi.TextBlockObject).Text; !strings.Contains(got, "more blocks not shown") {
		t.Errorf("last block = %q, want the cut marker", got)
	}
}

func TestFitMrkdwn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		n        int
		want     string
	}{
		{"fits", "abc", 3, "abc"},
		{"cut", "abcdefghij", 8, "abcdefg…"},
		{"entity", "ab&amp;cdefghijk", 6, "ab…"},
		{"link", "a <https://x.example|x> b c d e f g h", 14, "a …"},
		{"fence", "```abcdefghijklmnop```", 15, "```abcdefg…\n```"},
		{"closed fence", "```ab``` cdefghijklmnop", 15, "```ab``` cdefg…"},
		{"surrogates", strings.Repeat("🚀", 10), 10, "🚀🚀🚀🚀…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := fitMrkdwn(tc.in, tc.n)
			if got != tc.want {
				t.Errorf("fitMrkdwn(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
			if textLen(got) > tc.n {
				t.Errorf("%d units, max %d", textLen(got), tc.n)
			}
		})
	}
}

// TestParseRejects lists template outputs that must fall back to the
// default rather than be sent.
func TestParseRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in string }{
		{"not json", `{"text": "a`},
		{"text only", `hello`},
		{"trailing data", `{"text": "a"} {"text": "b"}`},
		{"unknown key", `{"txt": "a"}`},
		{"empty", `{}`},
		{"unknown block", `{"text": "a", "blocks": [{"type": "headline", "text": "x"}]}`},
		{"block not allowed", `{"text": "a", "blocks": [{"type": "input", "label": {"type": "plain_text", "text": "x"}, "element": {"type": "plain_text_input"}}]}`},
		{"unknown element", `{"text": "a", "blocks": [{"type": "actions", "elements": [{"type": "rocket"}]}]}`},
		{"unknown block in attachment", `{"attachments": [{"blocks": [{"type": "carousel"}]}]}`},
		{"null block", `{"text": "a", "blocks": [null]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := parse([]byte(tc.in)); err == nil {
				t.Errorf("parse(%s) accepted it", tc.in)
			}
		})
	}
}

// TestFallback: a user template that emits invalid JSON still gives the
// default message, and the failure is reported.
func TestFallback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, tmpl string }{
		{"invalid json", `{{ define "slack.build.message" }}{"text": {{ .Project }}}{{ end }}`},
		{"unknown block", `{{ define "slack.build.message" }}{"text": "x", "blocks": [{"type": "headline"}]}{{ end }}`},
		{"execution error", `{{ define "slack.build.message" }}{{ fail "boom" }}{{ end }}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "slack.tmpl"), []byte(tc.tmpl), 0o644); err != nil {
				t.Fatal(err)
			}
			set, err := templates.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			a, err := New(config.Destination{Name: "ci-alerts", Type: config.TypeSlack}, set, nil, zerolog.New(&logs))
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var seen []string
			a.OnFallback = func(name string, err error) {
				mu.Lock()
				defer mu.Unlock()
				seen = append(seen, name+": "+err.Error())
			}
			ev := buildCases()[1].ev
			got, err := a.Build(ev)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			want, err := newAdapter(t, templates.Defaults()).Build(ev)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Body, want.Body) {
				t.Errorf("fallback body differs from the default:\n got %s\nwant %s", got.Body, want.Body)
			}
			if len(seen) != 1 || !strings.HasPrefix(seen[0], "slack.build.message: ") {
				t.Errorf("OnFallback calls: %q", seen)
			}
			if !strings.Contains(logs.String(), `"template":"slack.build.message"`) || !strings.Contains(logs.String(), `"level":"warn"`) {
				t.Errorf("no warning logged: %s", logs.String())
			}
		})
	}
}

// TestUserTemplate: a valid user template is used as written, fitted.
func TestUserTemplate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tmpl := `{{ define "slack.build.message" }}{"blocks": [{"type": "header", "text": {"type": "plain_text", "text": {{ json (printf "%s %s" .Project (repeatText 200)) }}}}]}{{ end }}`
	tmpl = strings.Replace(tmpl, "(repeatText 200)", `"`+strings.Repeat("y", 200)+`"`, 1)
	if err := os.WriteFile(filepath.Join(dir, "slack.tmpl"), []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := templates.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	a := newAdapter(t, set)
	a.OnFallback = func(name string, err error) { t.Errorf("unexpected fallback: %v", err) }
	p, err := a.Build(buildCases()[1].ev)
	if err != nil {
		t.Fatal(err)
	}
	checkMessage(t, p.Body)
	if !bytes.Contains(p.Body, []byte(`"text":":x: Build #118 failed`)) {
		t.Errorf("missing fallback text: %s", p.Body)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	if _, err := New(config.Destination{Name: "s", Type: config.TypeSlack, URL: "ftp://secret.example/T/B/token"}, nil, nil, zerolog.Nop()); err == nil {
		t.Error("ftp url accepted")
	} else if strings.Contains(err.Error(), "token") {
		t.Errorf("error leaks the url: %v", err)
	}
	if _, err := New(config.Destination{Name: "render", Type: config.TypeSlack}, nil, nil, zerolog.Nop()); err != nil {
		t.Errorf("no url (herald render): %v", err)
	}
}

// TestSend runs one attempt against a scripted server per answer.
func TestSend(t *testing.T) {
	t.Parallel()
	const token = "xoxb-SECRET-PATH-TOKEN"
	for _, tc := range []struct {
		name       string
		status     int
		body       string
		header     map[string]string
		refused    bool
		wantErr    bool
		retry      bool
		reason     string
		retryAfter time.Duration
	}{
		{name: "200 ok", status: 200, body: "ok"},
		{name: "200 ok newline", status: 200, body: "ok\n"},
		{name: "200 not ok", status: 200, body: "not ok", wantErr: true, reason: "http 200 not ok"},
		{name: "200 empty", status: 200, body: "", wantErr: true, reason: "http 200"},
		{name: "400 invalid_blocks", status: 400, body: "invalid_blocks", wantErr: true, reason: "http 400 invalid_blocks"},
		{name: "400 no_text", status: 400, body: "no_text", wantErr: true, reason: "http 400 no_text"},
		{name: "403 invalid_token", status: 403, body: "invalid_token", wantErr: true, reason: "http 403 invalid_token"},
		{name: "404 no_service", status: 404, body: "no_service", wantErr: true, reason: "http 404 no_service"},
		{name: "410 channel_is_archived", status: 410, body: "channel_is_archived", wantErr: true, reason: "http 410 channel_is_archived"},
		{name: "429 retry after", status: 429, body: "rate_limited", header: map[string]string{"Retry-After": "2"}, wantErr: true, retry: true, reason: "http 429 rate_limited", retryAfter: 2 * time.Second},
		{name: "500", status: 500, body: "internal_error", wantErr: true, retry: true, reason: "http 500 internal_error"},
		{name: "503", status: 503, body: "service_unavailable", wantErr: true, retry: true, reason: "http 503 service_unavailable"},
		{name: "302 redirect", status: 302, header: map[string]string{"Location": "https://elsewhere.example/" + token}, wantErr: true, reason: "http 302 redirect not followed"},
		{name: "connection refused", refused: true, wantErr: true, retry: true, reason: "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got struct {
				sync.Mutex
				body        []byte
				contentType string
				path        string
				n           int
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got.Lock()
				defer got.Unlock()
				got.n++
				got.body = readAll(r)
				got.contentType = r.Header.Get("Content-Type")
				got.path = r.URL.Path
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			u := srv.URL + "/services/T000/B000/" + token
			if tc.refused {
				u = refusedURL(t) + "/services/T000/B000/" + token
			}
			a, err := New(config.Destination{Name: "s", Type: config.TypeSlack, URL: config.SecretURL(u)}, nil, notify.NewClient(5*time.Second, notify.Egress{AllowPrivate: true}), zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			p, err := a.Build(buildCases()[0].ev)
			if err != nil {
				t.Fatal(err)
			}
			retry, err := a.Send(context.Background(), p)
			if retry != tc.retry {
				t.Errorf("retry = %v, want %v", retry, tc.retry)
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "/services/") {
					t.Errorf("error leaks the url: %q", err)
				}
				var ne *notify.Error
				if !errors.As(err, &ne) {
					t.Fatalf("error %T is not a *notify.Error", err)
				}
				if ne.Reason != tc.reason || ne.Retry != tc.retry || ne.RetryAfter != tc.retryAfter {
					t.Errorf("error = %+v, want reason %q retry %v after %v", ne, tc.reason, tc.retry, tc.retryAfter)
				}
			}
			if tc.refused {
				return
			}
			got.Lock()
			defer got.Unlock()
			if got.n != 1 {
				t.Errorf("%d requests, want exactly one (no redirect followed, no retry)", got.n)
			}
			if !bytes.Equal(got.body, p.Body) || got.contentType != "application/json" || got.path != "/services/T000/B000/"+token {
				t.Errorf("request: %s %q %s", got.contentType, got.path, got.body)
			}
		})
	}
}

func readAll(r *http.Request) []byte {
	var b bytes.Buffer
	_, _ = b.ReadFrom(r.Body)
	return b.Bytes()
}

// refusedURL is a loopback address nothing listens on.
func refusedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr
}

// FuzzBuild: whatever text an event holds, the message is valid and within
// the limits.
func FuzzBuild(f *testing.F) {
	for _, tc := range buildCases() {
		f.Add(string(tc.ev.Kind), tc.ev.Project, tc.ev.StatusText, tc.ev.Commit.Message, tc.ev.Branch)
	}
	a := newAdapter(f, templates.Defaults())
	f.Fuzz(func(t *testing.T, kind, project, statusText, message, branch string) {
		ev := teamcityBuild(event.StatusFailed, func(e *event.Event) {
			e.Project, e.StatusText, e.Commit.Message, e.Branch = project, statusText, message, branch
			e.Crash.Reason, e.Release.Notes, e.Text, e.Agent.Name = statusText, message, message, project
		})
		if _, ok := event.Statuses[event.Kind(kind)]; ok {
			ev.Kind = event.Kind(kind)
		}
		p, err := a.Build(ev)
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		checkMessage(t, p.Body)
	})
}

func TestUnescapeHTML(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"<!date^1|x> & >", `\u003c literal`, `back\slash \\u003c`, "\u2028 \"q\"", "&lt;&amp;"} {
		b, err := json.Marshal(map[string]string{"k": s}) // escapes <, >, &
		if err != nil {
			t.Fatal(err)
		}
		got := unescapeHTML(b)
		var back map[string]string
		if err := json.Unmarshal(got, &back); err != nil || back["k"] != s {
			t.Errorf("unescapeHTML(%s) = %s: %q, %v", b, got, back["k"], err)
		}
		if bytes.Contains(got, []byte(`\u003c`)) && !strings.Contains(s, `\u003c`) {
			t.Errorf("unescapeHTML(%s) = %s kept an escape", b, got)
		}
	}
}

// TestBuildChangeList: "500 changes" as a user template sees them, the
// sender's list in .Raw, one section per change. Block Kit takes 50 blocks:
// the message keeps 49 and a line that counts the rest, and stays valid.
func TestBuildChangeList(t *testing.T) {
	t.Parallel()
	set, err := templates.Load(filepath.Join("testdata", "changes"))
	if err != nil {
		t.Fatal(err)
	}
	a := newAdapter(t, set)
	a.OnFallback = func(name string, err error) { t.Errorf("the user template fell back: %v", err) }
	p, err := a.Build(adapterstest.Changes500())
	if err != nil {
		t.Fatal(err)
	}
	checkMessage(t, p.Body)
	m, err := parse(p.Body)
	if err != nil {
		t.Fatal(err)
	}
	blocks := m.Blocks.BlockSet
	if len(blocks) != maxBlocks {
		t.Fatalf("%d blocks, want %d", len(blocks), maxBlocks)
	}
	first := blocks[1].(*slackapi.SectionBlock).Text.Text
	last := blocks[maxBlocks-1].(*slackapi.ContextBlock).ContextElements.Elements[0].(*slackapi.TextBlockObject).Text
	if !strings.Contains(first, "Change 500: Say") || !strings.Contains(first, "&lt;!channel&gt;") {
		t.Errorf("first change = %q, want the newest, escaped", first)
	}
	if want := fmt.Sprintf(moreBlocksMessage, 501-(maxBlocks-1)); last != want {
		t.Errorf("last block = %q, want %q", last, want)
	}
	golden(t, filepath.Join("testdata", "TestBuildChangeList", "changes-500.golden.json"), p.Body)
}

// ping is a Slack control sequence that notifies people (the conformance
// suite's rule): broadcasts, a user, a user group.
var ping = regexp.MustCompile(`<!(?:channel|here|everyone)(?:\|[^>]*)?>|<@[UW][A-Z0-9]+(?:\|[^>]*)?>|<!subteam\^[A-Z0-9]+(?:\|[^>]*)?>`)

// mentionSet is the defaults with the mentions section of the docs'
// example: jdoe is U012AB3CD on Slack.
func mentionSet() *templates.Set {
	return templates.Defaults().WithMentions(templates.NewMentions([]templates.Person{
		{Match: []string{"jdoe", "jdoe@example.com"}, Slack: "U012AB3CD", TeamsID: "jdoe@example.com", TeamsName: "Jane Doe"},
		{Match: []string{"zoe"}, TeamsID: "zoe@example.com", TeamsName: "Zoë"}, // not on Slack
	}))
}

// TestBuildMentions: a build that broke after a success mentions its
// commit's author, once in the notification text and once under the
// title, and nothing else notifies anyone, whatever the event's text
// says. Other transitions, unknown authors and a set without mentions
// mention no one.
func TestBuildMentions(t *testing.T) {
	t.Parallel()
	a := newAdapter(t, mentionSet())
	broken := func(mod func(*event.Event)) *event.Event {
		return teamcityBuild(event.StatusFailed, func(e *event.Event) {
			e.StatusText = "Tests failed: 3 (1 new), passed: 409"
			e.Transition = "broken"
			if mod != nil {
				mod(e)
			}
		})
	}
	for _, tc := range []struct {
		name    string
		a       *Adapter
		ev      *event.Event
		mention bool
	}{
		{"mention-broken", a, broken(nil), true},
		{"mention-broken-by-email", a, broken(func(e *event.Event) { e.Commit.Author = "Jane Doe <JDoe@Example.com>" }), true},
		{"mention-broken-hostile-text", a, broken(func(e *event.Event) {
			e.Project = "<@U012AB3CD> <!channel>"
			e.Commit.Message = "cc <@U0HOSTILE> <!here> <!subteam^S0123|devs>"
			e.Branch = "<@U012AB3CD>"
		}), true},
		{"still failing", a, teamcityBuild(event.StatusFailed, func(e *event.Event) { e.Transition = "still_failing" }), false},
		{"first", a, teamcityBuild(event.StatusFailed, func(e *event.Event) { e.Transition = "first" }), false},
		{"fixed", a, teamcityBuild(event.StatusSucceeded, func(e *event.Event) { e.Transition = "fixed" }), false},
		{"no transition", a, teamcityBuild(event.StatusFailed, nil), false},
		{"unknown author", a, broken(func(e *event.Event) { e.Commit.Author = "someone-else" }), false},
		{"author not on slack", a, broken(func(e *event.Event) { e.Commit.Author = "zoe" }), false},
		{"no mentions configured", newAdapter(t, templates.Defaults()), broken(nil), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := tc.a.Build(tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			checkMessage(t, p.Body)
			var m map[string]any
			if err := json.Unmarshal(p.Body, &m); err != nil {
				t.Fatal(err)
			}
			var pings []string
			forEachString(m, "", func(path, s string) {
				if isPlainText(m, path) { // shown literally: the header
					return
				}
				for _, p := range ping.FindAllString(s, -1) {
					pings = append(pings, path+" "+p)
				}
			})
			if !tc.mention {
				if len(pings) > 0 {
					t.Fatalf("mentions %q", pings)
				}
				return
			}
			want := []string{".blocks[1].text.text <@U012AB3CD>", ".text <@U012AB3CD>"}
			sort.Strings(pings) // map order
			if strings.Join(pings, "|") != strings.Join(want, "|") {
				t.Errorf("mentions %q, want %q", pings, want)
			}
			golden(t, filepath.Join("testdata", "TestBuildMentions", tc.name+".golden.json"), p.Body)
		})
	}
}
