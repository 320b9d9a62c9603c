package templates_test

import (
	"testing"

	"github.com/herald-ci/herald/sources/sourcestest"
	"github.com/herald-ci/herald/templates"
)

// benchFixtures are one event of each kind that has its own template.
var benchFixtures = []string{
	"teamcity-build-finished-failure",
	"appcenter-crash-with-stacktrace",
	"appcenter-distribute",
	"teamcity-agent-registered",
}

// BenchmarkRender executes each adapter's default template alone: the
// text/template + sprig part of an adapter's Build, without the parsing,
// limit checks and re-encoding the adapter does after it.
func BenchmarkRender(b *testing.B) {
	set := templates.Defaults()
	byName := map[string]sourcestest.Case{}
	for _, c := range sourcestest.Events(b) {
		byName[c.Name] = c
	}
	for _, prefix := range [][2]string{{"slack", "message"}, {"teams", "card"}, {"messagecard", "card"}, {"console", "text"}} {
		for _, fx := range benchFixtures {
			c, ok := byName[fx]
			if !ok {
				b.Fatalf("no fixture %s", fx)
			}
			name := templates.Name(prefix[0], c.Event, prefix[1])
			if !set.Has(name) {
				name = prefix[0] + ".event." + prefix[1] // the adapters' fallback for kinds without a card
			}
			b.Run(prefix[0]+"/"+c.Event.Name(), func(b *testing.B) {
				out, err := set.RenderEvent(name, c.Event, "bench")
				if err != nil {
					b.Fatalf("%s: %v", name, err)
				}
				if len(out) == 0 {
					b.Fatalf("%s rendered nothing", name)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := set.RenderEvent(name, c.Event, "bench"); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
