package route

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/event"
)

// parse loads a config from YAML, failing t on any error.
func parse(t *testing.T, y string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(y), ".")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return c
}

// names lists the destinations of a decision.
func names(d Decision) string {
	var out []string
	for _, t := range d.Targets {
		out = append(out, t.Destination.Name)
	}
	return strings.Join(out, ",")
}

func build(status event.Status) *event.Event {
	return &event.Event{Source: "teamcity", Kind: event.KindBuild, Status: status, ProjectID: "P", BuildConfigID: "P_Build", Number: "10"}
}

func TestWants(t *testing.T) {
	t.Parallel()
	failed := &event.Event{Kind: event.KindBuild, Status: event.StatusFailed}
	crash := &event.Event{Kind: event.KindCrash, Status: event.StatusCreated}
	tests := []struct {
		name   string
		events []string
		ev     *event.Event
		want   bool
	}{
		{"empty list wants all", nil, failed, true},
		{"exact", []string{"build.failed"}, failed, true},
		{"other status", []string{"build.succeeded"}, failed, false},
		{"kind only", []string{"build"}, failed, true},
		{"kind star", []string{"build.*"}, failed, true},
		{"other kind", []string{"build.*"}, crash, false},
		{"star", []string{"*"}, crash, true},
		{"second entry", []string{"release.published", "crash.created"}, crash, true},
		{"teamcity name", []string{"BUILD_FINISHED"}, failed, true},
		{"semicolon list", []string{"BUILD_STARTED;BUILD_FAILED"}, failed, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := &config.Destination{Events: tc.events}
			if got := Wants(d, tc.ev); got != tc.want {
				t.Errorf("Wants(%v, %s) = %v, want %v", tc.events, tc.ev.Name(), got, tc.want)
			}
		})
	}
}

func TestDestinationsKeepsOrder(t *testing.T) {
	t.Parallel()
	c := &config.Config{Destinations: []config.Destination{
		{Name: "a", Events: []string{"build.failed"}},
		{Name: "b", Events: []string{"crash"}},
		{Name: "c"},
	}}
	got := Destinations(c, &event.Event{Kind: event.KindBuild, Status: event.StatusFailed})
	if len(got) != 2 || got[0].Name != "a" || got[1].Name != "c" {
		t.Fatalf("got %v, want [a c]", got)
	}
}

// TestSubscriptions covers both forms of a subscription, TeamCity's and
// herald's, and transitions named in it.
func TestSubscriptions(t *testing.T) {
	t.Parallel()
	ev := func(kind event.Kind, status event.Status) *event.Event {
		return &event.Event{Kind: kind, Status: status}
	}
	tests := []struct {
		name   string
		events config.Events
		ev     *event.Event
		tr     Transition
		want   bool
	}{
		{"BUILD_FINISHED takes a success", config.Events{"BUILD_FINISHED"}, ev("build", "succeeded"), "", true},
		{"BUILD_FINISHED takes a failure", config.Events{"BUILD_FINISHED"}, ev("build", "failed"), "", true},
		{"BUILD_FINISHED leaves a canceled build", config.Events{"BUILD_FINISHED"}, ev("build", "interrupted"), "", false},
		{"BUILD_FINISHED leaves a start", config.Events{"BUILD_FINISHED"}, ev("build", "started"), "", false},
		{"BUILD_INTERRUPTED", config.Events{"BUILD_INTERRUPTED"}, ev("build", "interrupted"), "", true},
		{"semicolon list, first", config.Events{"BUILD_STARTED;BUILD_FINISHED;BUILD_INTERRUPTED"}, ev("build", "started"), "", true},
		{"semicolon list, last", config.Events{"BUILD_STARTED;BUILD_FINISHED;BUILD_INTERRUPTED"}, ev("build", "interrupted"), "", true},
		{"semicolon list, absent", config.Events{"BUILD_STARTED;BUILD_FINISHED"}, ev("build", "queued"), "", false},
		{"spaces and a trailing semicolon", config.Events{" BUILD_STARTED ; "}, ev("build", "started"), "", true},
		{"queue, webhook name", config.Events{"BUILD_TYPE_ADDED_TO_QUEUE"}, ev("build", "queued"), "", true},
		{"queue, UI name", config.Events{"BUILD_ADDED_TO_QUEUE"}, ev("build", "queued"), "", true},
		{"changes loaded", config.Events{"CHANGES_LOADED"}, ev("build", "changes_loaded"), "", true},
		{"problems changed", config.Events{"BUILD_PROBLEMS_CHANGED"}, ev("build", "problems_changed"), "", true},
		{"agent, TeamCity's spelling", config.Events{"AGENT_REGISTRED"}, ev("agent", "registered"), "", true},
		{"agent removed", config.Events{"AGENT_REMOVED"}, ev("agent", "removed"), "", true},
		{"BUILD_SUCCESSFUL", config.Events{"BUILD_SUCCESSFUL"}, ev("build", "succeeded"), "", true},
		{"BUILD_FAILED leaves a success", config.Events{"BUILD_FAILED"}, ev("build", "succeeded"), "", false},
		{"mixed forms", config.Events{"BUILD_STARTED", "agent.registered"}, ev("agent", "registered"), "", true},
		{"build.fixed takes a fix", config.Events{"build.fixed"}, ev("build", "succeeded"), TransitionFixed, true},
		{"build.fixed leaves a plain success", config.Events{"build.fixed"}, ev("build", "succeeded"), "", false},
		{"build.fixed leaves a first success", config.Events{"build.fixed"}, ev("build", "succeeded"), TransitionFirst, false},
		{"build.broken", config.Events{"build.broken"}, ev("build", "failed"), TransitionBroken, true},
		{"build.broken leaves still failing", config.Events{"build.broken"}, ev("build", "failed"), TransitionStillFailing, false},
		{"build.still_failing", config.Events{"build.still_failing"}, ev("build", "failed"), TransitionStillFailing, true},
		{"build.first", config.Events{"build.first"}, ev("build", "failed"), TransitionFirst, true},
		{"BUILD_FIXED", config.Events{"BUILD_FIXED"}, ev("build", "succeeded"), TransitionFixed, true},
		{"BUILD_BROKEN", config.Events{"BUILD_BROKEN"}, ev("build", "failed"), TransitionBroken, true},
		{"build.failed takes a break too", config.Events{"build.failed"}, ev("build", "failed"), TransitionBroken, true},
		{"crash.fixed is no crash", config.Events{"build.fixed"}, ev("crash", "created"), TransitionFixed, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := config.ExpandEvents(tc.events); err != nil {
				t.Fatal(err)
			}
			r := rules{events: tc.events}
			if got := r.subscribed(tc.ev, tc.tr); got != tc.want {
				t.Errorf("%v takes %s (transition %q) = %v, want %v", tc.events, tc.ev.Name(), tc.tr, got, tc.want)
			}
		})
	}
}

func TestNewer(t *testing.T) {
	t.Parallel()
	t1 := time.Date(2025, 8, 12, 3, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Minute)
	tests := []struct {
		name string
		a, b Outcome
		want bool
	}{
		{"higher number", Outcome{Number: "11"}, Outcome{Number: "10"}, true},
		{"lower number", Outcome{Number: "9"}, Outcome{Number: "10"}, false},
		{"numbers, not text: 10 after 9", Outcome{Number: "10"}, Outcome{Number: "9"}, true},
		{"same number", Outcome{Number: "10"}, Outcome{Number: "10"}, false},
		{"number beats a contrary time", Outcome{Number: "11", FinishedAt: t1}, Outcome{Number: "10", FinishedAt: t2}, true},
		{"text numbers use times", Outcome{Number: "1.0.11", FinishedAt: t1}, Outcome{Number: "1.0.12", FinishedAt: t2}, false},
		{"later finish", Outcome{Number: "a", FinishedAt: t2}, Outcome{Number: "b", FinishedAt: t1}, true},
		{"same finish", Outcome{FinishedAt: t1}, Outcome{FinishedAt: t1}, false},
		{"nothing to order by: arrival", Outcome{}, Outcome{}, true},
		{"one number only, no times: arrival", Outcome{Number: "3"}, Outcome{Number: "x"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Newer(tc.a, tc.b); got != tc.want {
				t.Errorf("Newer(%+v, %+v) = %v, want %v", tc.a, tc.b, got, tc.want)
			}
		})
	}
}

func TestTransit(t *testing.T) {
	t.Parallel()
	ok := Outcome{Status: event.StatusSucceeded, Number: "10"}
	bad := Outcome{Status: event.StatusFailed, Number: "10"}
	at := func(status event.Status, number string) *event.Event {
		ev := build(status)
		ev.Number = number
		return ev
	}
	tests := []struct {
		name   string
		prev   Outcome
		ev     *event.Event
		want   Transition
		record bool
	}{
		{"first success", Outcome{}, at("succeeded", "1"), TransitionFirst, true},
		{"first failure", Outcome{}, at("failed", "1"), TransitionFirst, true},
		{"fixed", bad, at("succeeded", "11"), TransitionFixed, true},
		{"broken", ok, at("failed", "11"), TransitionBroken, true},
		{"still failing", bad, at("failed", "11"), TransitionStillFailing, true},
		{"still succeeding has no name", ok, at("succeeded", "11"), TransitionNone, true},
		{"late older success after a failure", bad, at("succeeded", "9"), TransitionNone, false},
		{"the same build again", bad, at("succeeded", "10"), TransitionNone, false},
		{"interrupted is no outcome", bad, at("interrupted", "11"), TransitionNone, false},
		{"started is no outcome", bad, at("started", "11"), TransitionNone, false},
		{"a build without a line has no history", Outcome{}, &event.Event{Source: "generic", Kind: event.KindBuild, Status: event.StatusFailed, Number: "1"}, TransitionNone, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr, record := Transit(tc.prev, tc.ev)
			if tr != tc.want || record != tc.record {
				t.Errorf("Transit = %q, %v; want %q, %v", tr, record, tc.want, tc.record)
			}
		})
	}
}

// TestPolicies walks every policy value against every transition.
func TestPolicies(t *testing.T) {
	t.Parallel()
	yes, no := true, false
	tests := []struct {
		name     string
		policies config.Policies
		ev       *event.Event
		tr       Transition
		want     bool
	}{
		{"success, default always", config.Policies{}, build("succeeded"), "", true},
		{"success, always", config.Policies{BuildSuccess: "always"}, build("succeeded"), TransitionFirst, true},
		{"success, never", config.Policies{BuildSuccess: "never"}, build("succeeded"), TransitionFixed, false},
		{"success, only if failed: fixed", config.Policies{BuildSuccess: "only_if_previously_failed"}, build("succeeded"), TransitionFixed, true},
		{"success, only if failed: first", config.Policies{BuildSuccess: "only_if_previously_failed"}, build("succeeded"), TransitionFirst, false},
		{"success, only if failed: after success", config.Policies{BuildSuccess: "only_if_previously_failed"}, build("succeeded"), "", false},
		{"failure, default always", config.Policies{}, build("failed"), TransitionStillFailing, true},
		{"failure, never", config.Policies{BuildFailure: "never"}, build("failed"), TransitionBroken, false},
		{"failure, only if successful: broken", config.Policies{BuildFailure: "only_if_previously_successful"}, build("failed"), TransitionBroken, true},
		{"failure, only if successful: still failing", config.Policies{BuildFailure: "only_if_previously_successful"}, build("failed"), TransitionStillFailing, false},
		{"failure, only if successful: first", config.Policies{BuildFailure: "only_if_previously_successful"}, build("failed"), TransitionFirst, false},
		{"success policy leaves failures alone", config.Policies{BuildSuccess: "never"}, build("failed"), "", true},
		{"policies leave interrupted builds alone", config.Policies{BuildSuccess: "never", BuildFailure: "never"}, build("interrupted"), "", true},
		{"crashes default", config.Policies{}, &event.Event{Kind: event.KindCrash, Status: event.StatusCreated}, "", true},
		{"crashes false", config.Policies{Crashes: &no}, &event.Event{Kind: event.KindCrash, Status: event.StatusCreated}, "", false},
		{"crashes true", config.Policies{Crashes: &yes}, &event.Event{Kind: event.KindCrash, Status: event.StatusCreated}, "", true},
		{"distribute default", config.Policies{}, &event.Event{Kind: event.KindRelease, Status: event.StatusPublished}, "", true},
		{"distribute false", config.Policies{Distribute: &no}, &event.Event{Kind: event.KindRelease, Status: event.StatusPublished}, "", false},
		{"distribute false leaves crashes", config.Policies{Distribute: &no}, &event.Event{Kind: event.KindCrash, Status: event.StatusCreated}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := &config.Destination{Name: "d"}
			d.Policies = tc.policies
			r := resolve(nil, d)
			if got := r.policyAllows(tc.ev, tc.tr); got != tc.want {
				t.Errorf("policy %+v for %s (%q) = %v, want %v", tc.policies, tc.ev.Name(), tc.tr, got, tc.want)
			}
		})
	}
}

func TestBranchMatches(t *testing.T) {
	t.Parallel()
	std := []string{"main", "release/*", "!feature/*"}
	tests := []struct {
		patterns []string
		branch   string
		want     bool
	}{
		{nil, "anything", true},
		{std, "main", true},
		{std, "release/1.2", true},
		{std, "release/1.2/hotfix", true}, // '*' covers '/'
		{std, "releases", false},
		{std, "feature/login", false},
		{std, "develop", false},
		{std, "refs/heads/main", true},                                   // TeamCity's full ref
		{[]string{"refs/heads/main"}, "main", true},                      // and in the pattern
		{[]string{"!feature/*"}, "develop", true},                        // only excludes: the rest pass
		{[]string{"!feature/*"}, "feature/x", false},                     // excluded
		{[]string{"release/*", "!release/old*"}, "release/old-1", false}, // exclude wins
		{[]string{"v?.?"}, "v1.2", true},
		{[]string{"v?.?"}, "v1.23", false},
		{[]string{"*"}, "*a", true},
		{[]string{"*-rc"}, "1.0-rc", true},
		{[]string{"*-rc"}, "1.0-rc1", false},
		{[]string{"Main"}, "main", false}, // case matters, as in git
	}
	for _, tc := range tests {
		if got := BranchMatches(tc.patterns, tc.branch); got != tc.want {
			t.Errorf("BranchMatches(%q, %q) = %v, want %v", tc.patterns, tc.branch, got, tc.want)
		}
	}
}

func TestBranchFilters(t *testing.T) {
	t.Parallel()
	c := parse(t, `
destinations:
  - {name: globs, type: console, branches: [main, "release/*", "!feature/*"]}
  - {name: default-only, type: console, default_branch_only: true}
  - {name: both, type: console, default_branch_only: true, branches: ["release/*"]}
  - {name: all, type: console}
`)
	ev := func(branch string, dflt bool) *event.Event {
		e := build(event.StatusFailed)
		e.Branch, e.DefaultBranch = branch, dflt
		return e
	}
	tests := []struct {
		name string
		ev   *event.Event
		want string
	}{
		{"default branch main", ev("main", true), "globs,default-only,all"},
		{"refs/heads/ prefix", ev("refs/heads/main", true), "globs,default-only,all"},
		{"release branch, not default", ev("release/2.0", false), "globs,all"},
		{"release branch flagged default", ev("release/2.0", true), "globs,default-only,both,all"},
		{"excluded feature branch", ev("feature/login", false), "all"},
		{"other branch", ev("develop", false), "all"},
		{"TeamCity <default>: no branch name", ev("", true), "globs,default-only,both,all"},
		{"no branch at all", ev("", false), "globs,default-only,both,all"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := names(Route(c, tc.ev, Outcome{})); got != tc.want {
				t.Errorf("destinations = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestInheritance is the seeds' example and three deeper cases: a
// grandchild's override, an override of one setting only, and a project
// missing from the config falling back to _Root.
func TestInheritance(t *testing.T) {
	t.Parallel()
	c := parse(t, `
projects:
  - id: _Root
    events: BUILD_STARTED;BUILD_FINISHED
    build_failure: only_if_previously_successful
    branches: [main]
  - id: ProjectA
    events: BUILD_INTERRUPTED
  - id: ProjectB
  - id: ProjectB_Mobile
    parent: ProjectB
    events: [BUILD_FINISHED]
  - id: ProjectB_Mobile_iOS
    parent: ProjectB_Mobile
    events: [build.failed]
    branches: ["release/*"]
  - id: ProjectC
    build_failure: always
destinations:
  - {name: chat, type: console, events: [build.queued]}
`)
	ev := func(project string, status event.Status, branch string) *event.Event {
		e := build(status)
		e.ProjectID, e.Branch = project, branch
		return e
	}
	tests := []struct {
		name string
		ev   *event.Event
		tr   Transition
		want bool
	}{
		// The seeds' example: Root has BUILD_STARTED;BUILD_FINISHED, A has
		// BUILD_INTERRUPTED, so A reports only interrupted builds.
		{"root: started", ev("Other", "started", "main"), "", true},
		{"root: finished", ev("Other", "succeeded", "main"), TransitionFirst, true},
		{"root: interrupted is not subscribed", ev("Other", "interrupted", "main"), "", false},
		{"A: interrupted", ev("ProjectA", "interrupted", "main"), "", true},
		{"A: started is replaced, not merged", ev("ProjectA", "started", "main"), "", false},
		{"A: finished is replaced, not merged", ev("ProjectA", "succeeded", "main"), TransitionFirst, false},
		{"root's events replace the destination's", ev("Other", "queued", "main"), "", false},

		// A project without settings inherits everything from its parent.
		{"B inherits root: started", ev("ProjectB", "started", "main"), "", true},

		// Grandchild: iOS overrides Mobile's events and Root's branches.
		{"Mobile: success (its own events)", ev("ProjectB_Mobile", "succeeded", "main"), TransitionFirst, true},
		{"Mobile: started is not in its events", ev("ProjectB_Mobile", "started", "main"), "", false},
		{"iOS: failure on a release branch", ev("ProjectB_Mobile_iOS", "failed", "release/1"), TransitionBroken, true},
		{"iOS: success is not in its events", ev("ProjectB_Mobile_iOS", "succeeded", "release/1"), TransitionFixed, false},
		{"iOS: main is outside its branches", ev("ProjectB_Mobile_iOS", "failed", "main"), TransitionBroken, false},
		{"iOS: still inherits root's failure policy", ev("ProjectB_Mobile_iOS", "failed", "release/1"), TransitionStillFailing, false},
		{"Mobile: still inherits root's branches", ev("ProjectB_Mobile", "succeeded", "release/1"), TransitionFirst, false},

		// One setting only: C overrides build_failure and keeps Root's events and branches.
		{"C: still failing now sent", ev("ProjectC", "failed", "main"), TransitionStillFailing, true},
		{"root: still failing not sent", ev("Other", "failed", "main"), TransitionStillFailing, false},
		{"C: root's events kept", ev("ProjectC", "interrupted", "main"), "", false},
		{"C: root's branches kept", ev("ProjectC", "failed", "develop"), TransitionStillFailing, false},

		// Missing from the config: Root's settings, like an event without a project.
		{"unknown project falls back to root", ev("NotDeclared", "started", "main"), "", true},
		{"unknown project, root's policy", ev("NotDeclared", "failed", "main"), TransitionStillFailing, false},
		{"no project id at all", ev("", "started", "main"), "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := resolve(Chain(c, tc.ev.ProjectID), &c.Destinations[0])
			got := r.subscribed(tc.ev, tc.tr) && r.policyAllows(tc.ev, tc.tr) && r.branchAllows(tc.ev)
			if got != tc.want {
				t.Errorf("%s %s (%q) sent = %v, want %v (rules %+v)", tc.ev.ProjectID, tc.ev.Name(), tc.tr, got, tc.want, r)
			}
		})
	}
}

func TestChain(t *testing.T) {
	t.Parallel()
	c := parse(t, `
projects:
  - {id: A}
  - {id: A1, parent: A}
  - {id: A1x, parent: A1}
destinations: [{name: d, type: console}]
`)
	ids := func(chain []*config.Project) string {
		var out []string
		for _, p := range chain {
			out = append(out, p.ID)
		}
		return strings.Join(out, ">")
	}
	if got := ids(Chain(c, "A1x")); got != "A1x>A1>A" {
		t.Errorf("chain of A1x without a declared root = %q", got)
	}
	if got := ids(Chain(c, "nope")); got != "" {
		t.Errorf("chain of an undeclared project without a declared root = %q", got)
	}
	c.Projects = append(c.Projects, config.Project{ID: "_Root"})
	if got := ids(Chain(c, "A1x")); got != "A1x>A1>A>_Root" {
		t.Errorf("chain of A1x = %q", got)
	}
	if got := ids(Chain(c, "nope")); got != "_Root" {
		t.Errorf("chain of an undeclared project = %q", got)
	}
	// A cycle (which validation rejects) ends the walk instead of looping.
	c.Projects = []config.Project{{ID: "X", Parent: "Y"}, {ID: "Y", Parent: "X"}}
	if got := Chain(c, "X"); len(got) > len(c.Projects)+1 {
		t.Errorf("cycle walked %d steps", len(got))
	}
}

// TestProjectAndDestination pins how a project's settings combine with a
// destination's: the project's destinations list limits the targets; its
// events, policies and branches, when set, replace the destination's; a key
// neither sets takes the default.
func TestProjectAndDestination(t *testing.T) {
	t.Parallel()
	c := parse(t, `
projects:
  - id: Web
    destinations: [web-chat, ops]
    build_success: only_if_previously_failed
    retry_count: 2
  - id: Web_Docs
    parent: Web
    destinations: [docs-chat]
  - id: Quiet
    events: [build.failed]
destinations:
  - {name: web-chat, type: console}
  - {name: docs-chat, type: console, dedup_window: 5m}
  - {name: ops, type: console, build_success: never, build_failure: only_if_previously_successful, events: [build]}
  - {name: all, type: console, events: [build.started]}
`)
	ev := func(project string, status event.Status) *event.Event {
		e := build(status)
		e.ProjectID = project
		return e
	}
	tests := []struct {
		name string
		ev   *event.Event
		prev Outcome
		want string
	}{
		{"Web: only its destinations; its policy replaces ops' never", ev("Web", "succeeded"), Outcome{Status: "failed", Number: "9"}, "web-chat,ops"},
		{"Web: a success after a success goes nowhere", ev("Web", "succeeded"), Outcome{Status: "succeeded", Number: "9"}, ""},
		{"Web: ops keeps its own build_failure (Web sets none)", ev("Web", "failed"), Outcome{Status: "failed", Number: "9"}, "web-chat"},
		{"Web: a break reaches ops too", ev("Web", "failed"), Outcome{Status: "succeeded", Number: "9"}, "web-chat,ops"},
		{"Web_Docs: its destinations replace Web's", ev("Web_Docs", "failed"), Outcome{}, "docs-chat"},
		{"Quiet: its events replace every destination's", ev("Quiet", "failed"), Outcome{}, "web-chat,docs-chat,all"},
		{"Quiet: ops keeps its policies", ev("Quiet", "failed"), Outcome{Status: "succeeded", Number: "9"}, "web-chat,docs-chat,ops,all"},
		{"no project: destinations' own settings", ev("", "started"), Outcome{}, "web-chat,docs-chat,ops,all"},
		{"no project: defaults", ev("", "succeeded"), Outcome{}, "web-chat,docs-chat"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := names(Route(c, tc.ev, tc.prev)); got != tc.want {
				t.Errorf("destinations = %q, want %q", got, tc.want)
			}
		})
	}

	// retry_count is inherited down the chain, and dedup_window comes from
	// the destination.
	d := Route(c, ev("Web_Docs", "failed"), Outcome{})
	if len(d.Targets) != 1 || d.Targets[0].MaxAttempts != 3 || d.Targets[0].DedupWindow != 5*time.Minute {
		t.Errorf("Web_Docs targets = %+v, want docs-chat with 3 attempts and a 5m dedup window", d.Targets)
	}
	if d := Route(c, ev("", "failed"), Outcome{}); d.Targets[0].MaxAttempts != 0 {
		t.Errorf("no project: MaxAttempts = %d, want 0 (the destination's)", d.Targets[0].MaxAttempts)
	}
}

// TestRouteDecision checks the transition and record flag Route reports.
func TestRouteDecision(t *testing.T) {
	t.Parallel()
	c := parse(t, `destinations: [{name: fixes, type: console, events: [build.fixed]}]`)
	fixed := build(event.StatusSucceeded)
	fixed.Number = "12"
	d := Route(c, fixed, Outcome{Status: event.StatusFailed, Number: "11"})
	if d.Transition != TransitionFixed || !d.Record || names(d) != "fixes" {
		t.Errorf("decision = %+v", d)
	}
	d = Route(c, fixed, Outcome{Status: event.StatusFailed, Number: "13"})
	if d.Transition != TransitionNone || d.Record || names(d) != "" {
		t.Errorf("late build: decision = %+v", d)
	}
	if d := Route(c, &event.Event{Kind: event.KindAgent, Status: event.StatusRegistered}, Outcome{}); d.Record || d.Transition != "" {
		t.Errorf("agent: decision = %+v", d)
	}
	if !slices.Equal([]string{"first", "fixed", "broken", "still_failing"}, config.Transitions) {
		t.Errorf("config.Transitions = %v: keep it in step with route's constants", config.Transitions)
	}
}

func TestLineOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ev   event.Event
		want Line
		ok   bool
	}{
		{event.Event{Source: "teamcity", ProjectID: "P", Project: "Pro", BuildConfigID: "P_B", Branch: "refs/heads/main"}, Line{"teamcity", "P", "P_B", "main"}, true},
		{event.Event{Source: "appcenter", ProjectID: "app", Branch: "dev"}, Line{"appcenter", "app", "", "dev"}, true},
		{event.Event{Source: "generic", Project: "Shop"}, Line{"generic", "Shop", "", ""}, true},
		{event.Event{Source: "generic", BuildConfigID: "nightly"}, Line{"generic", "", "nightly", ""}, true},
		{event.Event{Source: "generic", Branch: "main"}, Line{"generic", "", "", "main"}, false},
	}
	for _, tc := range tests {
		got, ok := LineOf(&tc.ev)
		if got != tc.want || ok != tc.ok {
			t.Errorf("LineOf(%+v) = %+v, %v; want %+v, %v", tc.ev, got, ok, tc.want, tc.ok)
		}
	}
}
