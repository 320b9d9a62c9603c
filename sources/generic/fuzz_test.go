package generic_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/sources/generic"
	"github.com/herald-ci/herald/sources/internal/decodetest"
)

// FuzzDecode decodes any body, starting from the local testdata, every
// generic fixture the other packages' tests share (sourcestest), as sent
// and behind a byte order mark, the bodies of the reject and schema tests,
// and edge cases, and holds the result to the sources.Decoder contract
// (decodetest.CheckDecode):
//
//   - an error is an *event.InputError (one short lower-case line that
//     never echoes a value) and comes without an event;
//   - an event has Source "generic", a Type, and a kind and status listed
//     in event.Statuses, and marshals to JSON;
//   - Raw is the body as sent, less a leading byte order mark, valid JSON,
//     and in memory of its own (the server may reuse the request buffer);
//   - the same bytes decode to the same event, or the same error, again;
//
// to the decoder's own: a progress from 0 to 100 and no negative duration;
// and checks that the decoder and schema.json agree on every JSON object.
func FuzzDecode(f *testing.F) {
	seeds := []string{
		`{"kind":"build","status":"failed","kind":"crash"}`,
		`{"kind":"build","status":"failed","number":{"SECRET-VALUE":1}}`,
		`{"kind":"build","status":"failed","url":"/builds/SECRET-VALUE"}`,
		`{"kind":"build","status":"started","progress":100,"duration_seconds":9.2e9}`,
		`{"kind":"crash","status":"created","crash":{"reason":"<!channel>","stack_trace":["a","b\u2028c"]}}`,
		`{"kind":"release","status":"published","release":{"size":9007199254740991,"notes":"**x**"}}`,
		`{"kind":"build","status":"failed","started_at":"9999-12-31T23:59:59-23:59","finished_at":"0000-01-01T00:00:00+23:59"}`,
		`{"kind":"test","status":"ping","text":"\ud800"}`,
	}
	for _, r := range rejects {
		seeds = append(seeds, r.body)
	}
	for _, a := range accepts {
		seeds = append(seeds, a.body)
	}
	decodetest.Seed(f, generic.Name, seeds...)
	schema := compileSchema(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		_, err := decodetest.CheckDecode(t, generic.Decoder{}, generic.Name, body, false, func(ev *event.Event) {
			if ev.Duration < 0 || ev.Progress < 0 || ev.Progress > 100 {
				t.Fatalf("duration %v, progress %d", ev.Duration, ev.Progress)
			}
		})

		// The decoder accepts exactly the JSON objects the schema accepts.
		if inst, jerr := jsonschema.UnmarshalJSON(bytes.NewReader(body)); jerr == nil && json.Valid(body) && !longExponent.Match(body) {
			if _, isObject := inst.(map[string]any); isObject {
				if schemaOK := schema.Validate(inst) == nil; schemaOK != (err == nil) {
					t.Fatalf("schema accepts: %v, decoder error: %v", schemaOK, err)
				}
			}
		}
	})
}
