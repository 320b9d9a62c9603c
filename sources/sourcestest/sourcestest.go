// Package sourcestest gives tests the senders' real payloads, embedded, and
// the events their decoders make of them, so every adapter, the server and
// the end-to-end tests exercise the same fixtures. Test code only: nothing
// in production imports it.
package sourcestest

import (
	"embed"
	"path"
	"strings"
	"testing"

	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/sources"
)

//go:embed testdata/*.json
var files embed.FS

// Fixture is one sender payload. Name is the file name without ".json";
// Source is the part before the first '-', a sources registry name.
type Fixture struct {
	Name   string
	Source string
	Body   []byte
}

// Fixtures returns every fixture, sorted by name.
func Fixtures() []Fixture {
	entries, err := files.ReadDir("testdata")
	if err != nil {
		panic(err)
	}
	var out []Fixture
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := files.ReadFile(path.Join("testdata", e.Name()))
		if err != nil {
			panic(err)
		}
		name := strings.TrimSuffix(e.Name(), ".json")
		src, _, _ := strings.Cut(name, "-")
		out = append(out, Fixture{Name: name, Source: src, Body: b})
	}
	return out
}

// Body returns the body of the named fixture ("teamcity-build-started",
// with or without ".json"), failing t when there is none.
func Body(t testing.TB, name string) []byte {
	t.Helper()
	name = strings.TrimSuffix(name, ".json")
	for _, f := range Fixtures() {
		if f.Name == name {
			return f.Body
		}
	}
	t.Fatalf("no fixture %s", name)
	return nil
}

// Rejected names the fixtures their decoder refuses on purpose: the
// tcWebHooks plugin's body is not TeamCity's built-in webhook envelope.
var Rejected = map[string]bool{"teamcity-tcwebhooks-legacy-json-failure": true}

// Case is a decoded fixture.
type Case struct {
	Name  string
	Event *event.Event
}

// Events decodes every fixture but the Rejected ones with its source's
// decoder, failing t on any error.
func Events(t testing.TB) []Case {
	t.Helper()
	var out []Case
	for _, f := range Fixtures() {
		if Rejected[f.Name] {
			continue
		}
		dec, ok := sources.Lookup(f.Source)
		if !ok {
			t.Fatalf("fixture %s: no source %q", f.Name, f.Source)
		}
		ev, err := dec.Decode(f.Body)
		if err != nil {
			t.Fatalf("fixture %s: %v", f.Name, err)
		}
		out = append(out, Case{Name: f.Name, Event: ev})
	}
	if len(out) == 0 {
		t.Fatal("no fixtures")
	}
	return out
}
