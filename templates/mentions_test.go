package templates

import (
	"strings"
	"testing"

	"github.com/herald-ci/herald/internal/event"
)

var people = []Person{
	{Match: []string{"jdoe", "JDoe@Example.com"}, Slack: "U012AB3CD", TeamsID: "jdoe@example.com", TeamsName: "Jane Doe"},
	{Match: []string{"dana"}, Slack: "W0123ABCD"},
	{Match: []string{"zoe"}, TeamsID: "zoe@example.com", TeamsName: "Zoë"},
	// Entries that could become markup are left out, whatever the config
	// validation said.
	{Match: []string{"evil"}, Slack: "U1><!channel", TeamsID: "evil@example.com", TeamsName: "Evil</at><at>All"},
	{Match: []string{"half"}, Slack: "u012ab3cd", TeamsID: "half@example.com", TeamsName: "Half\nLine"},
}

// TestMentionHelpers: what {{ mention . "slack" }}, {{ mention . "teams" }}
// and {{ mentionEntity . }} give for each commit author.
func TestMentionHelpers(t *testing.T) {
	t.Parallel()
	set := Defaults().WithMentions(NewMentions(people))
	if Defaults().mentions != nil {
		t.Fatal("WithMentions changed the shared defaults")
	}
	tmpl := `{{ define "x" }}{{ mention . "slack" }}|{{ mention . "teams" }}|{{ with mentionEntity . }}{{ json . }}{{ end }}{{ end }}`
	s, err := Load(writeTemplate(t, tmpl))
	if err != nil {
		t.Fatal(err)
	}
	user := s.WithMentions(NewMentions(people))
	for _, tc := range []struct{ author, want string }{
		{"jdoe", `<@U012AB3CD>|<at>Jane Doe</at>|{"type":"mention","text":"<at>Jane Doe</at>","mentioned":{"id":"jdoe@example.com","name":"Jane Doe"}}`},
		{"  JDOE ", `<@U012AB3CD>|<at>Jane Doe</at>|{"type":"mention","text":"<at>Jane Doe</at>","mentioned":{"id":"jdoe@example.com","name":"Jane Doe"}}`},
		{"Jane Doe <jdoe@example.com>", `<@U012AB3CD>|<at>Jane Doe</at>|{"type":"mention","text":"<at>Jane Doe</at>","mentioned":{"id":"jdoe@example.com","name":"Jane Doe"}}`},
		{"dana", `<@W0123ABCD>||`},
		{"zoe", `|<at>Zoë</at>|{"type":"mention","text":"<at>Zoë</at>","mentioned":{"id":"zoe@example.com","name":"Zoë"}}`},
		{"evil", `||`},
		{"half", `||`},
		{"someone", `||`},
		{"", `||`},
		{"<@U012AB3CD>", `||`}, // event text is a key, never the mention
	} {
		ev := &event.Event{Kind: event.KindBuild, Status: event.StatusFailed, Commit: event.Commit{Author: tc.author}}
		got, err := user.RenderEvent("x", ev, "d")
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.want {
			t.Errorf("author %q: %s\n                 want %s", tc.author, got, tc.want)
		}
	}
	// Without a table, and from the defaults a user set falls back to.
	ev := &event.Event{Kind: event.KindBuild, Status: event.StatusFailed, Commit: event.Commit{Author: "jdoe"}}
	if got, err := s.RenderEvent("x", ev, "d"); err != nil || string(got) != "||" {
		t.Errorf("no table: %q, %v", got, err)
	}
	if user.Fallback() == nil || user.Fallback().mentions == nil || set.Fallback() != nil {
		t.Error("the fallback defaults lost the mentions, or the defaults got a fallback")
	}
}

func TestMentionErrors(t *testing.T) {
	t.Parallel()
	for _, tmpl := range []string{
		`{{ define "x" }}{{ mention . "discord" }}{{ end }}`,
		`{{ define "x" }}{{ mention "jdoe" "slack" }}{{ end }}`,
	} {
		s, err := Load(writeTemplate(t, tmpl))
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.WithMentions(NewMentions(people)).RenderEvent("x", &event.Event{Commit: event.Commit{Author: "jdoe"}}, "d")
		if err == nil || !strings.Contains(err.Error(), "mention") {
			t.Errorf("%s: err = %v", tmpl, err)
		}
	}
	// The event itself (not the template's dot) has no table: no mention.
	if got, err := mention(&event.Event{Commit: event.Commit{Author: "jdoe"}}, "slack"); got != "" || err != nil {
		t.Errorf("mention(event) = %q, %v", got, err)
	}
}
