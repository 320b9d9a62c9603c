package route

import (
	"strconv"
	"strings"
	"time"

	"github.com/herald-ci/herald/internal/event"
)

// Transition names a finished build against the previous finished build of
// its line, in the words Jenkins and tcWebHooks users know. Subscriptions
// name it as "build.<transition>"; templates read it as .Transition.
type Transition string

// The transitions. A success after a success has none.
const (
	TransitionNone         Transition = ""
	TransitionFirst        Transition = "first"         // no earlier outcome on the line
	TransitionFixed        Transition = "fixed"         // success after failure
	TransitionBroken       Transition = "broken"        // failure after success
	TransitionStillFailing Transition = "still_failing" // failure after failure
)

// Outcome is a finished build's result and its place in its line's order.
type Outcome struct {
	// Status is event.StatusSucceeded or event.StatusFailed; empty for
	// "none recorded".
	Status     event.Status
	Number     string    // the build number as the sender shows it
	FinishedAt time.Time // zero when the sender gave none
}

// Line names a line of builds whose outcomes follow each other: the same
// source, project (or app), build configuration and branch.
type Line struct {
	Source      string
	Project     string // the project id, else its display name
	BuildConfig string
	Branch      string // without "refs/heads/"; empty for none or TeamCity's <default>
}

// LineOf is ev's build line. ok is false when the event names neither a
// project nor a build configuration (a trimmed generic payload): such a
// build has no line, hence no previous outcome and no transition.
func LineOf(ev *event.Event) (l Line, ok bool) {
	l = Line{
		Source:      ev.Source,
		Project:     ev.ProjectID,
		BuildConfig: ev.BuildConfigID,
		Branch:      strings.TrimPrefix(ev.Branch, "refs/heads/"),
	}
	if l.Project == "" {
		l.Project = ev.Project
	}
	return l, l.Project != "" || l.BuildConfig != ""
}

// HasState reports whether ev's outcome is compared with its line's
// history: a finished build with a line.
func HasState(ev *event.Event) bool {
	_, ok := LineOf(ev)
	return ok && IsOutcome(ev)
}

// IsOutcome reports whether ev is a finished build with a result: a
// success or a failure. An interrupted (canceled) build is not one.
func IsOutcome(ev *event.Event) bool {
	return ev.Kind == event.KindBuild && (ev.Status == event.StatusSucceeded || ev.Status == event.StatusFailed)
}

// OutcomeOf is ev's outcome (zero when ev is not one).
func OutcomeOf(ev *event.Event) Outcome {
	if !IsOutcome(ev) {
		return Outcome{}
	}
	return Outcome{Status: ev.Status, Number: ev.Number, FinishedAt: ev.FinishedAt}
}

// Newer reports whether a comes after b in their line's own order, not in
// order of arrival: by build number when both are integers, else by finish
// time when both have one, else a (the one arriving now) is newer. An equal
// number or time is not newer: the same build sent again changes nothing.
func Newer(a, b Outcome) bool {
	if x, err := strconv.ParseInt(strings.TrimSpace(a.Number), 10, 64); err == nil {
		if y, err := strconv.ParseInt(strings.TrimSpace(b.Number), 10, 64); err == nil {
			return x > y
		}
	}
	if !a.FinishedAt.IsZero() && !b.FinishedAt.IsZero() {
		return a.FinishedAt.After(b.FinishedAt)
	}
	return true
}

// Transit compares ev with prev, its line's last recorded outcome. It
// returns ev's transition and whether ev becomes the last outcome. Only an
// outcome newer than prev does; an older build arriving late has no
// transition and leaves the state alone. A build without a line has
// neither (HasState).
func Transit(prev Outcome, ev *event.Event) (Transition, bool) {
	if !HasState(ev) {
		return TransitionNone, false
	}
	cur := OutcomeOf(ev)
	if prev.Status == "" {
		return TransitionFirst, true
	}
	if !Newer(cur, prev) {
		return TransitionNone, false
	}
	switch {
	case prev.Status == event.StatusFailed && cur.Status == event.StatusSucceeded:
		return TransitionFixed, true
	case prev.Status == event.StatusSucceeded && cur.Status == event.StatusFailed:
		return TransitionBroken, true
	case cur.Status == event.StatusFailed:
		return TransitionStillFailing, true
	}
	return TransitionNone, true
}
