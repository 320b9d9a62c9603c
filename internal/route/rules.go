package route

import (
	"strings"

	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/event"
)

// rules are the settings in force for one event at one destination, after
// the project chain, the destination and the defaults.
type rules struct {
	events            config.Events // empty: every event
	buildSuccess      string
	buildFailure      string
	crashes           bool
	distribute        bool
	branches          []string // nil: every branch
	defaultBranchOnly bool
}

// Chain is the project settings that apply to events of project id,
// nearest first: the project, its ancestors, and _Root when declared. A
// project the config does not declare (or an empty id) starts at _Root.
// The config's validation rejects cycles; a cycle here stops the walk.
func Chain(c *config.Config, id string) []*config.Project {
	p := c.Project(id)
	if p == nil {
		p = c.Project(config.RootProject)
	}
	var chain []*config.Project
	for p != nil && len(chain) <= len(c.Projects) {
		chain = append(chain, p)
		if p.ID == config.RootProject {
			break
		}
		parent := p.Parent
		if parent == "" {
			parent = config.RootProject
		}
		p = c.Project(parent)
	}
	return chain
}

// first returns the nearest project value that is set, if any.
func first[T any](chain []*config.Project, get func(*config.Project) (T, bool)) (T, bool) {
	for _, p := range chain {
		if v, ok := get(p); ok {
			return v, true
		}
	}
	var zero T
	return zero, false
}

// resolve applies the combination rule of the package doc, key by key:
// nearest project that sets it, else the destination, else the default.
func resolve(chain []*config.Project, d *config.Destination) rules {
	r := rules{
		buildSuccess: config.PolicyAlways,
		buildFailure: config.PolicyAlways,
		crashes:      true,
		distribute:   true,
	}
	events, ok := first(chain, func(p *config.Project) (config.Events, bool) { return p.Events, len(p.Events) > 0 })
	if !ok {
		events = d.Events
	}
	r.events = events

	str := func(get func(config.Policies) string, dflt string) string {
		if v, ok := first(chain, func(p *config.Project) (string, bool) { v := get(p.Policies); return v, v != "" }); ok {
			return v
		}
		if v := get(d.Policies); v != "" {
			return v
		}
		return dflt
	}
	flag := func(get func(config.Policies) *bool, dflt bool) bool {
		if v, ok := first(chain, func(p *config.Project) (*bool, bool) { v := get(p.Policies); return v, v != nil }); ok {
			return *v
		}
		if v := get(d.Policies); v != nil {
			return *v
		}
		return dflt
	}
	r.buildSuccess = str(func(p config.Policies) string { return p.BuildSuccess }, r.buildSuccess)
	r.buildFailure = str(func(p config.Policies) string { return p.BuildFailure }, r.buildFailure)
	r.crashes = flag(func(p config.Policies) *bool { return p.Crashes }, r.crashes)
	r.distribute = flag(func(p config.Policies) *bool { return p.Distribute }, r.distribute)
	r.defaultBranchOnly = flag(func(p config.Policies) *bool { return p.DefaultBranchOnly }, false)
	if b, ok := first(chain, func(p *config.Project) ([]string, bool) { return p.Branches, len(p.Branches) > 0 }); ok {
		r.branches = b
	} else {
		r.branches = d.Branches
	}
	return r
}

// chainDestinations is the set of destination names the nearest project
// that sets destinations allows, or nil when none does (all allowed).
func chainDestinations(chain []*config.Project) map[string]bool {
	names, ok := first(chain, func(p *config.Project) ([]string, bool) { return p.Destinations, len(p.Destinations) > 0 })
	if !ok {
		return nil
	}
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	return set
}

// chainRetryCount is the nearest project's retry_count, or nil.
func chainRetryCount(chain []*config.Project) *int {
	rc, _ := first(chain, func(p *config.Project) (*int, bool) { return p.RetryCount, p.RetryCount != nil })
	return rc
}

// subscribed reports whether the subscription takes ev with transition tr.
func (r rules) subscribed(ev *event.Event, tr Transition) bool {
	if len(r.events) == 0 {
		return true
	}
	for sub := range r.events.Names() {
		if matches(sub, ev, tr) {
			return true
		}
	}
	return false
}

// matches: "*", "<kind>", "<kind>.*", "<kind>.<status>", and
// "build.<transition>" for a finished build with that transition.
func matches(sub string, ev *event.Event, tr Transition) bool {
	if sub == "*" {
		return true
	}
	kind, status, _ := strings.Cut(sub, ".")
	if kind != string(ev.Kind) {
		return false
	}
	if status == "" || status == "*" || status == string(ev.Status) {
		return true
	}
	return tr != "" && status == string(tr)
}

// policyAllows applies the kind's policy. A policy that depends on the
// previous outcome is its transition: only_if_previously_failed sends the
// successes that fixed the line, only_if_previously_successful the
// failures that broke it.
func (r rules) policyAllows(ev *event.Event, tr Transition) bool {
	switch {
	case ev.Kind == event.KindBuild && ev.Status == event.StatusSucceeded:
		switch r.buildSuccess {
		case config.PolicyNever:
			return false
		case config.PolicyOnlyIfPreviouslyFailed:
			return tr == TransitionFixed
		}
	case ev.Kind == event.KindBuild && ev.Status == event.StatusFailed:
		switch r.buildFailure {
		case config.PolicyNever:
			return false
		case config.PolicyOnlyIfPreviouslySuccessful:
			return tr == TransitionBroken
		}
	case ev.Kind == event.KindCrash:
		return r.crashes
	case ev.Kind == event.KindRelease:
		return r.distribute
	}
	return true
}

// branchAllows applies branches and default_branch_only. An event without
// a branch name (agents, crashes, releases, builds of configurations
// without branches, TeamCity's "<default>") is not subject to them.
func (r rules) branchAllows(ev *event.Event) bool {
	b := strings.TrimPrefix(ev.Branch, "refs/heads/")
	if b == "" {
		return true
	}
	if r.defaultBranchOnly && !ev.DefaultBranch {
		return false
	}
	return BranchMatches(r.branches, b)
}
