package config

import (
	"strings"
	"testing"
)

// parseMentions parses a config of one console destination and a
// mentions section.
func parseMentions(mentions string) (*Config, error) {
	return Parse([]byte("mentions:\n"+mentions+"destinations:\n  - {name: log, type: console}\n"), ".")
}

func TestMentions(t *testing.T) {
	t.Parallel()
	c, err := parseMentions(`  - match: [jdoe, JDoe@Example.com]
    slack: U012AB3CD
    teams: {id: jdoe@example.com, name: Jane Doe}
  - match: [dana]
    slack: W0123ABCD
  - match: ["Zoë"]
    teams: {id: 87d349ed-44d7-43e1-9a83-5f2406dee5bd, name: Zoë Ünal}
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Mentions) != 3 {
		t.Fatalf("%d mentions", len(c.Mentions))
	}
	m := c.Mentions[0]
	if strings.Join(m.Match, ",") != "jdoe,JDoe@Example.com" || m.Slack != "U012AB3CD" || m.Teams == nil || *m.Teams != (TeamsUser{ID: "jdoe@example.com", Name: "Jane Doe"}) {
		t.Errorf("mentions[0] = %+v %+v", m, m.Teams)
	}
	if c.Mentions[1].Teams != nil || c.Mentions[2].Slack != "" {
		t.Errorf("absent accounts are set: %+v", c.Mentions)
	}
}

// TestMentionsInvalid: each problem with its exact error.
func TestMentionsInvalid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, yaml, want string }{
		{"no match", "  - {slack: U012AB3CD}\n", "mentions[0].match: at least one commit author (username or email) is required"},
		{"empty match", "  - {match: [\" \"], slack: U012AB3CD}\n", "mentions[0].match: an empty author matches nothing"},
		{"twice in one", "  - {match: [jdoe, JDOE], slack: U012AB3CD}\n", `mentions[0].match: "JDOE" is listed twice`},
		{"two people", "  - {match: [jdoe], slack: U012AB3CD}\n  - {match: [JDoe], slack: U0987ZYXW}\n", `mentions[1].match: "JDoe" is also in mentions[0]; an author is one person`},
		{"no account", "  - {match: [jdoe]}\n", "mentions[0]: give slack, teams or both"},
		{"slack name", "  - {match: [jdoe], slack: '@jdoe'}\n", `mentions[0].slack: "@jdoe" is not a Slack member id (U… or W…, from the member's profile: Copy member ID)`},
		{"slack channel", "  - {match: [jdoe], slack: C024BE7LR}\n", `mentions[0].slack: "C024BE7LR" is not a Slack member id (U… or W…, from the member's profile: Copy member ID)`},
		{"slack markup", "  - {match: [jdoe], slack: 'U1>x<!channel'}\n", `mentions[0].slack: "U1>x<!channel" is not a Slack member id (U… or W…, from the member's profile: Copy member ID)`},
		{"teams without id", "  - {match: [jdoe], teams: {name: Jane}}\n", "mentions[0].teams.id: required (the user's UPN or Entra object id)"},
		{"teams id", "  - {match: [jdoe], teams: {id: jdoe, name: Jane}}\n", `mentions[0].teams.id: "jdoe" is neither a UPN (jdoe@example.com) nor an Entra object id`},
		{"teams without name", "  - {match: [jdoe], teams: {id: jdoe@example.com}}\n", "mentions[0].teams.name: required (the name the card shows)"},
		{"teams name markup", "  - {match: [jdoe], teams: {id: jdoe@example.com, name: 'Jane</at><at>Everyone'}}\n", "mentions[0].teams.name: must not hold '<', '>', a line break or a control character"},
		{"teams name line", "  - {match: [jdoe], teams: {id: jdoe@example.com, name: \"Jane\\nDoe\"}}\n", "mentions[0].teams.name: must not hold '<', '>', a line break or a control character"},
		{"teams name long", "  - {match: [jdoe], teams: {id: jdoe@example.com, name: " + strings.Repeat("a", 65) + "}}\n", "mentions[0].teams.name: at most 64 characters"},
		{"unknown key", "  - {match: [jdoe], teams: {upn: jdoe@example.com, name: Jane}}\n", "line 2: field upn is not a known key of TeamsUser"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseMentions(tc.yaml)
			if err == nil {
				t.Fatalf("loaded, want %q", tc.want)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("error %q\n     want %q", got, tc.want)
			}
		})
	}
}
