package adapterstest

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/sources/sourcestest"
)

// BenchFixtures are the sources/sourcestest fixtures the adapters'
// benchmarks build: one event of each kind that has its own template.
var BenchFixtures = []string{
	"teamcity-build-finished-failure",
	"appcenter-crash-with-stacktrace",
	"appcenter-distribute",
	"teamcity-agent-registered",
}

// BenchBuild runs one sub-benchmark per fixture named in fixtures
// (BenchFixtures when there are none), named after its event
// (event.Event.Name), timing build of the decoded event. Each builds once
// first and fails the benchmark if build fails or check refuses the
// payload, rather than timing an error path. A name with no fixture fails
// b before anything is timed.
func BenchBuild(b *testing.B, build func(*event.Event) (notify.Payload, error), check func(notify.Payload) error, fixtures ...string) {
	b.Helper()
	if len(fixtures) == 0 {
		fixtures = BenchFixtures
	}
	for _, c := range benchEvents(b, fixtures) {
		b.Run(c.Event.Name(), func(b *testing.B) {
			p, err := build(c.Event)
			if err != nil {
				b.Fatalf("%s: %v", c.Name, err)
			}
			if err := check(p); err != nil {
				b.Fatalf("%s: %v", c.Name, err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := build(c.Event); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// JSONBody is the BenchBuild check of the adapters that send JSON.
func JSONBody(p notify.Payload) error {
	if !json.Valid(p.Body) {
		return errors.New("body is not JSON")
	}
	return nil
}

// benchEvents returns the decoded fixtures named, in that order.
func benchEvents(b *testing.B, names []string) []sourcestest.Case {
	b.Helper()
	byName := map[string]sourcestest.Case{}
	for _, c := range sourcestest.Events(b) {
		byName[c.Name] = c
	}
	out := make([]sourcestest.Case, 0, len(names))
	for _, name := range names {
		c, ok := byName[name]
		if !ok {
			b.Fatalf("no fixture %s", name)
		}
		out = append(out, c)
	}
	return out
}
