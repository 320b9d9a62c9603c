package delivery

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/internal/store"
	"github.com/herald-ci/herald/internal/store/storetest"
)

// TestLogsCarryTheRequestID: the ingest request's id, given to Accept,
// reaches every worker log line of the event's job, retries included; a
// job without one (stored before request ids existed) logs no request_id.
func TestLogsCarryTheRequestID(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		flaky := func() *fakeSender {
			return &fakeSender{script: []answer{
				{retry: true, err: &notify.Error{Status: 503, Reason: "http 503", Retry: true}},
				ok,
			}}
		}
		h := newHarness(t, d, map[string]Sender{"with": flaky(), "without": flaky()},
			Config{BackoffBase: 10 * time.Millisecond}, store.Config{})
		accept := func(dest, requestID string) string {
			acc, err := h.store.Accept(t.Context(),
				store.EventRecord{Source: "generic", Type: "build", Kind: "build", Status: "failed", RequestID: requestID},
				[]store.Delivery{{Destination: dest, Payload: notify.Payload{Body: []byte(`{"text":"x"}`)}}})
			if err != nil {
				t.Fatal(err)
			}
			return acc.EventID
		}
		with, without := accept("with", "req-abc-123"), accept("without", "")
		h.final(t, with)
		h.final(t, without)

		var messages []string
		for line := range strings.Lines(h.logs.String()) {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("log line is not JSON: %q", line)
			}
			if m["component"] != "delivery" {
				continue
			}
			rid, has := m["request_id"]
			switch m["event_id"] {
			case with:
				messages = append(messages, m["message"].(string))
				if rid != "req-abc-123" {
					t.Errorf("log line with request_id %v, want req-abc-123: %s", rid, line)
				}
			case without:
				if has {
					t.Errorf("a job without a request id logs one: %s", line)
				}
			}
		}
		if want := "delivery failed, will retry|delivered"; strings.Join(messages, "|") != want {
			t.Errorf("lines of the job with a request id: %q, want %q", messages, want)
		}
	})
}
