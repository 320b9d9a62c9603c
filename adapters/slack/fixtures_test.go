package slack

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/sources/appcenter"
	"github.com/herald-ci/herald/sources/teamcity"
)

// fixtureCases decodes the senders' fixtures in testdata/fixtures (copies
// of ../shared/fixtures, without the tcWebHooks one the decoder rejects)
// with their sources' decoders, so the golden files show real payloads.
func fixtureCases(t *testing.T) []struct {
	name string
	ev   *event.Event
} {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "fixtures", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out []struct {
		name string
		ev   *event.Event
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		base := strings.TrimSuffix(filepath.Base(f), ".json")
		var ev *event.Event
		switch {
		case strings.HasPrefix(base, "teamcity-"):
			ev, err = teamcity.Decoder{}.Decode(b)
		case strings.HasPrefix(base, "appcenter-"):
			ev, err = appcenter.Decoder{}.Decode(b)
		default:
			t.Fatalf("%s: no decoder for this fixture", f)
		}
		if errors.Is(err, event.ErrIgnored) {
			t.Logf("%s: ignored by its decoder: %v", f, err)
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, struct {
			name string
			ev   *event.Event
		}{"fixture-" + base, ev})
	}
	return out
}
