package sourcestest

import (
	"errors"
	"testing"

	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/sources"
)

// TestFixtures: every source has fixtures, every fixture decodes, and the
// Rejected ones are refused as input errors, not ignored or accepted.
func TestFixtures(t *testing.T) {
	t.Parallel()
	bySource := map[string]int{}
	for _, f := range Fixtures() {
		bySource[f.Source]++
		dec, ok := sources.Lookup(f.Source)
		if !ok {
			t.Fatalf("%s: unknown source %q", f.Name, f.Source)
		}
		_, err := dec.Decode(f.Body)
		var in *event.InputError
		if Rejected[f.Name] != errors.As(err, &in) {
			t.Errorf("%s: decode error %v, rejected=%v", f.Name, err, Rejected[f.Name])
		}
	}
	for _, s := range sources.Names() {
		if bySource[s] == 0 {
			t.Errorf("no fixture for source %s", s)
		}
	}
	if n := len(Events(t)); n != len(Fixtures())-len(Rejected) {
		t.Errorf("Events gave %d cases", n)
	}
}
