package mark_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters"
	"github.com/herald-ci/herald/bench/internal/mark"
	"github.com/herald-ci/herald/sources/sourcestest"
	"github.com/herald-ci/herald/sources/teamcity"
	"github.com/herald-ci/herald/templates"
)

func TestFormatFind(t *testing.T) {
	t.Parallel()
	for _, id := range []uint64{0, 1, 0xdeadbeef, math.MaxUint64} {
		m := mark.Format(id)
		if len(m) != mark.Len {
			t.Fatalf("Format(%d) = %q, want %d characters", id, m, mark.Len)
		}
		for _, body := range []string{m, `{"text":"Build #` + m + ` failed"}`, "hbm hbmxyz " + m + " hbm0000"} {
			got, ok := mark.Find([]byte(body))
			if !ok || got != id {
				t.Errorf("Find(%q) = %d, %v; want %d", body, got, ok, id)
			}
		}
	}
	for _, body := range []string{"", "hbm", "hbm0123", "HBM0123456789abcdef", "hbm0123456789ABCDEF"} {
		if id, ok := mark.Find([]byte(body)); ok {
			t.Errorf("Find(%q) = %d, want none", body, id)
		}
	}
}

// TestMarkSurvivesRendering guards the benchmark: the sink finds each
// event's mark in what herald sends, for every destination type the driver
// configures, with the default templates.
func TestMarkSurvivesRendering(t *testing.T) {
	t.Parallel()
	b, err := mark.NewBody(sourcestest.Body(t, "teamcity-build-finished-failure"))
	if err != nil {
		t.Fatal(err)
	}
	const id = 0x0123456789abcdef
	body := b.Append(nil, id)
	if !json.Valid(body) {
		t.Fatalf("body is not JSON: %s", body)
	}
	if other := b.Append(nil, id+1); string(other) == string(body) {
		t.Fatal("two ids give the same body")
	}
	ev, err := teamcity.Decoder{}.Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Number != mark.Format(id) {
		t.Fatalf("decoded number %q, want %q", ev.Number, mark.Format(id))
	}
	for _, name := range []string{"slack", "teams", "teams-messagecard", "teams-adaptive-card", "webhook", "console"} {
		a, err := adapters.ForRender(name, templates.Defaults(), zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		p, err := a.Build(ev)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got, ok := mark.Find(p.Body); !ok || got != id {
			t.Errorf("%s: mark not found in the payload (got %x, %v):\n%.400s", name, got, ok, p.Body)
		}
		if strings.Count(string(p.Body), mark.Prefix) == 0 {
			t.Errorf("%s: no mark prefix", name)
		}
	}
}
