package sources

import (
	"sort"

	"github.com/herald-ci/herald/sources/appcenter"
	"github.com/herald-ci/herald/sources/generic"
	"github.com/herald-ci/herald/sources/teamcity"
)

// registry maps the {source} path segment to its decoder. Adding a source
// is one line here.
var registry = map[string]Decoder{
	teamcity.Name:  teamcity.Decoder{},
	appcenter.Name: appcenter.Decoder{},
	generic.Name:   generic.Decoder{},
}

// Lookup returns the decoder for a source name.
func Lookup(name string) (Decoder, bool) {
	d, ok := registry[name]
	return d, ok
}

// Names lists the source names, sorted.
func Names() []string {
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
