package appcenter_test

import (
	"testing"

	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/sources/appcenter"
	"github.com/herald-ci/herald/sources/internal/decodetest"
)

// FuzzDecode decodes any body, starting from the local testdata, every
// App Center fixture the other packages' tests share (sourcestest), as
// sent and behind a byte order mark, and edge cases, and holds the result
// to the sources.Decoder contract (decodetest.CheckDecode):
//
//   - an error is an *event.InputError (one short lower-case line that
//     never echoes a value) and comes without an event;
//   - an event has Source "appcenter", a Type, and a kind and status listed
//     in event.Statuses, and marshals to JSON;
//   - Raw is the body as sent, less a leading byte order mark, valid JSON,
//     and in memory of its own (the server may reuse the request buffer);
//   - the same bytes decode to the same event, or the same error, again;
//
// and to the decoder's own: no negative duration, release size or crash
// count.
func FuzzDecode(f *testing.F) {
	decodetest.Seed(f, appcenter.Name,
		`{"build_status":null,"release_id":null,"text":null}`,
		`{"build_status":"SECRET-VALUE"}`,
		`{"build_status":["SECRET-VALUE"]}`,
		`{"release_id":{"SECRET-VALUE":1}}`,
		`{"id":"1","reason":"<!channel>","stack_trace":["a",7,null]}`,
		`{"id":1e999,"reason":"r","line_number":-1e999,"stack_trace":"a\nb"}`,
		`{"build_status":"Fixed","start_time":"2024-01-01T10:00:00Z","finish_time":"0001-01-01T00:00:00Z"}`,
		`{"build_status":"Succeeded","start_time":"9999-12-31T23:59:59-23:59","finish_time":"0000-01-01T00:00:00+23:59"}`,
		`{"release_id":7,"size":-5,"release_notes":"**notes** <@U1>","build_status":"failed"}`,
		`{"text":"","sent_at":"2024-02-30T00:00:00Z"}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		decodetest.CheckDecode(t, appcenter.Decoder{}, appcenter.Name, body, false, func(ev *event.Event) {
			if ev.Duration < 0 || ev.Release.Size < 0 || ev.Crash.Count < 0 {
				t.Fatalf("negative duration or count: %+v", ev)
			}
		})
	})
}
