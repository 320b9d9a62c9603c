package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters"
	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/internal/store"
	"github.com/herald-ci/herald/sources/sourcestest"
)

// fakeStore records what the server asks it to commit.
type fakeStore struct {
	mu       sync.Mutex
	accepted []store.EventRecord
	jobs     [][]store.Delivery
	err      error
}

func (f *fakeStore) Accept(_ context.Context, ev store.EventRecord, d []store.Delivery) (store.Accepted, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return store.Accepted{}, f.err
	}
	f.accepted = append(f.accepted, ev)
	f.jobs = append(f.jobs, d)
	acc := store.Accepted{EventID: "evt_1"}
	for i, x := range d {
		acc.Deliveries = append(acc.Deliveries, store.DeliveryRef{ID: int64(i + 1), Destination: x.Destination})
	}
	return acc, nil
}

func (f *fakeStore) Ping(context.Context) error { return f.err }

func (f *fakeStore) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.accepted)
}

func newTestServer(t *testing.T, st Store) *Server {
	t.Helper()
	cfg, err := config.Parse([]byte(apiTokens+`
limits: {max_body_bytes: 4096}
destinations:
  - {name: failures, type: slack, url: "https://hooks.slack.com/services/T0/B0/SECRET", events: [build.failed]}
  - {name: all, type: console}
`), ".")
	if err != nil {
		t.Fatal(err)
	}
	set, err := adapters.NewSet(cfg, notify.Client(0), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return New(&Runtime{Config: cfg, Adapters: set}, st, nil, zerolog.Nop())
}

func do(s *Server, method, path, contentType string, body io.Reader) (*httptest.ResponseRecorder, map[string]any) {
	return doAs(s, testManagerToken, method, path, contentType, body)
}

// testManagerToken is the manager token of the test configs that use the
// API (apiTokens).
const testManagerToken = "test-manager-token-0001"

// apiTokens is the api section giving the tests one token per role.
const apiTokens = `
api:
  tokens:
    - {name: ops, role: manager, token: test-manager-token-0001}
    - {name: dev, role: developer, token: test-developer-token-01}
    - {name: viewer, role: reader, token: test-reader-token-00001}
`

// doAs is do with the bearer token tok ("" sends none).
func doAs(s *Server, tok, method, path, contentType string, body io.Reader) (*httptest.ResponseRecorder, map[string]any) {
	req := httptest.NewRequest(method, path, body)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec, out
}

func TestIngestAccepted(t *testing.T) {
	t.Parallel()
	st := &fakeStore{}
	s := newTestServer(t, st)
	rec, out := do(s, http.MethodPost, "/v1/events/teamcity", "application/json", bytes.NewReader(sourcestest.Body(t, "teamcity-build-finished-failure.json")))
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if testutil.ToFloat64(s.metrics.Events.WithLabelValues("teamcity", "accepted")) != 1 {
		t.Errorf("accepted event not counted")
	}
	if out["status"] != "accepted" || out["event_id"] != "evt_1" || out["event"] != "build.failed" {
		t.Errorf("body: %s", rec.Body)
	}
	if len(st.jobs) != 1 || len(st.jobs[0]) != 2 {
		t.Fatalf("want one commit with 2 deliveries, got %+v", st.jobs)
	}
	if !json.Valid(st.jobs[0][0].Payload.Body) {
		t.Errorf("slack payload is not JSON")
	}
	if st.accepted[0].DedupKey == "" || st.accepted[0].Source != "teamcity" {
		t.Errorf("record: %+v", st.accepted[0])
	}

	// A success goes only to the destination that wants every event.
	rec, out = do(s, http.MethodPost, "/v1/events/teamcity", "application/json", bytes.NewReader(sourcestest.Body(t, "teamcity-build-finished.json")))
	if rec.Code != http.StatusAccepted || len(out["deliveries"].([]any)) != 1 {
		t.Errorf("success: %d %s", rec.Code, rec.Body)
	}
}

func TestIngestRejects(t *testing.T) {
	t.Parallel()
	big := `{"eventType":"BUILD_STARTED","payload":{"x":"` + strings.Repeat("a", 5000) + `"}}`
	tests := []struct {
		name, path, ct string
		body           io.Reader
		want           int
		reason         string
	}{
		{"malformed json", "/v1/events/teamcity", "application/json", strings.NewReader(`{"eventType":`), 400, ""},
		{"not the source's shape", "/v1/events/teamcity", "application/json", strings.NewReader(`{"build":{"id":1}}`), 400, ""},
		{"json array", "/v1/events/appcenter", "application/json", strings.NewReader(`[1,2]`), 400, ""},
		{"empty body", "/v1/events/generic", "application/json", strings.NewReader(``), 400, "empty body"},
		{"too large", "/v1/events/teamcity", "application/json", strings.NewReader(big), 413, "body exceeds the limit of 4096 bytes"},
		{"too large, chunked", "/v1/events/teamcity", "application/json", io.MultiReader(strings.NewReader(big)), 413, "body exceeds the limit of 4096 bytes"},
		{"wrong content type", "/v1/events/teamcity", "application/x-www-form-urlencoded", strings.NewReader(`a=b`), 415, "Content-Type must be application/json"},
		{"unknown source", "/v1/events/jenkins", "application/json", strings.NewReader(`{}`), 404, "unknown source; valid: appcenter, generic, teamcity"},
		{"wrong method", "/v1/events/teamcity", "", nil, 405, "method not allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := &fakeStore{}
			s := newTestServer(t, st)
			method := http.MethodPost
			if tc.body == nil {
				method = http.MethodGet
			}
			rec, out := do(s, method, tc.path, tc.ct, tc.body)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
			reason, _ := out["error"].(string)
			if reason == "" || strings.Contains(reason, "\n") {
				t.Errorf("want a one-line JSON reason, got %s", rec.Body)
			}
			if tc.reason != "" && reason != tc.reason {
				t.Errorf("reason %q, want %q", reason, tc.reason)
			}
			if strings.Contains(rec.Body.String(), "aaaa") {
				t.Errorf("the error echoes the input")
			}
			if st.count() != 0 {
				t.Errorf("bad input was stored")
			}
			if want, src := 1.0, strings.TrimPrefix(tc.path, "/v1/events/"); tc.want != 404 && tc.want != 405 &&
				testutil.ToFloat64(s.metrics.Events.WithLabelValues(src, "rejected")) != want {
				t.Errorf("rejection not counted")
			}
		})
	}
}

func TestIngestIgnoredType(t *testing.T) {
	t.Parallel()
	st := &fakeStore{}
	s := newTestServer(t, st)
	rec, out := do(s, http.MethodPost, "/v1/events/teamcity", "application/json",
		strings.NewReader(`{"eventType":"BUILD_PINNED_IN_THE_FUTURE","payload":{"id":1}}`))
	if rec.Code != http.StatusAccepted || out["status"] != "ignored" {
		t.Fatalf("got %d %s, want 202 ignored", rec.Code, rec.Body)
	}
	if st.count() != 0 {
		t.Errorf("an ignored event was stored")
	}
	if n := testutil.ToFloat64(s.metrics.Events.WithLabelValues("teamcity", "ignored")); n != 1 {
		t.Errorf("ignored events counted %v times, want 1", n)
	}
	rec, _ = do(s, http.MethodGet, "/metrics", "", nil)
	if !strings.Contains(rec.Body.String(), `herald_events_received_total{outcome="ignored",source="teamcity"} 1`) {
		t.Errorf("/metrics does not show the ignored event:\n%.2000s", rec.Body)
	}
}

func TestIngestNoContentType(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, &fakeStore{})
	rec, _ := do(s, http.MethodPost, "/v1/events/appcenter", "", bytes.NewReader(sourcestest.Body(t, "appcenter-test.json")))
	if rec.Code != http.StatusAccepted {
		t.Fatalf("App Center's test ping without Content-Type: %d %s", rec.Code, rec.Body)
	}
}

func TestIngestStoreDown(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, &fakeStore{err: errors.New("disk I/O error")})
	rec, _ := do(s, http.MethodPost, "/v1/events/teamcity", "application/json", bytes.NewReader(sourcestest.Body(t, "teamcity-build-finished.json")))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("got %d (Retry-After %q), want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	if strings.Contains(rec.Body.String(), "disk") {
		t.Errorf("the store's error leaks to the client: %s", rec.Body)
	}
	rec, _ = do(s, http.MethodGet, "/readyz", "", nil)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("readyz %d with the store down", rec.Code)
	}
}

func TestReadiness(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, &fakeStore{})
	if rec, _ := do(s, http.MethodGet, "/healthz", "", nil); rec.Code != http.StatusOK {
		t.Errorf("healthz %d", rec.Code)
	}
	if rec, _ := do(s, http.MethodGet, "/readyz", "", nil); rec.Code != http.StatusOK {
		t.Errorf("readyz %d", rec.Code)
	}
	s.SetStopping()
	rec, out := do(s, http.MethodGet, "/readyz", "", nil)
	if rec.Code != http.StatusServiceUnavailable || out["problems"] == nil {
		t.Errorf("readyz while stopping: %d %s", rec.Code, rec.Body)
	}
}

func TestDedupKey(t *testing.T) {
	t.Parallel()
	st := &fakeStore{}
	s := newTestServer(t, st)
	body := sourcestest.Body(t, "teamcity-build-finished.json")
	do(s, http.MethodPost, "/v1/events/teamcity", "application/json", bytes.NewReader(body))
	do(s, http.MethodPost, "/v1/events/teamcity", "application/json", bytes.NewReader(body))
	req := httptest.NewRequest(http.MethodPost, "/v1/events/teamcity", bytes.NewReader(body))
	req.Header.Set("Idempotency-Key", "delivery-42")
	s.Handler().ServeHTTP(httptest.NewRecorder(), req)
	if len(st.accepted) != 3 {
		t.Fatalf("%d commits", len(st.accepted))
	}
	if st.accepted[0].DedupKey != st.accepted[1].DedupKey {
		t.Errorf("the same body gave two keys")
	}
	if st.accepted[2].DedupKey != "id:delivery-42" {
		t.Errorf("Idempotency-Key not used: %q", st.accepted[2].DedupKey)
	}
}

// queuedStore is a fakeStore that reports a queue depth.
type queuedStore struct {
	fakeStore
	mu    sync.Mutex
	depth int
}

func (q *queuedStore) CountJobs(context.Context, ...string) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.depth, nil
}

func TestQueueDepthLimit(t *testing.T) {
	t.Parallel()
	st := &queuedStore{depth: 11}
	s := newTestServer(t, st)
	s.Runtime().Config.Limits.MaxQueueDepth = 10
	rec, _ := do(s, http.MethodPost, "/v1/events/teamcity", "application/json", bytes.NewReader(sourcestest.Body(t, "teamcity-build-finished.json")))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d (Retry-After %q), want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	if st.count() != 0 {
		t.Errorf("an event was stored over the limit")
	}
	if rec, out := do(s, http.MethodGet, "/readyz", "", nil); rec.Code != http.StatusServiceUnavailable || out["problems"] == nil {
		t.Errorf("readyz over the limit: %d %s", rec.Code, rec.Body)
	}
	if testutil.ToFloat64(s.metrics.Events.WithLabelValues("teamcity", "overload")) != 1 {
		t.Errorf("overload not counted")
	}

	// It recovers by itself once the queue drains (after the cached depth expires).
	st.mu.Lock()
	st.depth = 3
	st.mu.Unlock()
	s.queue.mu.Lock()
	s.queue.at = time.Time{}
	s.queue.mu.Unlock()
	if rec, _ := do(s, http.MethodPost, "/v1/events/teamcity", "application/json", bytes.NewReader(sourcestest.Body(t, "teamcity-build-finished.json"))); rec.Code != http.StatusAccepted {
		t.Errorf("under the limit: %d", rec.Code)
	}
	if rec, _ := do(s, http.MethodGet, "/readyz", "", nil); rec.Code != http.StatusOK {
		t.Errorf("readyz under the limit: %d", rec.Code)
	}
}
