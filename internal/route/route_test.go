package route

import (
	"testing"

	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/event"
)

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
