package teamcity_test

import (
	"strings"
	"testing"

	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/sources/internal/decodetest"
	"github.com/herald-ci/herald/sources/teamcity"
)

// FuzzDecode decodes any body, starting from the local testdata, every
// TeamCity fixture the other packages' tests share (sourcestest), as sent
// and behind a byte order mark, and edge cases, and holds the result to the
// sources.Decoder contract (decodetest.CheckDecode):
//
//   - an error is an *event.InputError (one short lower-case line that
//     never echoes a value) or wraps event.ErrIgnored (one bounded line),
//     and comes without an event;
//   - an event has Source "teamcity", a Type, and a kind and status listed
//     in event.Statuses, and marshals to JSON;
//   - Raw is the body as sent, less a leading byte order mark, valid JSON,
//     and in memory of its own (the server may reuse the request buffer);
//   - the same bytes decode to the same event, or the same error, again;
//
// and to the decoder's own: a progress from 0 to 100 and no negative
// duration.
func FuzzDecode(f *testing.F) {
	decodetest.Seed(f, teamcity.Name,
		`{"eventType":"BUILD_STARTED"}`,
		`{"eventType":"BUILD_STARTED","payload":null}`,
		`{"eventType":"BUILD_STARTED","payload":[]}`,
		`{"eventType":"","payload":{}}`,
		`{"eventType":7,"payload":{}}`,
		`{"eventType":"SECRET-VALUE\n`+strings.Repeat("x", 100)+`","payload":{}}`,
		`{"eventType":"BUILD_STARTED","eventType":"AGENT_REMOVED","payload":{}}`,
		`{"eventType":"BUILD_STARTED","payload":{"buildType":"SECRET-VALUE"}}`,
		`{"eventType":"AGENT_REGISTRED","payload":{"pool":["SECRET-VALUE"]}}`,
		`{"eventType":"BUILD_FINISHED","payload":{"status":"UNKNOWN"}}`,
		`{"eventType":"BUILD_FINISHED","payload":{"status":"UNKNOWN","canceledInfo":{"user":{"username":"a"},"text":" t ","timestamp":"20240101T000000+0000"}}}`,
		`{"eventType":"BUILD_FINISHED","payload":{"statusText":"Canceled","startDate":"99991231T235959-2359","finishDate":"00000101T000000+2359"}}`,
		`{"eventType":"BUILD_STARTED","payload":{"number":1e999,"running-info":{"elapsedSeconds":"-9e18"}}}`,
		`{"eventType":"BUILD_STARTED","payload":{"percentageComplete":-5,"running-info":{"elapsedSeconds":1e300,"percentageComplete":"250"}}}`,
		`{"eventType":"BUILD_FINISHED","payload":{"branchName":"<default>","lastChanges":{"change":[{"comment":"<!channel>\n"}]}}}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		decodetest.CheckDecode(t, teamcity.Decoder{}, teamcity.Name, body, true, func(ev *event.Event) {
			if ev.Progress < 0 || ev.Progress > 100 || ev.Duration < 0 {
				t.Fatalf("progress %d, duration %v", ev.Progress, ev.Duration)
			}
		})
	})
}
