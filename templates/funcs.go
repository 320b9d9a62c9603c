package templates

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/Masterminds/sprig/v3"

	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/internal/jsonstr"
)

// forbidden are sprig functions removed from every template: they read the
// environment or the network, generate keys, or allocate without bound.
var forbidden = []string{
	"env", "expandenv", "getHostByName",
	"genPrivateKey", "derivePassword", "buildCustomCert", "genCA", "genCAWithKey",
	"genSelfSignedCert", "genSelfSignedCertWithKey", "genSignedCert", "genSignedCertWithKey",
	"repeat", "until", "untilStep", "seq",
	"now", "date", "dateInZone", "date_in_zone", "ago", "htmlDate", "htmlDateInZone",
	"randAlpha", "randAlphaNum", "randAscii", "randNumeric", "randBytes", "randInt", "uuidv4", "shuffle",
}

// Funcs is sprig's text function map without the forbidden functions, plus
// herald's helpers:
//
//	json          any value as a JSON literal: "{{ json .Project }}" is a quoted, escaped string
//	statusEmoji   a Slack emoji shortcode for the event's kind and status
//	statusColor   a hex colour for the status (#2EB67D green, #E01E5A red, ...)
//	statusStyle   an Adaptive Card container style: good, attention, warning, accent, default
//	statusWord    a short human word: "succeeded", "failed", "was canceled"...
//	humanDuration 1h 2m, 3m 12s, 45s
//	humanBytes    12.3 MB
//	shortSHA      the first 7 characters of a commit hash
//	truncate N s  s cut to N characters with a visible "…"
//	firstLine     the first line of s
//	slackEscape   &, <, > escaped so event text never becomes Slack markup
//	teamsEscape   Markdown-significant characters (and &, <, >) escaped for Teams text
//	mention       the commit author's mention from the config's mentions section,
//	              or "" when the author is not listed there:
//	              {{ mention . "slack" }} is <@U012AB3CD>, {{ mention . "teams" }} is
//	              <at>Jane Doe</at>. Put it in the text as it is (never through
//	              slackEscape or teamsEscape): it is the only markup of this kind a
//	              default template writes. A Teams mention notifies only with its
//	              entity in the card's msteams.entities, from mentionEntity.
//	              MessageCards cannot mention anyone.
//	mentionEntity the msteams.entities entry for {{ mention . "teams" }}, nil when
//	              there is none:
//	              {{ with mentionEntity . }}"entities": [{{ json . }}]{{ end }}
//	include       a template's output as a string, to use as a value:
//	              {{ $title := include "slack.build.title" . }}. Give it the
//	              template's dot: it carries the rendering's limits (limits.go).
func Funcs() template.FuncMap {
	f := sprig.TxtFuncMap()
	for _, name := range forbidden {
		delete(f, name)
	}
	for k, v := range regexpFuncs {
		f[k] = v
	}
	for k, v := range map[string]any{
		"json":          jsonLiteral,
		"statusEmoji":   ofEvent(StatusEmoji),
		"statusColor":   ofEvent(StatusColor),
		"statusStyle":   ofEvent(StatusStyle),
		"statusWord":    ofEvent(StatusWord),
		"humanDuration": HumanDuration,
		"humanBytes":    HumanBytes,
		"shortSHA":      ShortSHA,
		"truncate":      Truncate,
		"firstLine":     FirstLine,
		"slackEscape":   SlackEscape,
		"teamsEscape":   TeamsEscape,
		"clean":         Clean,
		"mention":       mention,
		"mentionEntity": mentionEntity,
		"include":       include,
	} {
		f[k] = v
	}
	return f
}

// ofEvent lets a status helper take the template's dot ({{ statusWord . }})
// as well as the event itself ({{ statusWord .Event }}).
func ofEvent(f func(*event.Event) string) func(any) (string, error) {
	return func(v any) (string, error) {
		switch x := v.(type) {
		case *event.Event:
			if x != nil {
				return f(x), nil
			}
		case *Data:
			if x != nil && x.Event != nil {
				return f(x.Event), nil
			}
		}
		return "", fmt.Errorf("want the event or the template's dot, got %T", v)
	}
}

// jsonLiteral encodes v as JSON without HTML escaping, so a template can
// place it anywhere a JSON value goes.
//
// Strings, nearly every value the defaults write, take a fast path that
// writes the same bytes as encoding/json (internal/jsonstr) in one
// allocation; anything else goes through an Encoder.
func jsonLiteral(v any) (string, error) {
	if s, ok := v.(string); ok {
		if jsonstr.Plain(s) {
			return `"` + s + `"`, nil
		}
		return string(jsonstr.Append(make([]byte, 0, len(s)+16), s)), nil
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// StatusEmoji is a Slack shortcode for the event.
func StatusEmoji(ev *event.Event) string {
	switch ev.Kind {
	case event.KindCrash:
		return ":boom:"
	case event.KindRelease:
		return ":rocket:"
	case event.KindTest:
		return ":bell:"
	case event.KindAgent:
		switch ev.Status {
		case event.StatusRegistered:
			return ":large_green_circle:"
		case event.StatusRemoved:
			return ":no_entry:"
		default:
			return ":red_circle:"
		}
	}
	switch ev.Status {
	case event.StatusSucceeded:
		return ":white_check_mark:"
	case event.StatusFailed:
		return ":x:"
	case event.StatusInterrupted:
		return ":octagonal_sign:"
	case event.StatusStarted:
		return ":arrow_forward:"
	case event.StatusQueued, event.StatusChangesLoaded:
		return ":hourglass_flowing_sand:"
	case event.StatusProblemsChanged:
		return ":warning:"
	}
	return ":information_source:"
}

// Colours, from Slack's own palette.
const (
	colorGood    = "#2EB67D"
	colorDanger  = "#E01E5A"
	colorWarning = "#ECB22E"
	colorInfo    = "#36C5F0"
	colorNeutral = "#9E9EA6"
)

// StatusColor is a hex colour for the event's status.
func StatusColor(ev *event.Event) string {
	switch StatusStyle(ev) {
	case "good":
		return colorGood
	case "attention":
		return colorDanger
	case "warning":
		return colorWarning
	case "accent":
		return colorInfo
	}
	return colorNeutral
}

// StatusStyle is an Adaptive Card container style for the event.
func StatusStyle(ev *event.Event) string {
	switch {
	case ev.Kind == event.KindCrash:
		return "attention"
	case ev.Kind == event.KindRelease:
		return "good"
	case ev.Kind == event.KindTest:
		return "accent"
	case ev.Kind == event.KindAgent:
		if ev.Status == event.StatusRegistered {
			return "good"
		}
		return "warning"
	}
	switch ev.Status {
	case event.StatusSucceeded:
		return "good"
	case event.StatusFailed:
		return "attention"
	case event.StatusInterrupted, event.StatusProblemsChanged:
		return "warning"
	case event.StatusStarted, event.StatusQueued, event.StatusChangesLoaded:
		return "accent"
	}
	return "default"
}

// StatusWord is a short phrase for titles: "Build #42 failed".
func StatusWord(ev *event.Event) string {
	switch ev.Status {
	case event.StatusQueued:
		return "queued"
	case event.StatusChangesLoaded:
		return "changes loaded"
	case event.StatusStarted:
		return "started"
	case event.StatusSucceeded:
		return "succeeded"
	case event.StatusFailed:
		return "failed"
	case event.StatusInterrupted:
		return "canceled"
	case event.StatusProblemsChanged:
		return "has new problems"
	case event.StatusCreated:
		return "new crash group"
	case event.StatusPublished:
		return "released"
	case event.StatusRegistered:
		return "registered"
	case event.StatusUnregistered:
		return "unregistered"
	case event.StatusRemoved:
		return "removed"
	case event.StatusPing:
		return "test"
	}
	return string(ev.Status)
}

// HumanDuration prints d to the second: "1h 2m", "3m 12s", "45s".
func HumanDuration(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	switch {
	case h > 0:
		return fmt.Sprintf("%dh %dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm %ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

// HumanBytes prints n with a decimal unit: "12.3 MB".
func HumanBytes(n int64) string {
	if n < 1000 {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	for _, u := range []string{"kB", "MB", "GB", "TB"} {
		f /= 1000
		if f < 1000 {
			return fmt.Sprintf("%.1f %s", f, u)
		}
	}
	return fmt.Sprintf("%.1f PB", f/1000)
}

// ShortSHA is the first 7 characters of a commit hash.
func ShortSHA(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// Truncate cuts s to at most n characters (code points), the last being
// "…" when anything was cut. It reads s only up to the cut, so a 5 MB text
// costs no more than a short one.
func Truncate(n int, s string) string {
	if n <= 0 {
		return ""
	}
	count, cut := 0, 0
	for i := range s {
		if count == n-1 {
			cut = i
		}
		if count == n {
			// Through []rune so that an invalid byte reads as U+FFFD, as
			// it does in every character counted.
			return string([]rune(s[:cut])) + "…"
		}
		count++
	}
	return s
}

// FirstLine is s up to its first line break.
func FirstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

var slackReplacer = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// SlackEscape escapes the three characters Slack's mrkdwn treats as
// control sequences, so "<!channel>" or a fake link in a commit message
// stays literal text.
func SlackEscape(s string) string { return slackReplacer.Replace(s) }

var teamsReplacer = strings.NewReplacer(
	`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`,
	"&", "&amp;", "<", "&lt;", ">", "&gt;", "#", `\#`, "~", `\~`,
)

// TeamsEscape escapes Markdown so event text renders literally in Teams.
// "&" is escaped too: Teams' Markdown reads entities, so a commit message
// saying "&lt;br&gt;" would otherwise show as "<br>".
func TeamsEscape(s string) string { return teamsReplacer.Replace(s) }

// Clean removes from s the characters that have no business in a chat
// message or a log line and can mislead a reader: C0 and C1 control
// characters other than tab and line breaks (NUL, ESC and its colour
// codes, DEL), and the bidi embedding, override and isolate controls
// (U+202A to U+202E, U+2066 to U+2069), which would reverse the text after
// them, the rest of a field included ("Trojan Source"). Right-to-left text
// itself needs none of them. Every adapter applies it to what it sends.
func Clean(s string) string {
	if strings.IndexFunc(s, Unwanted) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if Unwanted(r) {
			return -1
		}
		return r
	}, s)
}

// Unwanted reports whether Clean removes r.
func Unwanted(r rune) bool {
	switch {
	case r == '\t', r == '\n', r == '\r':
		return false
	case r < 0x20, r >= 0x7f && r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}
