package route_test

import (
	"slices"
	"testing"

	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/internal/route"
	"github.com/herald-ci/herald/sources/sourcestest"
)

// BenchmarkRoute routes a failed TeamCity build through configs of a few
// shapes, as the server does for every event: without a previous outcome,
// and against a previous success (the line's state from the store).
func BenchmarkRoute(b *testing.B) {
	var ev *event.Event
	for _, c := range sourcestest.Events(b) {
		if c.Name == "teamcity-build-finished-failure" {
			ev = c.Event
		}
	}
	if ev == nil {
		b.Fatal("no fixture teamcity-build-finished-failure")
	}
	ten := make([]config.Destination, 0, 10)
	for i, events := range [][]string{
		nil, {"*"}, {"build"}, {"build.*"}, {"build.failed"},
		{"build.succeeded"}, {"crash", "release"}, {"agent"}, {"build.failed", "build.interrupted"}, {"test"},
	} {
		ten = append(ten, config.Destination{Name: string(rune('a' + i)), Type: config.TypeSlack, Events: events})
	}
	two := &config.Config{Destinations: []config.Destination{
		{Name: "slack", Type: config.TypeSlack}, {Name: "teams", Type: config.TypeTeams},
	}}
	mixed := &config.Config{Destinations: ten}
	succeeded := route.Outcome{Status: event.StatusSucceeded}
	for _, tc := range []struct {
		name string
		cfg  *config.Config
		prev route.Outcome
		want []string // nil: whatever the first call says, as long as it is not empty
	}{
		{"2-all", two, route.Outcome{}, []string{"slack", "teams"}},
		{"10-mixed", mixed, route.Outcome{}, []string{"a", "b", "c", "d", "e", "i"}},
		{"10-mixed-after-success", mixed, succeeded, nil},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var got []string
			for _, t := range route.Route(tc.cfg, ev, tc.prev).Targets {
				got = append(got, t.Destination.Name)
			}
			if tc.want == nil && len(got) == 0 || tc.want != nil && !slices.Equal(got, tc.want) {
				b.Fatalf("routed to %v, want %v", got, tc.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				if len(route.Route(tc.cfg, ev, tc.prev).Targets) != len(got) {
					b.Fatal("routing changed")
				}
			}
		})
	}
}
