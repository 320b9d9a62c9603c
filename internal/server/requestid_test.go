package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/herald-ci/herald/sources/sourcestest"
	"github.com/rs/zerolog"
)

func TestSaneRequestID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"req-abc-123", true},
		{"0190a3c4-7d2e-7b1a-9c4f-1a2b3c4d5e6f", true},
		{"a/b+c=d_e.f:g@h", true},
		{strings.Repeat("x", maxRequestIDLen), true},
		{"", false},
		{strings.Repeat("x", maxRequestIDLen+1), false},
		{"has space", false},
		{"tab\there", false},
		{"line\nbreak", false},
		{"del\x7f", false},
		{"caf\xc3\xa9", false}, // UTF-8 é
		{"nul\x00", false},
	} {
		if got := saneRequestID(tc.id); got != tc.want {
			t.Errorf("saneRequestID(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

// TestIngestRequestID: each ingest request answers with its request id,
// hands it to the store explicitly, and logs it on its line, whatever the
// outcome; the dedup key is what it was without request ids.
func TestIngestRequestID(t *testing.T) {
	t.Parallel()
	generic := sourcestest.Body(t, "generic-build-failed.json")
	bearer := setHeader("Authorization", "Bearer "+bearerTok)
	tests := []struct {
		name    string
		path    string
		body    []byte
		id      string // the sender's X-Request-Id; "" sends none
		auth    func(*http.Request)
		status  int
		message string // the request's log line
		stored  bool
	}{
		{"accepted with the sender's id", "/v1/events/generic", generic, "req-abc-123", bearer, 202, "event accepted", true},
		{"accepted, id generated", "/v1/events/generic", generic, "", bearer, 202, "event accepted", true},
		{"insane id replaced", "/v1/events/generic", generic, "two words", bearer, 202, "event accepted", true},
		{"too long id replaced", "/v1/events/generic", generic, strings.Repeat("r", maxRequestIDLen+1), bearer, 202, "event accepted", true},
		{"ignored", "/v1/events/teamcity", []byte(`{"eventType":"BUILD_PINNED_IN_THE_FUTURE","payload":{"id":1}}`), "req-ignored",
			setHeader("Authorization", basicAuth(tcUser, tcPass)), 202, "event ignored", false},
		{"rejected", "/v1/events/generic", []byte(`{`), "req-rejected", bearer, 400, "event rejected", false},
		{"unknown source", "/v1/events/jenkins", generic, "req-unknown", nil, 404, "event rejected", false},
		{"authentication failed", "/v1/events/generic", generic, "req-auth", setHeader("Authorization", "Bearer wrong-token-0123456789"), 401, "authentication failed", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs syncBuffer
			st := &fakeStore{}
			s := newServerWith(t, authConfigY, st, zerolog.New(&logs))
			rec, _ := post(s, tc.path, "192.0.2.7:4000", bytes.NewReader(tc.body), func(r *http.Request) {
				if tc.id != "" {
					r.Header.Set("X-Request-Id", tc.id)
				}
				if tc.auth != nil {
					tc.auth(r)
				}
			})
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			got := rec.Header().Get("X-Request-Id")
			switch {
			case saneRequestID(tc.id) && got != tc.id:
				t.Errorf("answered X-Request-Id %q, want the sender's %q", got, tc.id)
			case !saneRequestID(tc.id):
				if u, err := uuid.Parse(got); err != nil || u.Version() != 7 {
					t.Errorf("answered X-Request-Id %q, want a generated UUIDv7 (%v)", got, err)
				}
			}

			if tc.stored {
				if st.count() != 1 {
					t.Fatalf("%d events stored, want 1", st.count())
				}
				rec := st.accepted[0]
				if rec.RequestID != got {
					t.Errorf("stored request id %q, want the answered %q", rec.RequestID, got)
				}
				// The request id never takes part in dedup, the sender's or
				// a generated one.
				ev, err := mustDecode(t, "generic", tc.body)
				if err != nil {
					t.Fatal(err)
				}
				wantKey := dedupKey(http.Header{}, ev, tc.body)
				if rec.DedupKey != wantKey {
					t.Errorf("dedup key %q, want %q", rec.DedupKey, wantKey)
				}
			}

			var found int
			for line := range strings.Lines(logs.String()) {
				var l map[string]any
				if err := json.Unmarshal([]byte(line), &l); err != nil {
					t.Fatalf("log line is not JSON: %q", line)
				}
				if l["request_id"] != got {
					t.Errorf("log line without the request id %q: %s", got, line)
				}
				if l["message"] == tc.message {
					found++
				}
			}
			if found != 1 {
				t.Errorf("%d %q lines, want 1; logs:\n%s", found, tc.message, logs.String())
			}
		})
	}
}

// TestRequestIDOnOverload: a request refused before the handler runs (too
// many in flight) still answers with its id.
func TestRequestIDOnOverload(t *testing.T) {
	t.Parallel()
	s := newServerWith(t, "limits: {max_concurrent_requests: 1}\n", &fakeStore{}, zerolog.Nop())
	s.inFlight.Add(1) // one request already in progress
	rec, _ := post(s, "/v1/events/generic", "127.0.0.1:4000", strings.NewReader(`{}`), setHeader("X-Request-Id", "req-busy"))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("X-Request-Id") != "req-busy" {
		t.Errorf("got %d with X-Request-Id %q, want 503 with req-busy", rec.Code, rec.Header().Get("X-Request-Id"))
	}
}
