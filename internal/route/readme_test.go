package route

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/templates"
)

// TestReadmeSnippets loads every snippet of the README's "Rules" section
// (testdata/readme) and checks it does what the README says, so the docs
// cannot rot. Every file needs a check here and every check a file.
func TestReadmeSnippets(t *testing.T) {
	t.Setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T000/B000/XXXX")
	t.Setenv("TEAMS_WEBHOOK_URL", "https://example.webhook.office.com/webhookb2/abc")

	tc := func(project string, status event.Status, number string) *event.Event {
		return &event.Event{Source: "teamcity", Kind: event.KindBuild, Status: status, ProjectID: project, Number: number, Branch: "main", DefaultBranch: true}
	}
	failed := Outcome{Status: event.StatusFailed, Number: "1"}
	ok := Outcome{Status: event.StatusSucceeded, Number: "1"}
	route := func(c *config.Config, ev *event.Event, prev Outcome) string { return names(Route(c, ev, prev)) }

	checks := map[string]func(t *testing.T, c *config.Config){
		"policies.yaml": func(t *testing.T, c *config.Config) {
			for _, x := range []struct {
				ev   *event.Event
				prev Outcome
				want string
			}{
				{tc("P", "succeeded", "2"), failed, "team-chat,build-log"},
				{tc("P", "succeeded", "2"), ok, "build-log"},
				{tc("P", "failed", "2"), ok, "team-chat,build-log"},
				{tc("P", "failed", "2"), failed, "build-log"},
				{&event.Event{Kind: event.KindCrash, Status: event.StatusCreated}, Outcome{}, "team-chat,build-log"},
				{&event.Event{Kind: event.KindRelease, Status: event.StatusPublished}, Outcome{}, "build-log"},
			} {
				if got := route(c, x.ev, x.prev); got != x.want {
					t.Errorf("%s after %s: %q, want %q", x.ev.Name(), x.prev.Status, got, x.want)
				}
			}
		},
		"subscriptions.yaml": func(t *testing.T, c *config.Config) {
			for _, x := range []struct {
				ev   *event.Event
				prev Outcome
				want string
			}{
				{tc("P", "started", ""), Outcome{}, "teamcity-style"},
				{tc("P", "failed", "2"), ok, "teamcity-style,herald-style,transitions"},
				{tc("P", "failed", "2"), failed, "teamcity-style,herald-style"},
				{tc("P", "succeeded", "2"), failed, "teamcity-style,transitions"},
				{tc("P", "interrupted", "2"), Outcome{}, "teamcity-style,herald-style"},
				{&event.Event{Kind: event.KindAgent, Status: event.StatusUnregistered}, Outcome{}, "herald-style"},
			} {
				if got := route(c, x.ev, x.prev); got != x.want {
					t.Errorf("%s after %s: %q, want %q", x.ev.Name(), x.prev.Status, got, x.want)
				}
			}
		},
		"projects.yaml": func(t *testing.T, c *config.Config) {
			for _, x := range []struct {
				ev   *event.Event
				want string
			}{
				{tc("Other", "started", ""), "all-builds,mobile-team"},
				{tc("Other", "succeeded", "1"), "all-builds,mobile-team"},
				{tc("Other", "interrupted", "1"), ""},
				{tc("ProjectA", "interrupted", "1"), "all-builds,mobile-team"},
				{tc("ProjectA", "started", ""), ""},
				{tc("ProjectA", "failed", "1"), ""},
				{tc("ProjectA_Mobile", "interrupted", "1"), "mobile-team"},
				{tc("ProjectA_Mobile", "succeeded", "1"), ""},
			} {
				if got := route(c, x.ev, Outcome{}); got != x.want {
					t.Errorf("%s %s: %q, want %q", x.ev.ProjectID, x.ev.Name(), got, x.want)
				}
			}
			if d := Route(c, tc("ProjectA_Mobile", "interrupted", "1"), Outcome{}); d.Targets[0].MaxAttempts != 3 {
				t.Errorf("ProjectA_Mobile attempts = %d, want 3", d.Targets[0].MaxAttempts)
			}
		},
		"project-policies.yaml": func(t *testing.T, c *config.Config) {
			release := tc("Releases", "succeeded", "2")
			release.Branch, release.DefaultBranch = "release/1", false
			for _, x := range []struct {
				ev   *event.Event
				prev Outcome
				want string
			}{
				{tc("Other", "succeeded", "2"), failed, "team-chat"}, // Root's only_if_previously_failed
				{tc("Other", "succeeded", "2"), ok, ""},
				{tc("Other", "failed", "2"), ok, ""},                   // the destination's never
				{tc("Nightly", "failed", "2"), ok, "team-chat"},        // Nightly's only_if_previously_successful
				{tc("Nightly", "failed", "2"), failed, ""},             // still failing
				{tc("Nightly", "succeeded", "2"), failed, "team-chat"}, // Root's build_success still applies
				{release, failed, "team-chat"},                         // Releases' branches
				{tc("Releases", "succeeded", "2"), failed, ""},         // main is not release/*
			} {
				if got := route(c, x.ev, x.prev); got != x.want {
					t.Errorf("%s %s on %s after %s: %q, want %q", x.ev.ProjectID, x.ev.Name(), x.ev.Branch, x.prev.Status, got, x.want)
				}
			}
		},
		"branches.yaml": func(t *testing.T, c *config.Config) {
			for _, x := range []struct {
				branch string
				dflt   bool
				want   string
			}{
				{"main", true, "main-and-releases,default-branch"},
				{"refs/heads/release/2.1", false, "main-and-releases"},
				{"release/legacy-1", false, ""},
				{"feature/x", false, ""},
				{"develop", true, "default-branch"},
			} {
				ev := tc("P", "failed", "2")
				ev.Branch, ev.DefaultBranch = x.branch, x.dflt
				if got := route(c, ev, Outcome{}); got != x.want {
					t.Errorf("%s: %q, want %q", x.branch, got, x.want)
				}
			}
		},
		"dedup.yaml": func(t *testing.T, c *config.Config) {
			d := Route(c, &event.Event{Kind: event.KindCrash, Status: event.StatusCreated}, Outcome{})
			if len(d.Targets) != 1 || d.Targets[0].DedupWindow != 5*time.Minute {
				t.Errorf("targets %+v, want crashes with a 5m window", d.Targets)
			}
		},
	}

	dir := filepath.Join("testdata", "readme")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, f := range files {
		name := filepath.Base(f)
		seen = append(seen, name)
		check, ok := checks[name]
		if !ok {
			t.Errorf("%s: no check in TestReadmeSnippets", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			c, err := config.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			check(t, c)
		})
	}
	for name := range checks {
		if !slices.Contains(seen, name) {
			t.Errorf("check %s has no file in %s", name, dir)
		}
	}

	t.Run("transition.tmpl", func(t *testing.T) {
		tmp := t.TempDir()
		b, err := os.ReadFile(filepath.Join(dir, "transition.tmpl"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, "console.tmpl"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		set, err := templates.Load(tmp)
		if err != nil {
			t.Fatal(err)
		}
		for tr, want := range map[Transition]string{
			TransitionFixed:        "Build #7 succeeded: fixed, back to green",
			TransitionBroken:       "Build #7 succeeded: broken by the last change",
			TransitionStillFailing: "Build #7 succeeded: still failing",
			TransitionNone:         "Build #7 succeeded",
		} {
			ev := tc("P", "succeeded", "7")
			ev.Transition = string(tr)
			out, err := set.RenderEvent("console.build.text", ev, "chat")
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(string(out)); got != want {
				t.Errorf("%q: rendered %q, want %q", tr, got, want)
			}
		}
	})
}
