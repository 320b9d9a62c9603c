package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRulesKeys(t *testing.T) {
	c, err := Parse([]byte(`
projects:
  - id: _Root
    events: BUILD_STARTED;BUILD_FINISHED
  - id: Mobile
    destinations: [chat]
    retry_count: 2
    build_success: only_if_previously_failed
    build_failure: only_if_previously_successful
    crashes: false
    distribute: false
    branches: [main, "!feature/*"]
    default_branch_only: true
  - id: Mobile_iOS
    parent: Mobile
    events: [build.fixed, BUILD_INTERRUPTED]
destinations:
  - name: chat
    type: console
    events: "BUILD_FAILED;build.fixed"
    build_success: never
    build_failure: always
    crashes: true
    distribute: false
    branches: ["release/*"]
    default_branch_only: false
    dedup_window: 5m
`), ".")
	if err != nil {
		t.Fatal(err)
	}
	d := c.Destinations[0]
	if !slices.Equal(d.Events, Events{"BUILD_FAILED;build.fixed"}) || d.BuildSuccess != "never" || d.BuildFailure != "always" ||
		!*d.Crashes || *d.Distribute || !slices.Equal(d.Branches, []string{"release/*"}) || *d.DefaultBranchOnly || d.DedupWindow != 5*time.Minute {
		t.Errorf("destination rules = %+v", d.Rules)
	}
	root, m, ios := c.Project("_Root"), c.Project("Mobile"), c.Project("Mobile_iOS")
	if root == nil || m == nil || ios == nil {
		t.Fatalf("projects = %+v", c.Projects)
	}
	if !slices.Equal(root.Events, Events{"BUILD_STARTED;BUILD_FINISHED"}) {
		t.Errorf("root events = %q", root.Events)
	}
	if !slices.Equal(m.Destinations, []string{"chat"}) || *m.RetryCount != 2 || m.BuildSuccess != PolicyOnlyIfPreviouslyFailed ||
		m.BuildFailure != PolicyOnlyIfPreviouslySuccessful || *m.Crashes || *m.Distribute || len(m.Branches) != 2 || !*m.DefaultBranchOnly {
		t.Errorf("Mobile = %+v", m)
	}
	if ios.Parent != "Mobile" || len(ios.Events) != 2 || ios.BuildSuccess != "" || ios.Crashes != nil {
		t.Errorf("Mobile_iOS = %+v (unset keys must stay unset, to inherit)", ios)
	}
	if c.Project("nope") != nil {
		t.Error("Project found an undeclared id")
	}
}

func TestExpandEvents(t *testing.T) {
	tests := []struct {
		in   []string
		want []string
	}{
		{nil, nil},
		{[]string{"BUILD_STARTED;BUILD_FINISHED;BUILD_INTERRUPTED"}, []string{"build.started", "build.succeeded", "build.failed", "build.interrupted"}},
		{[]string{"BUILD_FINISHED", "build.failed", "BUILD_FAILED"}, []string{"build.succeeded", "build.failed"}},
		{[]string{" agent.registered ;; AGENT_REGISTRED;"}, []string{"agent.registered"}},
		{[]string{"build.fixed", "build.broken", "build.still_failing", "build.first"}, []string{"build.fixed", "build.broken", "build.still_failing", "build.first"}},
		{[]string{"*", "build.*", "crash"}, []string{"*", "build.*", "crash"}},
		{[]string{"BUILD_TYPE_ADDED_TO_QUEUE;BUILD_ADDED_TO_QUEUE;CHANGES_LOADED;BUILD_PROBLEMS_CHANGED"}, []string{"build.queued", "build.changes_loaded", "build.problems_changed"}},
	}
	for _, tc := range tests {
		got, err := ExpandEvents(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ExpandEvents(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestRulesInvalid asserts the exact error of each invalid rule.
func TestRulesInvalid(t *testing.T) {
	const dest = "destinations: [{name: chat, type: console}]\n"
	tcNames := "AGENT_REGISTERED, AGENT_REGISTRED, AGENT_REMOVED, AGENT_UNREGISTERED, BUILD_ADDED_TO_QUEUE, BUILD_BROKEN, BUILD_FAILED, BUILD_FINISHED, BUILD_FIXED, BUILD_INTERRUPTED, BUILD_PROBLEMS_CHANGED, BUILD_STARTED, BUILD_SUCCESSFUL, BUILD_TYPE_ADDED_TO_QUEUE, CHANGES_LOADED"
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown TeamCity name",
			"destinations: [{name: chat, type: console, events: \"BUILD_STARTED;BUILD_EXPLODED\"}]\n",
			`destination "chat": events: "BUILD_EXPLODED": unknown TeamCity event (valid: ` + tcNames + `; or herald names such as build.failed)`},
		{"unknown TeamCity name on a project",
			"projects: [{id: A, events: [BUILD_FINISH]}]\n" + dest,
			`project "A": events: "BUILD_FINISH": unknown TeamCity event (valid: ` + tcNames + `; or herald names such as build.failed)`},
		{"ignored TeamCity event",
			"destinations: [{name: chat, type: console, events: [BUILD_REMOVED_FROM_QUEUE]}]\n",
			`destination "chat": events: "BUILD_REMOVED_FROM_QUEUE": TeamCity sends it but herald ignores it, so nothing would match; remove it`},
		{"unknown transition",
			"destinations: [{name: chat, type: console, events: [build.fixd]}]\n",
			`destination "chat": events: "build.fixd": unknown status (valid: build.queued, build.changes_loaded, build.started, build.succeeded, build.failed, build.interrupted, build.problems_changed)`},
		{"transition on another kind",
			"destinations: [{name: chat, type: console, events: [crash.fixed]}]\n",
			`destination "chat": events: "crash.fixed": unknown status (valid: crash.created)`},
		{"bad build_success",
			"destinations: [{name: chat, type: console, build_success: only_if_previously_successful}]\n",
			`destination "chat": build_success: "only_if_previously_successful" is not one of always, only_if_previously_failed, never`},
		{"bad build_failure on a project",
			"projects: [{id: A, build_failure: sometimes}]\n" + dest,
			`project "A": build_failure: "sometimes" is not one of always, only_if_previously_successful, never`},
		{"bare exclude",
			"destinations: [{name: chat, type: console, branches: [main, \"!\"]}]\n",
			`destination "chat": branches: "!": empty pattern`},
		{"double exclude",
			"projects: [{id: A, branches: [\"!!x\"]}]\n" + dest,
			`project "A": branches: "!!x": one '!' at most`},
		{"negative dedup_window",
			"destinations: [{name: chat, type: console, dedup_window: -1m}]\n",
			`destination "chat": dedup_window: must be positive`},
		{"dedup_window is not a project key",
			"projects: [{id: A, dedup_window: 5m}]\n" + dest,
			`line 1: field dedup_window is not a known key of Project`},
		{"unknown parent",
			"projects: [{id: A, parent: Nope}]\n" + dest,
			`project "A": parent "Nope" is not a declared project (nor _Root)`},
		{"own parent",
			"projects: [{id: A, parent: A}]\n" + dest,
			`project "A": parent: a project cannot be its own parent` + "\n" + `projects: parent cycle A → A`},
		{"cycle",
			"projects: [{id: A, parent: C}, {id: B, parent: A}, {id: C, parent: B}, {id: D, parent: B}]\n" + dest,
			`projects: parent cycle A → C → B → A`},
		{"root with a parent",
			"projects: [{id: A}, {id: _Root, parent: A}]\n" + dest,
			`project "_Root": the root project has no parent`},
		{"duplicate id",
			"projects: [{id: A}, {id: A}]\n" + dest,
			`project "A": id is used twice`},
		{"missing id",
			"projects: [{parent: A}, {id: A}]\n" + dest,
			`projects[0]: id is required`},
		{"unknown destination",
			"projects: [{id: A, destinations: [chat, team]}]\n" + dest,
			`project "A": destinations: "team" is not a destination`},
		{"negative retry_count",
			"projects: [{id: A, retry_count: -1}]\n" + dest,
			`project "A": retry_count: must not be negative`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), ".")
			if err == nil {
				t.Fatal("parsed without error")
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n got %s\nwant %s", err, tc.want)
			}
		})
	}
}

func TestCheckEventName(t *testing.T) {
	for _, ok := range []string{"*", "build", "build.*", "build.failed", "build.fixed", "BUILD_FINISHED", "BUILD_STARTED;agent.removed"} {
		if err := CheckEventName(ok); err != nil {
			t.Errorf("CheckEventName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"builds", "build.fixed.now", "Build_Finished", "BUILD_STARTED;nope"} {
		if err := CheckEventName(bad); err == nil {
			t.Errorf("CheckEventName(%q) accepted", bad)
		} else if !strings.Contains(err.Error(), "valid") {
			t.Errorf("CheckEventName(%q) = %v: should list the valid names", bad, err)
		}
	}
}
