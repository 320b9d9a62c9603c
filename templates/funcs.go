package templates

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/Masterminds/sprig/v3"

	"github.com/herald-ci/herald/internal/event"
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
//	teamsEscape   Markdown-significant characters escaped for Teams text
func Funcs() template.FuncMap {
	f := sprig.TxtFuncMap()
	for _, name := range forbidden {
		delete(f, name)
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
func jsonLiteral(v any) (string, error) {
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
// "…" when anything was cut.
func Truncate(n int, s string) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
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
	"<", "&lt;", ">", "&gt;", "#", `\#`, "~", `\~`,
)

// TeamsEscape escapes Markdown so event text renders literally in Teams.
func TeamsEscape(s string) string { return teamsReplacer.Replace(s) }
