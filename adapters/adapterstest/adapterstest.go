// Package adapterstest holds the adversarial events every adapter's golden
// tests render: every special character, empty and missing fields, texts of
// 100 KB and 5 MB, 200 stack frames, 500 changes and 500 links; and the
// Build benchmark every adapter runs (BenchBuild). Test code only: nothing
// in production imports it.
package adapterstest

import (
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/sources"
	"github.com/herald-ci/herald/sources/sourcestest"
)

// Case is one named event; its name is the golden file's.
type Case struct {
	Name  string
	Event *event.Event
}

// SHA is the head commit of Build's events.
const SHA = "9b1c3e7f2a4d5b6c7d8e9f0011223344556677aa"

// Build is a finished TeamCity build with every field a build message
// shows.
func Build(status event.Status) *event.Event {
	return &event.Event{
		Source: "teamcity", Type: "BUILD_FINISHED", Kind: event.KindBuild, Status: status,
		Project: "Sample Web", ProjectID: "SampleWeb", BuildConfig: "Client", BuildConfigID: "SampleWeb_Client",
		BuildID: "9041", Number: "142", Branch: "refs/heads/main", DefaultBranch: true,
		URL:      "https://ci.example.com/buildConfiguration/SampleWeb_Client/9041",
		Commit:   event.Commit{SHA: SHA, Author: "dana", Message: "Fix the flaky login test\n\nIt waited on a fixed timer.", URL: "https://git.example.com/web/commit/" + SHA},
		Trigger:  event.Trigger{Type: "vcs", Text: "Git"},
		Agent:    event.Agent{Name: "linux-04"},
		Duration: 3*time.Minute + 12*time.Second,
	}
}

// Nasty is one line of every character that has broken a chat message
// somewhere: quotes, backslashes, a script tag, U+2028, NUL, an escape
// sequence, 4-byte and joined emoji, right-to-left text with an override,
// Slack control sequences, Markdown, entities and a template action.
const Nasty = `Say "hi" \ C:\temp\ </script><script>alert(1)</script> ` +
	"\u2028sep\u2029 nul\x00 esc\x1b[31m 🚀👨‍👩‍👧 مرحبا עולם \u202Egnp.exe " +
	"<!channel> <@U024BE7LH> <https://evil.example|click> **bold** _it_ `code` ```fence``` [l](https://evil.example) " +
	"&amp; & &lt;b&gt; #42 ~x~ <at>everyone</at> {{ .Project }}"

// FiveMB is the size of the largest texts: five times the default request
// body limit, as a sender with a raised limit could post.
const FiveMB = 5 << 20

// Repeat is line repeated, separated by sep, cut to n bytes at a character
// boundary.
func Repeat(line, sep string, n int) string {
	unit := line + sep
	s := strings.Repeat(unit, n/len(unit)+1)[:n]
	for !utf8.ValidString(s) { // a character cut short
		s = s[:len(s)-1]
	}
	return s
}

// Adversarial returns the adversarial events, in a fixed order.
func Adversarial() []Case {
	build := func(f func(ev *event.Event)) *event.Event {
		ev := Build(event.StatusFailed)
		f(ev)
		return ev
	}
	long := strings.Repeat("0123456789 abcdefghij ", 100_000/22+1)[:100_000]
	minimal := func(k event.Kind, s event.Status) *event.Event { return &event.Event{Kind: k, Status: s} }
	return []Case{
		{"quotes", build(func(ev *event.Event) {
			ev.Project, ev.BuildConfig = `The "quoted" project`, `it's`
			ev.Branch = `feature/"x"`
			ev.Commit.Message = `Say "hello" and 'bye'`
			ev.StatusText = `"Exit code 1"`
		})},
		{"backslashes", build(func(ev *event.Event) {
			ev.Project = `C:\ci\agent\`
			ev.Branch = `back\slash\`
			ev.Commit.Message = `escape \n literally \\ and \" here \`
			ev.StatusText = `\u2028 is not a line separator here \`
		})},
		{"newlines", build(func(ev *event.Event) {
			ev.StatusText = "line one\nline two\r\nline three"
			ev.Commit.Message = "subject\nbody\n\nmore body"
			ev.Reason = "first\nsecond"
			ev.Project = "multi\nline\rproject"
		})},
		{"script-tags", build(func(ev *event.Event) {
			ev.Project = `</script><script>alert(1)</script>`
			ev.Commit.Message = `<img src=x onerror=alert(1)> & <at>everyone</at>`
			ev.Links = []event.Link{{Title: "<b>bold</b></script>", URL: "https://ci.example.com/x?a=<b>"}}
		})},
		{"line-separators", build(func(ev *event.Event) {
			ev.Project = "before\u2028after\u2029end"
			ev.Commit.Message = "js\u2028breaker"
			ev.StatusText = "\u2028\u2029"
		})},
		{"emoji", build(func(ev *event.Event) {
			ev.Project = "🚀 Rocket 👨‍👩‍👧 family"
			ev.Branch = "feat/🎉-party"
			ev.Commit.Message = "✨ sparkle 🐛 bug 🇺🇦 flag"
			ev.Agent.Name = "🤖"
		})},
		{"right-to-left", build(func(ev *event.Event) {
			ev.Project, ev.BuildConfig = "مشروع النشر", "בנייה ראשית"
			ev.Commit.Message = "\u202Egnp.exe tricky override"
			ev.Trigger = event.Trigger{User: "דנה"}
		})},
		{"markdown", build(func(ev *event.Event) {
			ev.Project = "**bold** _it_ [link](http://evil.example) # heading ~strike~ `code`"
			ev.Branch = "feature/a_b_c*d*"
			ev.Commit.Message = "- not a list\n1. not numbered"
		})},
		{"control-and-invalid-utf8", build(func(ev *event.Event) {
			ev.Project = "bell\x07 esc\x1b[31m nul\x00 del\x7f"
			ev.BuildConfig = "bad \xff\xfe utf8"
			ev.Commit.Message = "half a rune \xe2\x82"
		})},
		{"long-commit-message", build(func(ev *event.Event) { ev.Commit.Message = long })},
		{"huge-fields", build(func(ev *event.Event) {
			ev.Project, ev.BuildConfig, ev.Number, ev.Branch = long, long, long, long
			ev.StatusText, ev.Reason, ev.Commit.Message, ev.Commit.Author = long, long, long, long
			ev.Trigger.User, ev.Agent.Name, ev.Platform = long, long, long
			ev.Commit.SHA = long
		})},
		{"huge-crash", &event.Event{
			Kind: event.KindCrash, Status: event.StatusCreated,
			AppName: strings.Repeat("\u2028", 10_000), Platform: strings.Repeat(`\`, 10_000),
			Crash: event.Crash{
				Reason:     strings.Repeat("<\u2028>\\\"", 20_000),
				StackTrace: repeated(strings.Repeat("\u2028\\", 5_000), 300),
				AppVersion: long, Name: long, File: long, Line: 1,
			},
		}},
		{"huge-release", &event.Event{
			Kind: event.KindRelease, Status: event.StatusPublished, AppName: long,
			Release: event.Release{Notes: strings.Repeat("<\\\u2028>", 50_000), ShortVersion: long, Version: long, MinOS: long, BundleID: long},
		}},
		// 5 MB texts: a commit message that is one line, release notes and
		// a crash reason of many lines, all made of Nasty.
		{"huge-5mb-commit-message", build(func(ev *event.Event) {
			ev.Commit.Message = Repeat(strings.ReplaceAll(Nasty, "\n", " "), " ", FiveMB)
		})},
		{"huge-5mb-release-notes", &event.Event{
			Source: "appcenter", Kind: event.KindRelease, Status: event.StatusPublished,
			Project: "Pocket Ledger", AppName: "Pocket Ledger", Platform: "Android",
			URL: "https://appcenter.ms/orgs/example/apps/pocket-ledger/distribute/releases/78",
			Release: event.Release{
				ID: "78", Version: "419", ShortVersion: "3.2.1", Size: 48_213_337,
				InstallURL: "https://install.appcenter.ms/orgs/example/apps/pocket-ledger/releases/78",
				Notes:      Repeat("- "+Nasty, "\n", FiveMB),
			},
		}},
		{"huge-5mb-crash-reason", &event.Event{
			Source: "appcenter", Kind: event.KindCrash, Status: event.StatusCreated,
			Project: "Pocket Ledger", AppName: "Pocket Ledger", Platform: "Android",
			URL: "https://appcenter.ms/orgs/example/apps/pocket-ledger/crashes/errors/2202",
			Crash: event.Crash{
				ID: "2202", Name: "LedgerViewController.reload()", AppVersion: "3.2.1 (419)",
				Reason:     "java.lang.OutOfMemoryError: " + Repeat("\tat "+Nasty, "\n", FiveMB),
				StackTrace: frames(12), AffectedUsers: 3, Count: 5,
			},
		}},
		// Every text field 5 MB at once (one string, shared), URLs too.
		{"huge-5mb-fields", func() *event.Event {
			huge := Repeat(Nasty, "\n", FiveMB)
			ev := Build(event.StatusFailed)
			ev.Type, ev.Project, ev.BuildConfig, ev.Number, ev.Branch = huge, huge, huge, huge, huge
			ev.StatusText, ev.Reason, ev.Commit.Message, ev.Commit.Author, ev.Commit.SHA = huge, huge, huge, huge, huge
			ev.Trigger = event.Trigger{Type: huge, User: huge, Text: huge}
			ev.Agent = event.Agent{Name: huge, Pool: huge, Host: huge, IP: huge}
			ev.Platform, ev.AppName, ev.Text = huge, huge, huge
			ev.URL = "https://ci.example.com/" + huge
			ev.Links = []event.Link{{Title: huge, URL: "https://ci.example.com/" + huge}, {Title: huge, URL: "https://ci.example.com/log"}}
			return ev
		}()},
		{"stack-200-frames", &event.Event{
			Source: "appcenter", Kind: event.KindCrash, Status: event.StatusCreated, AppName: "Deep",
			Crash: event.Crash{Reason: "java.lang.StackOverflowError", StackTrace: frames(200)},
		}},
		{"changes-500", Changes500()},
		{"links-500", build(func(ev *event.Event) {
			ev.Source, ev.Type = "generic", "build"
			for i := range 500 {
				title := fmt.Sprintf("Change %d", i+1)
				if i%50 == 7 {
					title = fmt.Sprintf("Change %d: %s", i+1, Nasty)
				}
				ev.Links = append(ev.Links, event.Link{Title: title, URL: "https://git.example.com/web/commit/" + commitHash(i+1)})
			}
		})},
		{"bad-urls", build(func(ev *event.Event) {
			ev.URL = "javascript:alert(1)"
			ev.Commit.URL = "/relative/commit"
			ev.Links = []event.Link{
				{Title: "ftp", URL: "ftp://files.example.com/x"},
				{Title: "space", URL: "https://ok.example.com/a b"},
				{Title: "data", URL: "data:text/html,<script>alert(1)</script>"},
				{Title: "Good link", URL: "https://ok.example.com/good"},
				{Title: "huge", URL: "https://ok.example.com/" + strings.Repeat("a", 5000)},
			}
		})},
		{"many-links", build(func(ev *event.Event) {
			for i := range 10 {
				ev.Links = append(ev.Links, event.Link{Title: fmt.Sprintf("Link %d with a title far longer than any button should show", i), URL: fmt.Sprintf("https://ci.example.com/l/%d", i)})
			}
		})},
		{"minimal-build", minimal(event.KindBuild, event.StatusSucceeded)},
		{"minimal-crash", minimal(event.KindCrash, event.StatusCreated)},
		{"minimal-release", minimal(event.KindRelease, event.StatusPublished)},
		{"minimal-agent", minimal(event.KindAgent, event.StatusRegistered)},
		{"minimal-test", minimal(event.KindTest, event.StatusPing)},
		{"minimal-unknown-kind", minimal("deploy", "done")},
		{"empty-event", &event.Event{}},
	}
}

// commitHash is a made-up Git commit id for change n.
func commitHash(n int) string {
	return fmt.Sprintf("%x", sha1.Sum([]byte(fmt.Sprint("change ", n))))
}

// frames is a stack of n frames of a deep recursion.
func frames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%d com.example.deep.Recursion.call$lambda_%d (Recursion.kt:%d)", i, i, 10+i)
	}
	return out
}

func repeated(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// Changes500 is TeamCity's own failed-build fixture carrying 500 VCS
// changes, decoded by the teamcity source: the event says Changes 500 and
// takes the newest change as its commit, and Raw holds the whole list, as a
// user template that lists the changes reads it
// ({{ range .Raw.payload.lastChanges.change }}).
func Changes500() *event.Event {
	var body []byte
	for _, f := range sourcestest.Fixtures() {
		if f.Name == "teamcity-build-finished-failure" {
			body = f.Body
		}
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		panic(fmt.Sprintf("adapterstest: the TeamCity fixture: %v", err))
	}
	payload := doc["payload"].(map[string]any)
	changes := make([]any, 500)
	for i := range changes {
		n := 500 - i // newest first, as TeamCity lists them
		comment := fmt.Sprintf("Change %d: tune the retry loop of the login form\n\nPart %d of 500.", n, n)
		switch n % 100 {
		case 0:
			comment = fmt.Sprintf("Change %d: %s\n\nsecond line", n, Nasty)
		case 50:
			comment = fmt.Sprintf("Change %d: %s", n, strings.Repeat("very long subject ", 40))
		}
		changes[i] = map[string]any{
			"id":       1000 + n,
			"version":  commitHash(n),
			"username": []string{"dana", "jdoe", "zoë", "ci-bot"}[n%4],
			"date":     "20240115T092410+0000",
			"comment":  comment,
			"href":     fmt.Sprintf("/app/rest/changes/id:%d", 1000+n),
			"webUrl":   fmt.Sprintf("https://ci.example.com/viewModification.html?modId=%d&personal=false", 1000+n),
		}
	}
	payload["lastChanges"] = map[string]any{"count": len(changes), "change": changes}
	payload["changes"] = map[string]any{"count": len(changes), "href": "/app/rest/changes?locator=build:(id:9)"}
	body, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	dec, ok := sources.Lookup("teamcity")
	if !ok {
		panic("adapterstest: no teamcity source")
	}
	ev, err := dec.Decode(body)
	if err != nil {
		panic(fmt.Sprintf("adapterstest: decode 500 changes: %v", err))
	}
	return ev
}
