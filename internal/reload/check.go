package reload

import (
	"embed"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"

	"github.com/herald-ci/herald/adapters"
	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/sources"
)

// The sample events are the senders' real payloads that the tests use
// (sources/sourcestest), copied here because production code must not
// import a test package; TestSamplesAreTheFixtures keeps the copies equal.
//
//go:embed samples/*.json
var sampleFiles embed.FS

// Sample is one sample event.
type Sample struct {
	Name  string // the file name without .json: teamcity-build-finished-failure
	Event *event.Event
}

var samples = sync.OnceValue(func() []Sample {
	entries, err := sampleFiles.ReadDir("samples")
	if err != nil {
		panic(fmt.Sprintf("reload: embedded samples: %v", err))
	}
	var out []Sample
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		b, err := sampleFiles.ReadFile(path.Join("samples", e.Name()))
		if err != nil {
			panic(fmt.Sprintf("reload: embedded sample %s: %v", name, err))
		}
		src, _, _ := strings.Cut(name, "-")
		dec, ok := sources.Lookup(src)
		if !ok {
			continue
		}
		ev, err := dec.Decode(b)
		if err != nil {
			continue // pings and other events herald ignores: nothing to render
		}
		out = append(out, Sample{Name: name, Event: ev})
	}
	return out
})

// Samples returns the decoded sample events, sorted by name. Templates
// render them as data; callers must not modify them.
func Samples() []Sample { return samples() }

// maxProblems bounds the problems one error lists.
const maxProblems = 10

// Check renders every sample event for every destination of c with its
// adapter from set, and fails if any rendering fails or needed the
// built-in default because a user template failed (in production that
// message would still go out, from the default: a fallback, counted).
// The error names the destination, the sample and the template's own error
// (file and line).
//
// Check replaces the fallback hook of set's templates (Set.OnFallback):
// install the real one after it.
func Check(c *config.Config, set *adapters.Set) error {
	// One problem per destination and error, naming the samples it hit: a
	// broken template fails the same way on many of them.
	type problem struct {
		what    string
		samples []string
	}
	var problems []*problem
	add := func(dest, sample, what string) {
		what = fmt.Sprintf("destination %q: %s", dest, what)
		for _, p := range problems {
			if p.what == what {
				p.samples = append(p.samples, sample)
				return
			}
		}
		problems = append(problems, &problem{what: what, samples: []string{sample}})
	}
	var fellBack error
	set.OnFallback(func(err error) {
		if fellBack == nil {
			fellBack = err
		}
	})
	defer set.OnFallback(nil)
	for _, d := range c.Destinations {
		a, ok := set.Get(d.Name)
		if !ok {
			add(d.Name, "", "no adapter")
			continue
		}
		for _, s := range Samples() {
			fellBack = nil
			_, err := a.Build(s.Event)
			switch {
			case err != nil:
				add(d.Name, s.Name, err.Error())
			case fellBack != nil:
				add(d.Name, s.Name, "template failed, the default would be sent: "+fellBack.Error())
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	var lines []string
	for i, p := range problems {
		if i == maxProblems {
			lines = append(lines, fmt.Sprintf("and %d more", len(problems)-i))
			break
		}
		on := ""
		if n := len(p.samples); n > 0 && p.samples[0] != "" {
			on = " (sample " + strings.Join(p.samples[:min(n, 3)], ", ")
			if n > 3 {
				on += fmt.Sprintf(" and %d more", n-3)
			}
			on += ")"
		}
		lines = append(lines, p.what+on)
	}
	return errors.New("templates do not render the sample events: " + strings.Join(lines, "; "))
}
