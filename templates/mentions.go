package templates

import (
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"unicode"

	"github.com/herald-ci/herald/internal/event"
)

// Person is one commit author's accounts on the chat platforms: an entry of
// the config's mentions section.
type Person struct {
	// Match lists the commit author's names and emails, compared without
	// regard to case.
	Match []string
	// Slack is the Slack user id, U… or W…; empty when not on Slack.
	Slack string
	// TeamsID is the Teams user's UPN or Entra (AAD) object id, TeamsName
	// the name Teams shows in the mention; empty when not on Teams.
	TeamsID, TeamsName string
}

// Mentions finds the person behind a commit author. A nil *Mentions
// mentions no one.
type Mentions struct {
	byKey map[string]Person
}

// NewMentions indexes people by every Match entry. An entry that could
// become markup is left out rather than trusted: a Slack id must look like
// U… or W…, and a Teams name and id must hold no '<', '>' or control
// character (config validation reports such entries; this guards a table
// built by hand). A later entry matching the same author wins.
func NewMentions(people []Person) *Mentions {
	m := &Mentions{byKey: map[string]Person{}}
	for _, p := range people {
		if !ValidSlackID(p.Slack) {
			p.Slack = ""
		}
		if !plainMentionText(p.TeamsID) || !plainMentionText(p.TeamsName) {
			p.TeamsID, p.TeamsName = "", ""
		}
		if p.Slack == "" && p.TeamsID == "" {
			continue
		}
		for _, k := range p.Match {
			if k = matchKey(k); k != "" {
				m.byKey[k] = p
			}
		}
	}
	return m
}

// Lookup returns the person behind a commit author: the author as given,
// or, for "Jane Doe <jdoe@example.com>", the email or the name.
func (m *Mentions) Lookup(author string) (Person, bool) {
	if m == nil || len(m.byKey) == 0 {
		return Person{}, false
	}
	for _, k := range authorKeys(author) {
		if p, ok := m.byKey[k]; ok {
			return p, true
		}
	}
	return Person{}, false
}

// authorKeys are the keys an author string is looked up by, most specific
// first.
func authorKeys(author string) []string {
	keys := []string{matchKey(author)}
	if a, err := mail.ParseAddress(author); err == nil {
		keys = append(keys, matchKey(a.Address), matchKey(a.Name))
	}
	return keys
}

func matchKey(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

var slackIDRE = regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`)

// ValidSlackID reports whether s looks like a Slack user id (U… or W…,
// upper-case letters and digits): the only thing the mention helper puts
// between "<@" and ">".
func ValidSlackID(s string) bool { return slackIDRE.MatchString(s) }

// plainMentionText accepts a non-empty Teams id or name that cannot close
// or open a tag, break a line, or hide text.
func plainMentionText(s string) bool {
	if strings.TrimSpace(s) == "" || len(s) > 256 {
		return false
	}
	for _, r := range s {
		if r == '<' || r == '>' || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}

// TeamsMention is one entry of an Adaptive Card's msteams.entities: the
// "<at>Name</at>" text in the card and who it notifies.
type TeamsMention struct {
	Type      string         `json:"type"` // "mention"
	Text      string         `json:"text"`
	Mentioned TeamsMentionee `json:"mentioned"`
}

// TeamsMentionee is the mentioned user: UPN or Entra object id, and name.
type TeamsMentionee struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// mentionOf finds the commit author of the template's dot in its set's
// mention table.
func mentionOf(dot any) (Person, bool, error) {
	switch d := dot.(type) {
	case *Data:
		if d == nil || d.Event == nil {
			return Person{}, false, nil
		}
		p, ok := d.mentions.Lookup(d.Commit.Author)
		return p, ok, nil
	case *event.Event:
		return Person{}, false, nil // no table without the template's dot
	}
	return Person{}, false, fmt.Errorf("mention: want the template's dot, got %T", dot)
}

// mention is the template helper {{ mention . "slack" }}: the commit
// author's mention on that platform, or "" when the author is not in the
// config's mentions (or has no account there).
func mention(dot any, platform string) (string, error) {
	p, ok, err := mentionOf(dot)
	if err != nil {
		return "", err
	}
	switch platform {
	case "slack":
		if ok && p.Slack != "" {
			return "<@" + p.Slack + ">", nil
		}
	case "teams":
		if ok && p.TeamsID != "" {
			return "<at>" + p.TeamsName + "</at>", nil
		}
	default:
		return "", fmt.Errorf("mention: platform %q is not slack or teams", platform)
	}
	return "", nil
}

// mentionEntity is the template helper {{ mentionEntity . }}: the
// msteams.entities entry that makes {{ mention . "teams" }} notify, or nil
// when there is no Teams mention.
func mentionEntity(dot any) (*TeamsMention, error) {
	p, ok, err := mentionOf(dot)
	if err != nil || !ok || p.TeamsID == "" {
		return nil, err
	}
	return &TeamsMention{
		Type:      "mention",
		Text:      "<at>" + p.TeamsName + "</at>",
		Mentioned: TeamsMentionee{ID: p.TeamsID, Name: p.TeamsName},
	}, nil
}

// WithMentions returns a set that renders with s's templates and the
// mention table m. s is not changed: the defaults are shared by every
// destination.
func (s *Set) WithMentions(m *Mentions) *Set {
	out := &Set{t: s.t, dirs: s.dirs, mentions: m}
	if s.defaults != nil {
		out.defaults = s.defaults.WithMentions(m)
	}
	return out
}
