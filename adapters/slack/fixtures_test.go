package slack

import (
	"testing"

	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/sources/sourcestest"
)

// fixtureCases are the senders' fixtures decoded by their sources, so the
// golden files show real payloads.
func fixtureCases(t *testing.T) []struct {
	name string
	ev   *event.Event
} {
	t.Helper()
	var out []struct {
		name string
		ev   *event.Event
	}
	for _, c := range sourcestest.Events(t) {
		out = append(out, struct {
			name string
			ev   *event.Event
		}{"fixture-" + c.Name, c.Event})
	}
	return out
}
