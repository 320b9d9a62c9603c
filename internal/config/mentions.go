package config

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// Mention links a commit author to their accounts on the chat platforms,
// so that the default templates can mention the author of a build that
// broke (Slack <@U…>, Teams <at>Name</at> with its msteams.entities entry).
// None of it is secret.
//
//	mentions:
//	  - match: [jdoe, jdoe@example.com]   # commit author: username or email, any case
//	    slack: U012AB3CD                  # Slack member id
//	    teams: {id: jdoe@example.com, name: Jane Doe}   # UPN or Entra object id, and the name shown
type Mention struct {
	// Match lists the names the author's commits carry: a VCS username
	// (TeamCity's change username), an email, a display name. Compared
	// without regard to case; "Jane Doe <jdoe@example.com>" matches by
	// its email or its name too.
	Match []string `yaml:"match"`
	// Slack is the member id (U… or W…: a member's profile, "Copy
	// member ID"). Slack needs the id; a name does not notify.
	Slack string `yaml:"slack,omitempty"`
	// Teams is the user for Adaptive Card mentions (workflows and
	// adaptive-card formats; a MessageCard cannot mention anyone).
	Teams *TeamsUser `yaml:"teams,omitempty"`
}

// TeamsUser is a Teams user as an Adaptive Card mention names them: the id
// Teams resolves (a UPN, jdoe@example.com, or an Entra object id) and the
// name shown in the card.
type TeamsUser struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
}

// MaxMentionName bounds a Teams mention's name: it is written into cards
// as <at>Name</at>, which must survive the cards' shortening untouched.
const MaxMentionName = 64

var (
	// slackUserIDRE matches Slack member ids: U… or W… (Enterprise Grid).
	// templates.ValidSlackID applies the same rule when rendering.
	slackUserIDRE = regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`)
	// upnRE is a user principal name: one @, no spaces, no markup.
	upnRE = regexp.MustCompile(`^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$`)
	// objectIDRE is an Entra (Azure AD) object id, optionally in the
	// "8:orgid:" form Bot Framework uses, or a Teams "29:" user id.
	objectIDRE = regexp.MustCompile(`^(8:orgid:)?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$|^29:[A-Za-z0-9_-]+$`)
)

// validateMentions lists the problems of the mentions section.
func (c *Config) validateMentions() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	first := map[string]int{} // a match, lower case → the entry that has it
	for i, m := range c.Mentions {
		where := fmt.Sprintf("mentions[%d]", i)
		if len(m.Match) == 0 {
			add("%s.match: at least one commit author (username or email) is required", where)
		}
		for _, k := range m.Match {
			key := strings.ToLower(strings.TrimSpace(k))
			switch j, dup := first[key]; {
			case key == "":
				add("%s.match: an empty author matches nothing", where)
			case dup && j == i:
				add("%s.match: %q is listed twice", where, k)
			case dup:
				add("%s.match: %q is also in mentions[%d]; an author is one person", where, k, j)
			default:
				first[key] = i
			}
		}
		if m.Slack == "" && m.Teams == nil {
			add("%s: give slack, teams or both", where)
		}
		if m.Slack != "" && !slackUserIDRE.MatchString(m.Slack) {
			add("%s.slack: %q is not a Slack member id (U… or W…, from the member's profile: Copy member ID)", where, m.Slack)
		}
		if t := m.Teams; t != nil {
			if t.ID == "" {
				add("%s.teams.id: required (the user's UPN or Entra object id)", where)
			} else if !upnRE.MatchString(t.ID) && !objectIDRE.MatchString(t.ID) {
				add("%s.teams.id: %q is neither a UPN (jdoe@example.com) nor an Entra object id", where, t.ID)
			}
			switch {
			case strings.TrimSpace(t.Name) == "":
				add("%s.teams.name: required (the name the card shows)", where)
			case len([]rune(t.Name)) > MaxMentionName:
				add("%s.teams.name: at most %d characters", where, MaxMentionName)
			case strings.IndexFunc(t.Name, badNameRune) >= 0:
				add("%s.teams.name: must not hold '<', '>', a line break or a control character", where)
			}
		}
	}
	return errs
}

// badNameRune is a character a mention's name cannot hold: it would close
// the <at> tag, break the line, or hide text.
func badNameRune(r rune) bool {
	return r == '<' || r == '>' || r == '\u2028' || r == '\u2029' || unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
}
