package route

import (
	"testing"

	"github.com/herald-ci/herald/internal/event"
)

// TestDisabledDestinationGetsNothing: a destination disabled through the
// admin API stays in the config but no event routes to it, not even one
// its project names explicitly; the others are unaffected.
func TestDisabledDestinationGetsNothing(t *testing.T) {
	t.Parallel()
	c := parse(t, `
projects:
  - {id: P, destinations: [a, off]}
destinations:
  - {name: a, type: console}
  - {name: off, type: console}
  - {name: c, type: console}
`)
	ev := build(event.StatusFailed)
	if got := names(Route(c, ev, Outcome{})); got != "a,off" {
		t.Fatalf("before disabling: %q, want a,off", got)
	}
	c.Destinations[1].Disabled = true
	if got := names(Route(c, ev, Outcome{})); got != "a" {
		t.Errorf("project P's event with off disabled: %q, want a", got)
	}
	other := &event.Event{Kind: event.KindCrash, Status: event.StatusCreated, ProjectID: "elsewhere"}
	if got := names(Route(c, other, Outcome{})); got != "a,c" {
		t.Errorf("another project's event with off disabled: %q, want a,c", got)
	}
	if ds := Destinations(c, ev); len(ds) != 1 || ds[0].Name != "a" {
		t.Errorf("Destinations with off disabled: %v", ds)
	}
}
