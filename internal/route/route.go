// Package route decides which destinations get an event.
//
// For now a destination lists the events it wants as "<kind>.<status>",
// "<kind>" (or "<kind>.*") and "*"; an empty list means every event. The
// seeds' full rules (build-outcome policies, branch filters, the project
// hierarchy) will live here too. The package is pure: it reads the config
// and the event and does no I/O.
package route

import (
	"strings"

	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/event"
)

// Wants reports whether a destination subscribed to ev.
func Wants(d *config.Destination, ev *event.Event) bool {
	if len(d.Events) == 0 {
		return true
	}
	for _, e := range d.Events {
		if matches(e, ev) {
			return true
		}
	}
	return false
}

func matches(sub string, ev *event.Event) bool {
	if sub == "*" {
		return true
	}
	kind, status, _ := strings.Cut(sub, ".")
	if kind != string(ev.Kind) {
		return false
	}
	return status == "" || status == "*" || status == string(ev.Status)
}

// Destinations returns the destinations of c that want ev, in config order.
func Destinations(c *config.Config, ev *event.Event) []*config.Destination {
	var out []*config.Destination
	for i := range c.Destinations {
		if Wants(&c.Destinations[i], ev) {
			out = append(out, &c.Destinations[i])
		}
	}
	return out
}
