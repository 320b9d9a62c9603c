package templates_test

import (
	"encoding/json"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters"
	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/templates"
)

// roundTripPieces are what the random texts are made of: every character
// that has broken a chat payload somewhere, the platforms' own markup, and
// plain letters so that the nasty ones also meet ordinary text.
var roundTripPieces = []string{
	`"`, `'`, `\`, `\\`, `\n`, `\"`, `\u2028`, "\n", "\r\n", "\r", "\t", "\v", "\f",
	"</script>", "<script>alert(1)</script>", "\u2028", "\u2029", "\u0085",
	"\x00", "\x1b[31m", "\x07", "\x7f", "\u009b", "\u202e", "\u202a", "\u2066", "\u200b", "\u200d", "\ufeff", "\u00a0",
	"🚀", "👨‍👩‍👧", "🇺🇦", "𝄞", "é", "e\u0301", "مرحبا", "עולם", "日本語",
	"<!channel>", "<!here|here>", "<@U024BE7LH>", "<#C024BE7LR>", "<https://evil.example|click>", "<mailto:a@b.c>",
	"&", "&amp;", "&lt;", "&gt;", "&#60;", "&quot;", "<", ">", "<<", ">>",
	"*", "**", "_", "__", "`", "```", "~", "#", "# ", "- ", "1. ", "> ", "[x](https://evil.example)", "![i](https://x)", "|",
	"<at>Bob</at>", "{{ .Project }}", "{{", "}}", "%s", "%!d", "${HOME}",
	" ", "  ", "a", "Z", "0", "42", "main", "refs/heads/", "feature/x",
}

// roundTripText is a random text of at most 40 characters: short enough
// that no template or adapter cuts it.
func roundTripText(r *rand.Rand) string {
	var b strings.Builder
	for n := 1 + r.IntN(12); n > 0; n-- {
		var p string
		switch r.IntN(4) {
		case 0: // any character outside the surrogates
			c := rune(r.IntN(0x10ffff))
			if c >= 0xd800 && c <= 0xdfff {
				c = 'x'
			}
			p = string(c)
		default:
			p = roundTripPieces[r.IntN(len(roundTripPieces))]
		}
		if utf8.RuneCountInString(b.String()+p) > 40 {
			break
		}
		b.WriteString(p)
	}
	return b.String()
}

// fold is how a title shows text: runs of white space and line breaks
// one space, control characters removed (every adapter does,
// templates.Clean). Slack's header and notification text and the console's line fold
// what they show; the test compares folded with folded there.
func fold(s string) string {
	// White space first, as the templates fold it before the adapter
	// cleans: a form feed is a space in a title, not a removed control.
	s = foldRE.ReplaceAllString(s, " ")
	return strings.TrimSpace(foldRE.ReplaceAllString(templates.Clean(s), " "))
}

var foldRE = regexp.MustCompile(`[\s\v\x{85}\x{2028}\x{2029}]+`)

// TestRoundTrip: "JSON-safe by construction", proved on random text. A
// build event whose commit message, project and branch are random strings
// of the nastiest characters is built by every adapter; its payload is
// decoded with json.Unmarshal, the platform's own escaping is undone where
// the platform reads markup (Slack mrkdwn's &amp; &lt; &gt;, Teams
// Markdown's backslash escapes and entities), and each text must be found
// again exactly as a reader sees it:
//
//   - the commit subject (the message's first non-blank line) in the
//     Slack and Teams commit field, exactly;
//   - the branch in the Slack and Teams branch field, exactly (Slack puts
//     it in code, so a backtick is shown as ');
//   - the project in the Teams title exactly, and folded (line breaks as
//     spaces) in Slack's header and the console line;
//
// in every case without the control characters every adapter removes
// (templates.Clean). The console does not show commit messages.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	type view struct {
		field, want string
		folded      bool // compare with fold on both sides
	}
	views := map[string]func(msg, project, branch string) []view{
		"slack": func(msg, project, branch string) []view {
			return []view{
				{"commit subject", templates.Clean(templates.FirstLine(strings.TrimSpace(msg))), false},
				{"branch", templates.Clean(strings.ReplaceAll(strings.TrimPrefix(branch, "refs/heads/"), "`", "'")), false},
				{"project", fold(project), true},
			}
		},
		"teams": func(msg, project, branch string) []view {
			return []view{
				{"commit subject", templates.Clean(templates.FirstLine(strings.TrimSpace(msg))), false},
				{"branch", templates.Clean(strings.TrimPrefix(branch, "refs/heads/")), false},
				{"project", strings.TrimSpace(templates.Clean(project)), false},
			}
		},
		"console": func(msg, project, branch string) []view {
			return []view{
				{"branch", fold(branch), true},
				{"project", fold(project), true},
			}
		},
	}
	type target struct {
		name, platform string
		a              adapters.Adapter
	}
	var targets []target
	for _, n := range []struct{ name, platform string }{
		{"slack", "slack"}, {"teams", "teams"}, {"teams-adaptive-card", "teams"}, {"teams-messagecard", "teams"}, {"console", "console"},
	} {
		a, err := adapters.ForRender(n.name, templates.Defaults(), zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		targets = append(targets, target{n.name, n.platform, a})
	}

	r := rand.New(rand.NewPCG(5, 2028))
	const runs = 400
	for i := range runs {
		msg, project, branch := roundTripText(r), roundTripText(r), roundTripText(r)
		if i%2 == 0 { // a subject, then a body
			msg += "\n\n" + roundTripText(r)
		}
		ev := &event.Event{
			Source: "teamcity", Type: "BUILD_FINISHED", Kind: event.KindBuild, Status: event.StatusFailed,
			Project: project, BuildConfig: "Client", Number: "142", Branch: branch,
			Commit: event.Commit{SHA: "9b1c3e7f2a4d5b6c7d8e9f0011223344556677aa", Author: "dana", Message: msg},
		}
		for _, tg := range targets {
			p, err := tg.a.Build(ev)
			if err != nil {
				t.Fatalf("%s: Build(msg %q, project %q, branch %q): %v", tg.name, msg, project, branch, err)
			}
			var texts []string
			if tg.platform == "console" {
				texts = []string{string(p.Body)}
			} else {
				var v any
				if err := json.Unmarshal(p.Body, &v); err != nil {
					t.Fatalf("%s: payload is not JSON: %v\n%s", tg.name, err, p.Body)
				}
				texts = shownTexts(tg.name, v)
			}
			for _, w := range views[tg.platform](msg, project, branch) {
				if w.want == "" {
					continue
				}
				if !containsText(texts, w.want, w.folded) {
					t.Errorf("%s: the %s is not shown as it was sent:\n msg %q\n project %q\n branch %q\n want %q\n in %q",
						tg.name, w.field, msg, project, branch, w.want, texts)
				}
			}
		}
		if t.Failed() {
			return
		}
	}
}

func containsText(texts []string, want string, folded bool) bool {
	for _, s := range texts {
		if folded {
			s = fold(s)
		}
		if strings.Contains(s, want) {
			return true
		}
	}
	return false
}

// shownTexts are the strings of a decoded payload as a reader sees them:
// mrkdwn (Slack) and Markdown (Teams) with the escaping undone, plain text
// as it is.
func shownTexts(adapter string, v any) []string {
	var out []string
	var walk func(v any, parent map[string]any, key string)
	walk = func(v any, parent map[string]any, key string) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				walk(c, x, k)
			}
		case []any:
			for _, c := range x {
				walk(c, parent, key)
			}
		case string:
			switch {
			case adapter == "slack" && key == "text" && (parent["type"] == "mrkdwn" || parent["blocks"] != nil):
				out = append(out, unescapeSlack(x))
			case adapter != "slack" && teamsMarkdown(adapter, key, parent):
				out = append(out, unescapeTeams(x))
			default:
				out = append(out, x)
			}
		}
	}
	walk(v, nil, "")
	return out
}

// teamsMarkdown says whether parent[key] is text Teams reads as Markdown:
// an Adaptive Card's TextBlock text and facts, a MessageCard's section
// titles, texts and facts. Button titles and the MessageCard summary are
// plain text.
func teamsMarkdown(adapter, key string, parent map[string]any) bool {
	if adapter != "teams-messagecard" {
		switch key {
		case "text":
			return parent["type"] == "TextBlock"
		case "title", "value":
			_, typed := parent["type"]
			return !typed // a fact
		}
		return false
	}
	switch key {
	case "activityTitle", "activitySubtitle", "activityText", "text", "title", "name", "value":
		_, action := parent["@type"]
		_, card := parent["@context"]
		return !action && !card
	}
	return false
}

// unescapeSlack undoes slackEscape: &lt; &gt; &amp;, in one pass.
func unescapeSlack(s string) string {
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

// unescapeTeams undoes teamsEscape in one pass: a backslash escapes the
// next character, and &lt; &gt; &amp; are entities.
func unescapeTeams(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case strings.HasPrefix(s[i:], "&lt;"):
			b.WriteByte('<')
			i += len("&lt;") - 1
		case strings.HasPrefix(s[i:], "&gt;"):
			b.WriteByte('>')
			i += len("&gt;") - 1
		case strings.HasPrefix(s[i:], "&amp;"):
			b.WriteByte('&')
			i += len("&amp;") - 1
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// TestRoundTripDecoders: the decoders the round trip relies on undo
// exactly what the escapers do, so a failure of TestRoundTrip is a
// payload's fault, not the test's.
func TestRoundTripDecoders(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		s := roundTripText(r)
		if got := unescapeSlack(templates.SlackEscape(s)); got != s {
			t.Fatalf("unescapeSlack(SlackEscape(%q)) = %q", s, got)
		}
		if got := unescapeTeams(templates.TeamsEscape(s)); got != s {
			t.Fatalf("unescapeTeams(TeamsEscape(%q)) = %q", s, got)
		}
	}
}
