// Package route decides which destinations get an event, and what the
// event means against the build line's history.
//
// For each destination, in config order, that is not disabled (through
// the admin API), the event must pass, in turn:
//
//  1. the project's destinations: when the event's project chain sets
//     destinations, only the destinations it names are considered;
//  2. the event subscription ("events"): herald names, TeamCity names or
//     transitions (build.fixed); empty means every event;
//  3. the kind's policy: build_success and build_failure for finished
//     builds, crashes for crash groups, distribute for releases;
//  4. the branch filters: branches and default_branch_only.
//
// Every setting is resolved on its own, nearest first: the event's project,
// then its ancestors up to _Root, then the destination, then the default
// (every event; always; always; true; true; every branch; false). A project
// that sets a key replaces its parent's and the destination's value for its
// events; it never merges with them. An event whose project is not declared
// (or that has none, like an agent's) takes _Root's settings.
//
// Build outcomes (build.succeeded and build.failed) are compared with the
// previous finished build of the same line (source, project, build
// configuration, branch): the caller passes the line's last outcome from
// the store and Route says the transition and whether the event becomes the
// new last outcome. Interrupted builds are no outcome.
//
// The package is pure: it reads the config, the event and the outcome it is
// given, and does no I/O.
package route

import (
	"time"

	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/event"
)

// Target is one destination an event goes to, with how it is delivered.
type Target struct {
	Destination *config.Destination
	// MaxAttempts is the project's retry_count + 1, or 0 when no project of
	// the chain sets one (the destination's own limit applies).
	MaxAttempts int
	// DedupWindow is the destination's dedup_window (0: none).
	DedupWindow time.Duration
}

// Decision is what Route decided for one event.
type Decision struct {
	// Transition is the event's outcome transition, "" for anything but a
	// finished build and for a build older than the line's last outcome.
	Transition Transition
	// Record says the event's outcome is newer than the line's last one
	// and becomes the last outcome.
	Record bool
	// Targets are the destinations that get the event, in config order.
	Targets []Target
}

// Route decides where ev goes given prev, the last outcome recorded for
// ev's build line (the zero Outcome when none is, or when ev is no
// outcome).
func Route(c *config.Config, ev *event.Event, prev Outcome) Decision {
	tr, record := Transit(prev, ev)
	dec := Decision{Transition: tr, Record: record}
	chain := Chain(c, ev.ProjectID)
	allowed := chainDestinations(chain)
	attempts := 0
	if rc := chainRetryCount(chain); rc != nil {
		attempts = *rc + 1
	}
	for i := range c.Destinations {
		d := &c.Destinations[i]
		if d.Disabled { // through the admin API: kept, but gets nothing new
			continue
		}
		if allowed != nil && !allowed[d.Name] {
			continue
		}
		r := resolve(chain, d)
		if !r.subscribed(ev, tr) || !r.policyAllows(ev, tr) || !r.branchAllows(ev) {
			continue
		}
		dec.Targets = append(dec.Targets, Target{Destination: d, MaxAttempts: attempts, DedupWindow: d.DedupWindow})
	}
	return dec
}

// Destinations returns the destinations of c that get ev when ev's build
// line has no recorded outcome, in config order.
func Destinations(c *config.Config, ev *event.Event) []*config.Destination {
	var out []*config.Destination
	for _, t := range Route(c, ev, Outcome{}).Targets {
		out = append(out, t.Destination)
	}
	return out
}

// Wants reports whether d's own subscription takes ev, ignoring projects,
// policies and branches.
func Wants(d *config.Destination, ev *event.Event) bool {
	return rules{events: d.Events}.subscribed(ev, "")
}
