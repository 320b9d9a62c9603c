package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/herald-ci/herald/sources/sourcestest"
)

// cookbookMentions is the config the recipes render with: the mentions
// section of the README's example, and a destination so that it loads.
const cookbookMentions = `mentions:
  - match: [jdoe, jdoe@example.com]
    slack: U012AB3CD
destinations: [{name: log, type: console}]
`

// slackMessage is what the cookbook checks of a Slack body.
type slackMessage struct {
	Text        string       `json:"text"`
	Blocks      []slackBlock `json:"blocks"`
	Attachments []struct {
		Color  string       `json:"color"`
		Blocks []slackBlock `json:"blocks"`
	} `json:"attachments"`
}

type slackBlock struct {
	Type string `json:"type"`
	Text *struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"text,omitempty"`
	Fields []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"fields,omitempty"`
	Elements []json.RawMessage `json:"elements,omitempty"`
}

func (m slackMessage) header() string {
	for _, b := range m.Blocks {
		if b.Type == "header" && b.Text != nil {
			return b.Text.Text
		}
	}
	return ""
}

// details are the attachment's blocks.
func (m slackMessage) details() []slackBlock {
	if len(m.Attachments) == 0 {
		return nil
	}
	return m.Attachments[0].Blocks
}

func (m slackMessage) fields() []string {
	var out []string
	for _, b := range m.details() {
		for _, f := range b.Fields {
			out = append(out, f.Text)
		}
	}
	return out
}

func (m slackMessage) blockTypes() []string {
	var out []string
	for _, b := range m.details() {
		out = append(out, b.Type)
	}
	return out
}

// renderSlack runs `herald render --adapter slack` on a TeamCity event,
// with the recipe as the templates directory's only file ("" for the
// defaults) and the cookbook's config. The recipe must render without
// falling back to the default (herald logs a fallback on stderr), and the
// body must be JSON.
func renderSlack(t *testing.T, recipe string, event []byte) slackMessage {
	t.Helper()
	dir := t.TempDir()
	args := []string{"render", "--config", writeFile(t, dir, "herald.yaml", cookbookMentions),
		"--source", "teamcity", "--adapter", "slack"}
	if recipe != "" {
		writeFile(t, dir, "templates/cookbook.tmpl", recipe)
		args = append(args, "--templates-dir", filepath.Join(dir, "templates"))
	}
	args = append(args, writeFile(t, dir, "event.json", string(event)))
	code, stdout, stderr := runCLI(t, args...)
	if code != exitOK || stderr != "" {
		t.Fatalf("render: exit %d, stderr %s", code, stderr)
	}
	if !json.Valid([]byte(stdout)) {
		t.Fatalf("not JSON:\n%s", stdout)
	}
	var m slackMessage
	if err := json.Unmarshal([]byte(stdout), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// teamcityBuild is the fixture of a TeamCity build that failed, on branch
// refs/heads/BRANCH, with status FAILURE or SUCCESS.
func teamcityBuild(t *testing.T, branch, status string) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(sourcestest.Body(t, "teamcity-build-finished-failure"), &ev); err != nil {
		t.Fatal(err)
	}
	p := ev["payload"].(map[string]any)
	p["branchName"], p["status"] = "refs/heads/"+branch, status
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cookbook checks each recipe of the README's Templates cookbook by what it
// promises, against the defaults' rendering of the same event: a TeamCity
// build of branch dev that failed (the fixture), unless the recipe is about
// branches or statuses.
var cookbook = map[string]func(t *testing.T, recipe string){
	"cookbook-title": func(t *testing.T, recipe string) {
		failed := teamcityBuild(t, "dev", "FAILURE")
		got, def := renderSlack(t, recipe, failed), renderSlack(t, "", failed)
		if want := ":x: Sample Web #3 failed"; got.header() != want || got.Text != want+" (dev)" {
			t.Errorf("header %q, text %q; want %q", got.header(), got.Text, want)
		}
		if !reflect.DeepEqual(got.Attachments, def.Attachments) {
			t.Errorf("more than the title changed")
		}
	},
	"cookbook-field": func(t *testing.T, recipe string) {
		failed := teamcityBuild(t, "dev", "FAILURE")
		got, def := renderSlack(t, recipe, failed), renderSlack(t, "", failed)
		if want := append(def.fields(), "*About*\nClient CI/CD"); !slices.Equal(got.fields(), want) {
			t.Errorf("fields %q, want %q", got.fields(), want)
		}
	},
	"cookbook-buttons": func(t *testing.T, recipe string) {
		failed := teamcityBuild(t, "dev", "FAILURE")
		got, def := renderSlack(t, recipe, failed), renderSlack(t, "", failed)
		if !slices.Contains(def.blockTypes(), "actions") {
			t.Fatalf("the defaults show no buttons for this event: %q", def.blockTypes())
		}
		want := slices.DeleteFunc(def.blockTypes(), func(s string) bool { return s == "actions" })
		if !slices.Equal(got.blockTypes(), want) {
			t.Errorf("blocks %q, want %q", got.blockTypes(), want)
		}
	},
	"cookbook-branch": func(t *testing.T, recipe string) {
		main := renderSlack(t, recipe, teamcityBuild(t, "main", "FAILURE"))
		if want := ":rotating_light: Sample Web is red: build #3 failed"; main.header() != want {
			t.Errorf("main: header %q, want %q", main.header(), want)
		}
		for _, ev := range [][]byte{teamcityBuild(t, "feature/login", "FAILURE"), teamcityBuild(t, "main", "SUCCESS")} {
			got, def := renderSlack(t, recipe, ev), renderSlack(t, "", ev)
			if got.header() != def.header() || got.header() == main.header() {
				t.Errorf("header %q, want the default %q", got.header(), def.header())
			}
		}
	},
	"cookbook-mention": func(t *testing.T, recipe string) {
		failed, succeeded := teamcityBuild(t, "dev", "FAILURE"), teamcityBuild(t, "dev", "SUCCESS")
		got, def := renderSlack(t, recipe, failed), renderSlack(t, "", failed)
		const who = "<@U012AB3CD>"
		var lines []string
		for _, b := range got.Blocks {
			if b.Type == "section" && b.Text != nil && strings.Contains(b.Text.Text, who) {
				lines = append(lines, b.Text.Text)
			}
		}
		if want := ":x: " + who + ", this build failed on your commit `d1a9f47`"; !slices.Equal(lines, []string{want}) {
			t.Errorf("mention lines %q, want %q", lines, want)
		}
		if !strings.HasSuffix(got.Text, " · "+who) {
			t.Errorf("the notification text %q does not mention %s", got.Text, who)
		}
		// The default mentions only the author of a build that broke, which
		// `herald render` cannot tell; the recipe does not mention on success.
		for _, m := range []slackMessage{def, renderSlack(t, recipe, succeeded)} {
			if b, _ := json.Marshal(m); strings.Contains(string(b), "<@") {
				t.Errorf("a mention where there should be none: %s", b)
			}
		}
	},
}

// TestCookbook renders each template recipe of the README's cookbook with
// `herald render` and checks that it does what the README says. Every
// gotemplate snippet of the README is a recipe with a check here, but
// console-build (TestReadmeTemplateSnippet).
func TestCookbook(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	recipes := map[string]string{}
	for _, m := range regexp.MustCompile("(?s)<!-- snippet: ([a-z0-9-]+) -->\n```gotemplate\n(.*?)```").FindAllSubmatch(readme, -1) {
		if name := string(m[1]); name != "console-build" {
			recipes[name] = string(m[2])
		}
	}
	for name := range recipes {
		if cookbook[name] == nil {
			t.Errorf("README recipe %s has no check in TestCookbook", name)
		}
	}
	for name, check := range cookbook {
		t.Run(name, func(t *testing.T) {
			recipe, ok := recipes[name]
			if !ok {
				t.Fatalf("README has no <!-- snippet: %s --> gotemplate block", name)
			}
			check(t, recipe)
		})
	}
}
