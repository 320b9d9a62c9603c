package config

import (
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/herald-ci/herald/internal/event"
)

// Build-outcome policies: the values of build_success and build_failure.
const (
	PolicyAlways = "always"
	PolicyNever  = "never"
	// PolicyOnlyIfPreviouslyFailed sends a success only when the previous
	// finished build of the same line failed (the transition "fixed").
	PolicyOnlyIfPreviouslyFailed = "only_if_previously_failed"
	// PolicyOnlyIfPreviouslySuccessful sends a failure only when the
	// previous finished build of the same line succeeded ("broken").
	PolicyOnlyIfPreviouslySuccessful = "only_if_previously_successful"
)

// RootProject is the top of the project hierarchy, TeamCity's own name for
// it. It exists whether or not the config declares it; events whose project
// is not declared take its settings.
const RootProject = "_Root"

// Transitions are the build-outcome transitions a subscription may name as
// "build.<transition>" (Jenkins' and tcWebHooks' vocabulary): the first
// finished build of a line, a success after a failure, a failure after a
// success, a failure after a failure.
var Transitions = []string{"first", "fixed", "broken", "still_failing"}

// Policies are the routing rules a destination and a project share. Every
// key is optional: unset means "inherit" on a project and "default" on a
// destination (see internal/route for how the two combine).
type Policies struct {
	// BuildSuccess: always (default), only_if_previously_failed, never.
	BuildSuccess string `yaml:"build_success,omitempty"`
	// BuildFailure: always (default), only_if_previously_successful, never.
	BuildFailure string `yaml:"build_failure,omitempty"`
	// Crashes: whether new crash groups are sent (default true).
	Crashes *bool `yaml:"crashes,omitempty"`
	// Distribute: whether new releases are sent (default true).
	Distribute *bool `yaml:"distribute,omitempty"`
	// Branches are glob patterns ('*' any run of characters, '/' included;
	// '?' one character); a leading '!' excludes. A branch passes when it
	// matches no exclude and, if there are includes, at least one include.
	// A "refs/heads/" prefix is ignored on both sides.
	Branches []string `yaml:"branches,omitempty"`
	// DefaultBranchOnly drops events of a branch the payload does not flag
	// as the default one (TeamCity's defaultBranch; App Center sends none).
	DefaultBranchOnly *bool `yaml:"default_branch_only,omitempty"`
}

// Rules decide which events a destination gets beyond its event
// subscription: build-outcome policies, branch filters and the dedup window.
// Inlined into Destination.
type Rules struct {
	Policies `yaml:",inline"`
	// DedupWindow sends an identical rendered message to this destination
	// at most once within the window (0: no dedup). Destinations only.
	DedupWindow time.Duration `yaml:"dedup_window,omitempty"`
}

// Project is one node of the project hierarchy (a TeamCity project id or
// an App Center app); its settings apply to its children unless they set
// their own, which then replace the parent's (never merged).
type Project struct {
	ID string `yaml:"id"`
	// Parent is the parent project's id; empty means _Root.
	Parent string `yaml:"parent,omitempty"`
	// Events replaces the destinations' own subscription for this
	// project's events.
	Events Events `yaml:"events,omitempty"`
	// Destinations limits which destinations this project's events reach.
	Destinations []string `yaml:"destinations,omitempty"`
	// RetryCount is retries after the first attempt for deliveries of this
	// project's events (retry_count: N is N+1 attempts).
	RetryCount *int `yaml:"retry_count,omitempty"`

	Policies `yaml:",inline"`
}

// Events is an event subscription. Entries are herald names ("*",
// "build", "build.*", "build.failed", "build.fixed") or TeamCity's own
// event names ("BUILD_FINISHED"); any entry may be a semicolon-separated
// list, the way TeamCity's teamcity.internal.webhooks.events parameter
// writes it, and the whole subscription may be one such string instead of
// a YAML list. Empty means every event.
type Events []string

// UnmarshalYAML accepts a list or a single string.
func (e *Events) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if n.Tag == "!!null" {
			*e = nil
			return nil
		}
		var s string
		if err := n.Decode(&s); err != nil {
			return err
		}
		*e = Events{s}
		return nil
	}
	var l []string
	if err := n.Decode(&l); err != nil {
		return err
	}
	*e = l
	return nil
}

// teamCityEvents maps TeamCity's event names (and the tcWebHooks-style
// outcome names users know) onto herald's. BUILD_FINISHED is a build that
// finished successfully or with a failure: a canceled build sends
// BUILD_INTERRUPTED instead (TeamCity's webhook documentation).
var teamCityEvents = map[string][]string{
	"AGENT_REGISTRED":           {"agent.registered"}, // TeamCity's own spelling
	"AGENT_REGISTERED":          {"agent.registered"},
	"AGENT_UNREGISTERED":        {"agent.unregistered"},
	"AGENT_REMOVED":             {"agent.removed"},
	"BUILD_TYPE_ADDED_TO_QUEUE": {"build.queued"},
	"BUILD_ADDED_TO_QUEUE":      {"build.queued"},
	"CHANGES_LOADED":            {"build.changes_loaded"},
	"BUILD_STARTED":             {"build.started"},
	"BUILD_PROBLEMS_CHANGED":    {"build.problems_changed"},
	"BUILD_FINISHED":            {"build.succeeded", "build.failed"},
	"BUILD_SUCCESSFUL":          {"build.succeeded"},
	"BUILD_FAILED":              {"build.failed"},
	"BUILD_FIXED":               {"build.fixed"},
	"BUILD_BROKEN":              {"build.broken"},
	"BUILD_INTERRUPTED":         {"build.interrupted"},
}

// ignoredTeamCityEvents are TeamCity event names the decoder answers
// "ignored": subscribing to them could never match.
var ignoredTeamCityEvents = []string{"BUILD_REMOVED_FROM_QUEUE"}

// Names yields the herald names the subscription stands for, without
// checking or allocating: TeamCity names translated, lists split, blanks
// skipped. A name that is not valid (Validate reports it) matches nothing.
func (e Events) Names() iter.Seq[string] {
	return func(yield func(string) bool) {
		for _, entry := range e {
			for part := range strings.SplitSeq(entry, ";") {
				name := strings.TrimSpace(part)
				if name == "" {
					continue
				}
				if !isTeamCityName(name) {
					if !yield(name) {
						return
					}
					continue
				}
				for _, n := range teamCityEvents[name] {
					if !yield(n) {
						return
					}
				}
			}
		}
	}
}

// ExpandEvents turns a subscription into herald names: TeamCity names are
// translated, semicolon lists split, blanks and repeats dropped. The
// result is nil for an empty subscription (every event). The error names
// the first entry that is not a valid name.
func ExpandEvents(entries []string) ([]string, error) {
	var out []string
	for _, entry := range entries {
		for part := range strings.SplitSeq(entry, ";") {
			name := strings.TrimSpace(part)
			if name == "" {
				continue
			}
			names, err := expandEvent(name)
			if err != nil {
				return nil, err
			}
			for _, n := range names {
				if !slices.Contains(out, n) {
					out = append(out, n)
				}
			}
		}
	}
	return out, nil
}

func expandEvent(name string) ([]string, error) {
	if isTeamCityName(name) {
		if names, ok := teamCityEvents[name]; ok {
			return names, nil
		}
		if slices.Contains(ignoredTeamCityEvents, name) {
			return nil, fmt.Errorf("%q: TeamCity sends it but herald ignores it, so nothing would match; remove it", name)
		}
		valid := make([]string, 0, len(teamCityEvents))
		for k := range teamCityEvents {
			valid = append(valid, k)
		}
		slices.Sort(valid)
		return nil, fmt.Errorf("%q: unknown TeamCity event (valid: %s; or herald names such as build.failed)", name, strings.Join(valid, ", "))
	}
	if err := checkHeraldName(name); err != nil {
		return nil, err
	}
	return []string{name}, nil
}

// isTeamCityName tells TeamCity's form (upper case and '_') from herald's.
func isTeamCityName(s string) bool {
	for _, r := range s {
		if (r < 'A' || r > 'Z') && r != '_' {
			return false
		}
	}
	return s != ""
}

// checkHeraldName accepts "<kind>", "<kind>.*" and "<kind>.<status>" for
// the kinds and statuses in event.Statuses, "build.<transition>", and "*".
func checkHeraldName(name string) error {
	if name == "*" {
		return nil
	}
	kind, status, _ := strings.Cut(name, ".")
	statuses, ok := event.Statuses[event.Kind(kind)]
	if !ok {
		kinds := make([]string, 0, len(event.Statuses))
		for k := range event.Statuses {
			kinds = append(kinds, string(k))
		}
		slices.Sort(kinds)
		return fmt.Errorf("%q: unknown kind %q (valid: %s)", name, kind, strings.Join(kinds, ", "))
	}
	if status == "" || status == "*" || slices.Contains(statuses, event.Status(status)) {
		return nil
	}
	if event.Kind(kind) == event.KindBuild && slices.Contains(Transitions, status) {
		return nil
	}
	valid := make([]string, len(statuses))
	for i, s := range statuses {
		valid[i] = kind + "." + string(s)
	}
	return fmt.Errorf("%q: unknown status (valid: %s)", name, strings.Join(valid, ", "))
}

// Project returns the declared project with id, or nil.
func (c *Config) Project(id string) *Project {
	for i := range c.Projects {
		if c.Projects[i].ID == id {
			return &c.Projects[i]
		}
	}
	return nil
}

// validateRules lists the problems of the destinations' rules and of the
// project hierarchy. Destinations' event names are checked by Validate.
func (c *Config) validateRules() []error {
	var errs []error
	for i, d := range c.Destinations {
		where := fmt.Sprintf("destinations[%d]", i)
		if d.Name != "" {
			where = fmt.Sprintf("destination %q", d.Name)
		}
		for _, e := range d.Policies.check() {
			errs = append(errs, fmt.Errorf("%s: %w", where, e))
		}
		if d.DedupWindow < 0 {
			errs = append(errs, fmt.Errorf("%s: dedup_window: must be positive", where))
		}
	}

	seen := map[string]bool{}
	for i, p := range c.Projects {
		where := fmt.Sprintf("projects[%d]", i)
		if p.ID != "" {
			where = fmt.Sprintf("project %q", p.ID)
		}
		add := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s: "+format, append([]any{where}, args...)...))
		}
		switch {
		case strings.TrimSpace(p.ID) == "":
			add("id is required")
		case seen[p.ID]:
			add("id is used twice")
		}
		seen[p.ID] = true
		switch {
		case p.ID == RootProject && p.Parent != "":
			add("the root project has no parent")
		case p.Parent == "" || p.Parent == RootProject:
		case p.Parent == p.ID:
			add("parent: a project cannot be its own parent")
		case c.Project(p.Parent) == nil:
			add("parent %q is not a declared project (nor %s)", p.Parent, RootProject)
		}
		if _, err := ExpandEvents(p.Events); err != nil {
			add("events: %w", err)
		}
		for _, name := range p.Destinations {
			if !slices.ContainsFunc(c.Destinations, func(d Destination) bool { return d.Name == name }) {
				add("destinations: %q is not a destination", name)
			}
		}
		if p.RetryCount != nil && *p.RetryCount < 0 {
			add("retry_count: must not be negative")
		}
		for _, e := range p.Policies.check() {
			add("%w", e)
		}
	}
	errs = append(errs, c.checkCycles()...)
	return errs
}

// checkCycles reports every parent chain that loops, once per loop.
func (c *Config) checkCycles() []error {
	var errs []error
	reported := map[string]bool{}
	for _, p := range c.Projects {
		var path []string
		at := map[string]int{}
		for cur := &p; cur != nil && cur.ID != RootProject; {
			if i, ok := at[cur.ID]; ok {
				loop := path[i:]
				key := slices.Min(loop)
				if !reported[key] {
					reported[key] = true
					errs = append(errs, fmt.Errorf("projects: parent cycle %s → %s", strings.Join(loop, " → "), loop[0]))
				}
				break
			}
			at[cur.ID] = len(path)
			path = append(path, cur.ID)
			if cur.Parent == "" {
				break
			}
			cur = c.Project(cur.Parent)
		}
	}
	return errs
}

// check lists the problems of the policy keys.
func (p Policies) check() []error {
	var errs []error
	if !slices.Contains([]string{"", PolicyAlways, PolicyOnlyIfPreviouslyFailed, PolicyNever}, p.BuildSuccess) {
		errs = append(errs, fmt.Errorf("build_success: %q is not one of %s, %s, %s", p.BuildSuccess, PolicyAlways, PolicyOnlyIfPreviouslyFailed, PolicyNever))
	}
	if !slices.Contains([]string{"", PolicyAlways, PolicyOnlyIfPreviouslySuccessful, PolicyNever}, p.BuildFailure) {
		errs = append(errs, fmt.Errorf("build_failure: %q is not one of %s, %s, %s", p.BuildFailure, PolicyAlways, PolicyOnlyIfPreviouslySuccessful, PolicyNever))
	}
	for _, b := range p.Branches {
		if err := CheckBranchPattern(b); err != nil {
			errs = append(errs, fmt.Errorf("branches: %w", err))
		}
	}
	return errs
}

// CheckBranchPattern accepts a branch glob, optionally negated with '!'.
func CheckBranchPattern(pattern string) error {
	p := strings.TrimPrefix(pattern, "!")
	p = strings.TrimPrefix(p, "refs/heads/")
	switch {
	case strings.TrimSpace(p) == "":
		return fmt.Errorf("%q: empty pattern", pattern)
	case strings.HasPrefix(p, "!"):
		return fmt.Errorf("%q: one '!' at most", pattern)
	case p != strings.TrimSpace(p):
		return fmt.Errorf("%q: leading or trailing space", pattern)
	}
	return nil
}
