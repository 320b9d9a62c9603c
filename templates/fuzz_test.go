package templates_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters"
	"github.com/herald-ci/herald/adapters/teams"
	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/sources/sourcestest"
	"github.com/herald-ci/herald/templates"
)

// renderers are the adapters that render the default templates, by their
// `herald render` names (adapters.ForRender), and the check each payload
// must pass. webhook forwards the sender's body and renders nothing; it is
// here so that a fuzzed event cannot break it either.
var renderers = []struct {
	name  string
	check func(t *testing.T, body []byte)
}{
	{"slack", checkSlack},
	{"teams", func(t *testing.T, b []byte) { checkTeams(t, "workflows", b) }},
	{"teams-adaptive-card", func(t *testing.T, b []byte) { checkTeams(t, "adaptive-card", b) }},
	{"teams-messagecard", func(t *testing.T, b []byte) { checkTeams(t, "messagecard", b) }},
	{"console", checkConsole},
	{"webhook", checkJSON},
}

// textFields are the event's free-text fields: what a sender (or whoever
// wrote the commit message, the branch name or the crash) controls.
var textFields = []func(*event.Event, string){
	func(e *event.Event, s string) { e.Commit.Message = s },
	func(e *event.Event, s string) { e.Commit.Author = s },
	func(e *event.Event, s string) { e.Branch = s },
	func(e *event.Event, s string) { e.Project = s },
	func(e *event.Event, s string) { e.Reason = s },
	func(e *event.Event, s string) { e.Release.Notes = s },
	func(e *event.Event, s string) { e.Crash.Reason = s },
	func(e *event.Event, s string) { e.Crash.StackTrace = strings.Split(s, "\n") },
	func(e *event.Event, s string) { e.BuildConfig = s },
	func(e *event.Event, s string) { e.StatusText = s },
	func(e *event.Event, s string) { e.Number = s },
	func(e *event.Event, s string) { e.Trigger.User = s },
	func(e *event.Event, s string) { e.Trigger.Text = s },
	func(e *event.Event, s string) { e.Agent.Name = s },
	func(e *event.Event, s string) { e.Agent.Pool = s },
	func(e *event.Event, s string) { e.Agent.Host = s },
	func(e *event.Event, s string) { e.AppName = s },
	func(e *event.Event, s string) { e.Platform = s },
	func(e *event.Event, s string) { e.Text = s },
	func(e *event.Event, s string) { e.Crash.Name = s },
	func(e *event.Event, s string) { e.Crash.File = s },
	func(e *event.Event, s string) { e.Release.ShortVersion = s },
	func(e *event.Event, s string) { e.Release.MinOS = s },
	func(e *event.Event, s string) { e.Release.BundleID = s },
}

// FuzzRender takes a decoded fixture (which picks it), replaces every
// free-text field with one of three fuzzed strings (rot shifts which gets
// which) and builds the payload of every adapter with the default
// templates. Whatever the text, Build succeeds and its payload
//
//   - slack: is JSON within Block Kit's limits, and event text never
//     becomes mrkdwn markup: no <...> but the template's own date token,
//     no bare & (slackEscape's promise);
//   - teams (workflows, adaptive-card, messagecard): is JSON of at most
//     28 KB, and in every text Teams renders as Markdown the characters
//     teamsEscape escapes stay escaped;
//   - console: is at most two lines, with no other line break (\r, \v,
//     \f, U+0085, U+2028, U+2029) in them: the console template's promise;
//   - webhook: is JSON.
func FuzzRender(f *testing.F) {
	cases := sourcestest.Events(f)
	for i, c := range cases {
		ev := c.Event
		f.Add(uint8(i), uint8(0), ev.Commit.Message, ev.Project+ev.AppName, ev.Reason+ev.Crash.Reason+ev.Release.Notes)
	}
	for i, s := range []string{
		"<!channel> <!here|here> <@U024BE7LH> <#C024BE7LR> <https://evil.example|click> <mailto:a@b.c>",
		"&lt;!channel&gt; & &amp; &#60;!here&#62; &",
		"**bold** __b__ _it_ `code` ```block``` [link](https://evil.example) ![i](https://x) ~strike~ <at>Bob</at>",
		"# heading\n## two\n> quote\n- item\n1. one\n\\*\\_\\",
		"line\r\nbreak\u2028sep\u2029para\u0085nel\vvt\fff\ttab",
		"\u202eevil\u202c \u2066iso\u2069 \x00\x1b[31m\x7f\u0080",
		"\xff\xfe\xc0\xaf invalid UTF-8 \xed\xa0\x80",
		"😀👩‍👩‍👧‍👦🏳️‍🌈" + strings.Repeat("🎉", 200),
		strings.Repeat("<&>", 300),
		strings.Repeat("at com.example.Frame.method(Frame.java:42)\n", 60),
		strings.Repeat("\\", 301) + strings.Repeat("*", 301),
		"",
	} {
		f.Add(uint8(i), uint8(i), s, s, s)
		f.Add(uint8(i*7), uint8(i+1), s, "<!channel>", "")
	}

	built := make([]adapters.Adapter, len(renderers))
	for i, r := range renderers {
		a, err := adapters.ForRender(r.name, templates.Defaults(), zerolog.Nop())
		if err != nil {
			f.Fatal(err)
		}
		built[i] = a
	}
	f.Fuzz(func(t *testing.T, which, rot uint8, a, b, c string) {
		ev := *cases[int(which)%len(cases)].Event
		texts := []string{a, b, c}
		for i, set := range textFields {
			set(&ev, texts[(i+int(rot))%len(texts)])
		}
		for i, r := range renderers {
			p, err := built[i].Build(&ev)
			if err != nil {
				t.Fatalf("%s: Build: %v", r.name, err)
			}
			r.check(t, p.Body)
			if t.Failed() {
				t.Fatalf("%s payload:\n%s", r.name, p.Body)
			}
		}
	})
}

func checkJSON(t *testing.T, body []byte) {
	t.Helper()
	if !json.Valid(body) || !utf8.Valid(body) {
		t.Fatalf("not valid JSON in UTF-8")
	}
}

// Block Kit's limits (https://docs.slack.dev/reference/block-kit/blocks),
// counted as the adapter counts them, in UTF-16 code units.
const (
	slackMaxBlocks      = 50
	slackMaxHeader      = 150
	slackMaxText        = 3000 // section text, any text object
	slackMaxFields      = 10
	slackMaxField       = 2000
	slackMaxContext     = 10
	slackMaxActions     = 25
	slackMaxButton      = 75
	slackMaxURL         = 3000
	slackMaxMarkdown    = 12000 // markdown block
	slackMaxMessageText = 40000 // top-level text
)

// slackDate is the one <...> the default templates write themselves: a
// date shown in each reader's time zone, in the context line.
var slackDate = regexp.MustCompile(`<!date\^-?[0-9]+\^\{date_short_pretty\} at \{time\}\|[^<>|]*>`)

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type slackBlock struct {
	Type     string          `json:"type"`
	Text     json.RawMessage `json:"text"`
	Fields   []slackText     `json:"fields"`
	Elements []struct {
		Type string          `json:"type"`
		Text json.RawMessage `json:"text"` // a string, or a button's text object
		URL  string          `json:"url"`
	} `json:"elements"`
}

func checkSlack(t *testing.T, body []byte) {
	t.Helper()
	checkJSON(t, body)
	var m struct {
		Text        string       `json:"text"`
		Blocks      []slackBlock `json:"blocks"`
		Attachments []struct {
			Blocks []slackBlock `json:"blocks"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("not a Slack message: %v", err)
	}
	if strings.TrimSpace(m.Text) == "" || units(m.Text) > slackMaxMessageText {
		t.Errorf("top-level text: %d units", units(m.Text))
	}
	mrkdwn(t, "text", m.Text)
	blocks := m.Blocks
	for _, a := range m.Attachments {
		blocks = append(blocks, a.Blocks...)
	}
	if len(blocks) > slackMaxBlocks {
		t.Errorf("%d blocks", len(blocks))
	}
	for i, b := range blocks {
		where := fmt.Sprintf("block %d (%s)", i, b.Type)
		switch b.Type {
		case "header":
			var o slackText
			_ = json.Unmarshal(b.Text, &o)
			if o.Type != "plain_text" || units(o.Text) > slackMaxHeader {
				t.Errorf("%s: %s of %d units", where, o.Type, units(o.Text))
			}
		case "section":
			var o *slackText
			_ = json.Unmarshal(b.Text, &o)
			if o == nil && len(b.Fields) == 0 {
				t.Errorf("%s: empty", where)
			}
			if o != nil {
				textObject(t, where, *o, slackMaxText)
			}
			if len(b.Fields) > slackMaxFields {
				t.Errorf("%s: %d fields", where, len(b.Fields))
			}
			for _, f := range b.Fields {
				textObject(t, where+" field", f, slackMaxField)
			}
		case "context":
			if len(b.Elements) == 0 || len(b.Elements) > slackMaxContext {
				t.Errorf("%s: %d elements", where, len(b.Elements))
			}
			for _, e := range b.Elements {
				if e.Type == "mrkdwn" || e.Type == "plain_text" {
					o := slackText{Type: e.Type}
					_ = json.Unmarshal(e.Text, &o.Text)
					textObject(t, where, o, slackMaxText)
				}
			}
		case "actions":
			if len(b.Elements) == 0 || len(b.Elements) > slackMaxActions {
				t.Errorf("%s: %d elements", where, len(b.Elements))
			}
			for _, e := range b.Elements {
				if e.Type != "button" {
					continue
				}
				var o slackText
				_ = json.Unmarshal(e.Text, &o)
				if o.Type != "plain_text" || strings.TrimSpace(o.Text) == "" || units(o.Text) > slackMaxButton {
					t.Errorf("%s: button text %+v", where, o)
				}
				if !strings.HasPrefix(e.URL, "http") || units(e.URL) > slackMaxURL {
					t.Errorf("%s: button url %q", where, e.URL)
				}
			}
		case "markdown":
			var s string
			_ = json.Unmarshal(b.Text, &s)
			if units(s) > slackMaxMarkdown {
				t.Errorf("%s: %d units", where, units(s))
			}
		case "divider", "image", "rich_text":
		default:
			t.Errorf("%s: not a message block", where)
		}
	}
}

func textObject(t *testing.T, where string, o slackText, max int) {
	t.Helper()
	if strings.TrimSpace(o.Text) == "" || units(o.Text) > max {
		t.Errorf("%s: %d units, max %d", where, units(o.Text), max)
	}
	switch o.Type {
	case "mrkdwn":
		mrkdwn(t, where, o.Text)
	case "plain_text":
	default:
		t.Errorf("%s: text type %q", where, o.Type)
	}
}

// mrkdwn fails t when s holds Slack markup the templates did not write:
// event text goes through slackEscape, so its &, < and > arrive as
// &amp;, &lt; and &gt;. The templates' own markup is the date token and a
// quote's "> " at the start of a line (the test ping's text).
func mrkdwn(t *testing.T, where, s string) {
	t.Helper()
	if p := mrkdwnProblem(s); p != "" {
		t.Errorf("%s: %s", where, p)
	}
}

func mrkdwnProblem(s string) string {
	s = slackDate.ReplaceAllString(s, "")
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '<':
			return fmt.Sprintf("unescaped < in mrkdwn at %d: %q", i, around(s, i))
		case '>':
			if (i == 0 || s[i-1] == '\n') && (i+1 == len(s) || s[i+1] == ' ') {
				continue
			}
			return fmt.Sprintf("unescaped > in mrkdwn at %d: %q", i, around(s, i))
		case '&':
			if !strings.HasPrefix(s[i:], "&amp;") && !strings.HasPrefix(s[i:], "&lt;") && !strings.HasPrefix(s[i:], "&gt;") {
				return fmt.Sprintf("bare & in mrkdwn at %d: %q", i, around(s, i))
			}
		}
	}
	return ""
}

func checkTeams(t *testing.T, format string, body []byte) {
	t.Helper()
	checkJSON(t, body)
	if len(body) > teams.MaxMessageBytes {
		t.Errorf("%d bytes, Teams takes %d", len(body), teams.MaxMessageBytes)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	m, _ := v.(map[string]any)
	if format == "messagecard" {
		if s, _ := m["sections"].([]any); len(s) > 10 {
			t.Errorf("%d sections, the connector takes 10", len(s))
		}
	}
	walkJSON(v, func(key string, parent map[string]any) {
		if markdownKey(format, key, parent) {
			s, _ := parent[key].(string)
			markdown(t, key, s)
		}
	})
}

// markdownKey says whether parent[key] is text Teams renders as Markdown:
// an Adaptive Card's TextBlock text and FactSet facts, a MessageCard's
// section titles, texts and facts. Button titles and the MessageCard
// summary are plain text.
func markdownKey(format, key string, parent map[string]any) bool {
	if format != "messagecard" {
		switch key {
		case "text":
			return parent["type"] == "TextBlock"
		case "title", "value":
			_, isAction := parent["type"]
			return !isAction // a fact has no type
		}
		return false
	}
	switch key {
	case "activityTitle", "activitySubtitle", "activityText", "text", "title", "name", "value":
		_, isAction := parent["@type"]
		_, isCard := parent["@context"]
		return !isAction && !isCard
	}
	return false
}

// markdown fails t when s holds a character teamsEscape escapes, unescaped,
// or starts a line with a Markdown heading. The templates write no such
// character themselves but "#" before a build number.
func markdown(t *testing.T, where, s string) {
	t.Helper()
	if p := markdownProblem(s); p != "" {
		t.Errorf("%s: %s", where, p)
	}
}

func markdownProblem(s string) string {
	r := []rune(s)
	for i := 0; i < len(r); i++ {
		switch r[i] {
		case '\\':
			i++ // an escaped character
		case '*', '_', '`', '[', ']', '<', '>', '~':
			return fmt.Sprintf("unescaped %q in Markdown at %d: %q", r[i], i, around(s, len(string(r[:i]))))
		case '#':
			j := i
			for j < len(r) && r[j] == '#' {
				j++
			}
			if (i == 0 || r[i-1] == '\n') && j-i <= 6 && (j == len(r) || r[j] == ' ' || r[j] == '\t') {
				return fmt.Sprintf("a Markdown heading: %q", around(s, len(string(r[:i]))))
			}
			i = j - 1
		}
	}
	return ""
}

// lineBreaks are the characters a terminal or log viewer may start a new
// line at (Unicode's mandatory breaks); console's template turns them
// into spaces but for the one line break between its two lines.
const lineBreaks = "\r\v\f\u0085\u2028\u2029"

func checkConsole(t *testing.T, body []byte) {
	t.Helper()
	if n := bytes.Count(body, []byte("\n")); n > 1 {
		t.Errorf("%d lines, at most 2", n+1)
	}
	if i := bytes.IndexAny(body, lineBreaks); i >= 0 {
		t.Errorf("line break %q in the summary at %d", string([]rune(string(body[i:]))[0]), i)
	}
}

// walkJSON calls fn for every member of every object under v.
func walkJSON(v any, fn func(key string, parent map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			fn(k, x)
			walkJSON(c, fn)
		}
	case []any:
		for _, c := range x {
			walkJSON(c, fn)
		}
	}
}

// units is s's length in UTF-16 code units.
func units(s string) int {
	n := 0
	for _, r := range s {
		n += max(utf16.RuneLen(r), 1)
	}
	return n
}

func around(s string, i int) string {
	lo, hi := max(i-20, 0), min(i+20, len(s))
	return s[lo:hi]
}

// TestFuzzRenderChecks: the checks FuzzRender relies on catch what they
// are for, and the escaping they expect is there.
func TestFuzzRenderChecks(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"<!channel>", "a > b", "<https://x|y>", "AT&T", "&lt", "x <!date^1^{date_short_pretty} at {time}|x> <@U1>"} {
		if mrkdwnProblem(s) == "" {
			t.Errorf("mrkdwn %q passes", s)
		}
	}
	for _, s := range []string{"&lt;!channel&gt;", "&amp;lt;", "> quote\n> more", "<!date^1714658620^{date_short_pretty} at {time}|May 2, 2024 at 14:03 UTC> · x"} {
		if p := mrkdwnProblem(s); p != "" {
			t.Errorf("mrkdwn %q: %s", s, p)
		}
	}
	for _, s := range []string{"**b**", "_i_", "[l](https://x)", "<at>x</at>", "# h", "a\n## h", `\\*`, "###"} {
		if markdownProblem(s) == "" {
			t.Errorf("Markdown %q passes", s)
		}
	}
	for _, s := range []string{"\\*\\*b\\*\\*", "Build #42 failed", "#42", "&lt;at&gt;", "a \\\\ b", "C\\# (default)"} {
		if p := markdownProblem(s); p != "" {
			t.Errorf("Markdown %q: %s", s, p)
		}
	}

	ev := *sourcestest.Events(t)[0].Event
	ev.Commit.Message, ev.Project, ev.StatusText = "<!channel> **x**", "<!here>", "a & b"
	for _, r := range renderers[:2] {
		a, err := adapters.ForRender(r.name, templates.Defaults(), zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		p, err := a.Build(&ev)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range map[string][]string{
			"slack": {"&lt;!channel&gt;", "a &amp; b"},
			"teams": {"&lt;!channel&gt; \\\\*\\\\*x\\\\*\\\\*"},
		}[r.name] {
			if !strings.Contains(string(p.Body), want) {
				t.Errorf("%s: %s not in\n%s", r.name, want, p.Body)
			}
		}
		r.check(t, p.Body)
	}
}
