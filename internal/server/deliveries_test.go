package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters"
	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/delivery"
	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/internal/store"
	"github.com/herald-ci/herald/sources/sourcestest"
)

// fakeDeliveries is a DeliveryStore with canned answers.
type fakeDeliveries struct {
	fakeStore
	list    store.DeliveryPage
	filters []store.DeliveryFilter
	get     map[int64]store.DeliveryInfo
	retried []string
	err     error
}

func (f *fakeDeliveries) ListDeliveries(_ context.Context, flt store.DeliveryFilter) (store.DeliveryPage, error) {
	f.filters = append(f.filters, flt)
	return f.list, f.err
}

func (f *fakeDeliveries) GetDelivery(_ context.Context, id int64) (store.DeliveryInfo, error) {
	d, ok := f.get[id]
	if !ok {
		return d, store.ErrDeliveryNotFound
	}
	return d, nil
}

func (f *fakeDeliveries) RetryDelivery(_ context.Context, id int64) (store.DeliveryInfo, error) {
	d, ok := f.get[id]
	switch {
	case !ok:
		return d, store.ErrDeliveryNotFound
	case d.State != store.DeliveryFailed && d.State != store.DeliveryDead:
		return d, fmt.Errorf("%w: it is %s", store.ErrNotRetryable, d.State)
	}
	d.State = store.DeliveryPending
	return d, nil
}

func (f *fakeDeliveries) RetryDeliveries(_ context.Context, dest, state string) ([]int64, error) {
	f.retried = append(f.retried, dest+"/"+state)
	return nil, f.err
}

// The secret part of newTestServer's Slack URL.
const testSecret = "/services/T0/B0/SECRET"

func TestDeliveriesAPIFake(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	leaky := "http 404 no_service for https://hooks.slack.com" + testSecret
	st := &fakeDeliveries{
		list: store.DeliveryPage{NextCursor: "next", Deliveries: []store.DeliveryInfo{
			{ID: 7, EventID: "evt_1", Destination: "failures", State: store.DeliveryFailed, Attempts: 1, MaxAttempts: 300,
				CreatedAt: at, LastAttemptAt: at, FinalizedAt: at, LastError: leaky, Reason: "final error: not retried"},
		}},
		get: map[int64]store.DeliveryInfo{
			7: {ID: 7, EventID: "evt_1", Destination: "failures", State: store.DeliveryFailed, Attempts: 1, MaxAttempts: 300,
				CreatedAt: at, LastError: leaky,
				Errors:  []store.DeliveryAttempt{{Attempt: 1, At: at, Error: leaky}},
				Payload: notify.Payload{Body: []byte(`{"text":"see https://hooks.slack.com` + testSecret + `"}`), ContentType: "application/json"}},
			8: {ID: 8, State: store.DeliveryDelivered, Payload: notify.Payload{Body: []byte("plain text"), ContentType: "text/plain"}},
			9: {ID: 9, State: store.DeliveryPending, NextAttemptAt: at},
		},
	}
	s := newTestServer(t, st)

	for _, tc := range []struct {
		method, path string
		code         int
		want         string // substring of the body
	}{
		{"GET", "/v1/deliveries", 200, `"next_cursor":"next"`},
		{"GET", "/v1/deliveries?state=failed&destination=failures&limit=10&cursor=abc", 200, `"id":7`},
		{"GET", "/v1/deliveries?state=broken", 400, `{"error":"state must be one of pending, delivered, failed, dead"}`},
		{"GET", "/v1/deliveries?limit=0", 400, `"limit must be between 1 and 500"`},
		{"GET", "/v1/deliveries?limit=x", 400, `"limit must be`},
		{"GET", "/v1/deliveries/7", 200, `"payload":{"text":"see https://hooks.slack.com/***"}`},
		{"GET", "/v1/deliveries/8", 200, `"payload":"plain text"`},
		{"GET", "/v1/deliveries/9", 200, `"next_attempt_at":"2026-01-02T03:04:05Z"`},
		{"GET", "/v1/deliveries/10", 404, `{"error":"delivery not found"}`},
		{"GET", "/v1/deliveries/-1", 400, `"delivery id must be a positive integer"`},
		{"GET", "/v1/deliveries/abc", 400, `"delivery id must be a positive integer"`},
		{"POST", "/v1/deliveries/7/retry", 200, `"state":"pending"`},
		{"POST", "/v1/deliveries/8/retry", 409, `{"error":"delivery is delivered; only failed or dead deliveries can be retried"}`},
		{"POST", "/v1/deliveries/9/retry", 409, `"delivery is pending;`},
		{"POST", "/v1/deliveries/10/retry", 404, `"delivery not found"`},
		{"POST", "/v1/deliveries/retry?destination=failures", 200, `{"count":0,"ids":[]}`},
		{"POST", "/v1/deliveries/retry?destination=failures&state=dead", 200, `"count":0`},
		{"POST", "/v1/deliveries/retry", 400, `"destination is required"`},
		{"POST", "/v1/deliveries/retry?destination=x&state=pending", 400, `"state must be failed or dead"`},
		{"DELETE", "/v1/deliveries/7", 405, `"error"`},
	} {
		rec, _ := do(s, tc.method, tc.path, "", nil)
		body := rec.Body.String()
		if rec.Code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s = %d %s; want %d containing %s", tc.method, tc.path, rec.Code, body, tc.code, tc.want)
		}
		if strings.Contains(body, "SECRET") {
			t.Errorf("%s %s leaks the destination URL: %s", tc.method, tc.path, body)
		}
		if strings.Count(strings.TrimSpace(body), "\n") != 0 {
			t.Errorf("%s %s: body is not one line: %s", tc.method, tc.path, body)
		}
	}
	want := store.DeliveryFilter{State: "failed", Destination: "failures", Limit: 10, Cursor: "abc"}
	if len(st.filters) != 2 || st.filters[1] != want {
		t.Errorf("filters = %+v", st.filters)
	}
	if strings.Join(st.retried, ",") != "failures/,failures/dead" {
		t.Errorf("bulk retries = %v", st.retried)
	}

	// The list's JSON, field by field.
	_, out := do(s, "GET", "/v1/deliveries", "", nil)
	d := out["deliveries"].([]any)[0].(map[string]any)
	for _, k := range []string{"id", "event_id", "destination", "state", "attempts", "max_attempts", "created_at",
		"last_attempt_at", "next_attempt_at", "last_error"} {
		if _, ok := d[k]; !ok {
			t.Errorf("list item has no %s: %v", k, d)
		}
	}
	if d["next_attempt_at"] != nil || d["last_error"] != "http 404 no_service for https://hooks.slack.com/***" {
		t.Errorf("list item = %v", d)
	}

	st.err = errors.New("database on fire")
	for _, p := range []string{"/v1/deliveries", "/v1/deliveries/retry?destination=a"} {
		method := "GET"
		if strings.Contains(p, "retry") {
			method = "POST"
		}
		if rec, _ := do(s, method, p, "", nil); rec.Code != 500 || strings.Contains(rec.Body.String(), "fire") {
			t.Errorf("%s with a failing store = %d %s", p, rec.Code, rec.Body)
		}
	}
}

func TestDeliveriesAPIUnsupportedStore(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, &fakeStore{})
	rec, _ := do(s, "GET", "/v1/deliveries", "", nil)
	if rec.Code != http.StatusNotImplemented {
		t.Errorf("status %d %s", rec.Code, rec.Body)
	}
}

// sink answers webhook posts: 200 once fixed, 400 before.
type sink struct {
	fixed atomic.Bool
	posts atomic.Int32
}

func (k *sink) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	k.posts.Add(1)
	if k.fixed.Load() {
		_, _ = w.Write([]byte("ok"))
		return
	}
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write([]byte("invalid_payload\nsecond line"))
}

// realSetup is a server on a real SQLite store whose worker delivers to
// three webhook destinations, each URL holding a secret token: "good"
// answers 200, "broken" 400 (failed), "gone" refuses connections (dead: one
// attempt allowed).
func realSetup(t *testing.T) (*Server, *store.Store, *sink) {
	t.Helper()
	k := &sink{}
	hs := httptest.NewServer(k)
	t.Cleanup(hs.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	_ = ln.Close()
	good := &sink{}
	good.fixed.Store(true)
	gs := httptest.NewServer(good)
	t.Cleanup(gs.Close)

	cfg, err := config.Parse(fmt.Appendf(nil, apiTokens+`
egress: {allow_private: true}
destinations:
  - {name: good, type: webhook, url: "%s/hooks/SECRET-TOKEN-good?key=SECRET-KEY"}
  - {name: broken, type: webhook, url: "%s/hooks/SECRET-TOKEN-broken"}
  - {name: gone, type: webhook, url: "%s/hooks/SECRET-TOKEN-gone"}
`, gs.URL, hs.URL, closed), ".")
	if err != nil {
		t.Fatal(err)
	}
	log := zerolog.Nop()
	set, err := adapters.NewSet(cfg, notify.NewClient(2*time.Second, cfg.Egress.Policy()), log)
	if err != nil {
		t.Fatal(err)
	}
	workers := river.NewWorkers()
	w := delivery.New(delivery.SendersFunc(func(name string) (delivery.Sender, bool) {
		return set.Get(name)
	}), delivery.Config{Timeout: 2 * time.Second}, log)
	if err := delivery.Register(workers, w); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.Context(), store.Config{
		DSN: filepath.Join(t.TempDir(), "herald.db"), MaxAttempts: 1,
		PollInterval: 50 * time.Millisecond, FetchCooldown: 10 * time.Millisecond,
	}, workers, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	return New(&Runtime{Config: cfg, Adapters: set}, st, nil, log), st, k
}

// settle waits until no delivery is pending.
func settle(t *testing.T, s *Server) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, out := do(s, "GET", "/v1/deliveries?state=pending", "", nil)
		if ds, ok := out["deliveries"].([]any); ok && len(ds) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries still pending: %v", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func listDeliveries(t *testing.T, s *Server, query string) DeliveryList {
	t.Helper()
	rec, _ := do(s, "GET", "/v1/deliveries"+query, "", nil)
	if rec.Code != 200 {
		t.Fatalf("list %s: %d %s", query, rec.Code, rec.Body)
	}
	noSecret(t, rec.Body.String())
	var l DeliveryList
	if err := json.Unmarshal(rec.Body.Bytes(), &l); err != nil {
		t.Fatal(err)
	}
	return l
}

func noSecret(t *testing.T, body string) {
	t.Helper()
	if strings.Contains(body, "SECRET") {
		t.Errorf("API output leaks a destination URL: %s", body)
	}
}

func TestDeliveriesAPISQLite(t *testing.T) {
	t.Parallel()
	s, _, k := realSetup(t)
	rec, _ := do(s, "POST", "/v1/events/teamcity", "application/json", bytes.NewReader(sourcestest.Body(t, "teamcity-build-finished-failure.json")))
	if rec.Code != http.StatusAccepted {
		t.Fatalf("ingest: %d %s", rec.Code, rec.Body)
	}
	settle(t, s)

	all := listDeliveries(t, s, "")
	if len(all.Deliveries) != 3 {
		t.Fatalf("deliveries = %+v", all)
	}
	states := map[string]DeliveryView{}
	for _, d := range all.Deliveries {
		states[d.Destination] = d
	}
	if states["good"].State != "delivered" || states["broken"].State != "failed" || states["gone"].State != "dead" {
		t.Fatalf("states = %+v", states)
	}
	if d := states["broken"]; d.LastError != "http 400 invalid_payload" || d.Attempts != 1 || d.LastAttemptAt == nil ||
		d.NextAttemptAt != nil || d.EventID == "" {
		t.Errorf("broken = %+v", d)
	}
	if d := states["gone"]; d.LastError != "connection refused" || d.Reason != "attempts exhausted: 1 of 1" {
		t.Errorf("gone = %+v", d)
	}
	for q, want := range map[string]string{"?state=failed": "broken", "?state=dead": "gone", "?state=delivered": "good",
		"?destination=gone": "gone"} {
		if l := listDeliveries(t, s, q); len(l.Deliveries) != 1 || l.Deliveries[0].Destination != want {
			t.Errorf("list %s = %+v", q, l)
		}
	}
	page := listDeliveries(t, s, "?limit=2")
	if len(page.Deliveries) != 2 || page.NextCursor == "" {
		t.Fatalf("page 1 = %+v", page)
	}
	next := listDeliveries(t, s, "?limit=2&cursor="+page.NextCursor)
	if len(next.Deliveries) != 1 || next.NextCursor != "" || next.Deliveries[0].ID >= page.Deliveries[1].ID {
		t.Errorf("page 2 = %+v", next)
	}
	if rec, _ := do(s, "GET", "/v1/deliveries?cursor=garbage!", "", nil); rec.Code != 400 {
		t.Errorf("bad cursor: %d %s", rec.Code, rec.Body)
	}

	// Show: every attempt's error and the payload, no URL.
	id := states["broken"].ID
	rec, _ = do(s, "GET", fmt.Sprintf("/v1/deliveries/%d", id), "", nil)
	noSecret(t, rec.Body.String())
	var d DeliveryDetail
	if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 200 || len(d.Errors) != 1 || d.Errors[0].Error != "http 400 invalid_payload" || !json.Valid(d.Payload) ||
		d.Payload[0] != '{' || d.ContentType == "" {
		t.Errorf("show = %d %s", rec.Code, rec.Body)
	}
	for _, dest := range []string{"good", "gone"} {
		rec, _ := do(s, "GET", fmt.Sprintf("/v1/deliveries/%d", states[dest].ID), "", nil)
		noSecret(t, rec.Body.String())
	}

	// Retry: 409 for the delivered one, then replay the failed one.
	if rec, _ := do(s, "POST", fmt.Sprintf("/v1/deliveries/%d/retry", states["good"].ID), "", nil); rec.Code != 409 {
		t.Errorf("retry delivered: %d %s", rec.Code, rec.Body)
	}
	k.fixed.Store(true)
	rec, _ = do(s, "POST", fmt.Sprintf("/v1/deliveries/%d/retry", id), "", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"state":"pending"`) {
		t.Fatalf("retry failed one: %d %s", rec.Code, rec.Body)
	}
	settle(t, s)
	if l := listDeliveries(t, s, "?state=delivered"); len(l.Deliveries) != 2 {
		t.Errorf("after replay, delivered = %+v", l)
	}

	// Bulk replay of the dead one: tried again, dead again, history kept.
	rec, out := do(s, "POST", "/v1/deliveries/retry?destination=gone", "", nil)
	if rec.Code != 200 || out["count"] != 1.0 {
		t.Fatalf("bulk retry: %d %s", rec.Code, rec.Body)
	}
	settle(t, s)
	rec, _ = do(s, "GET", fmt.Sprintf("/v1/deliveries/%d", states["gone"].ID), "", nil)
	noSecret(t, rec.Body.String())
	d = DeliveryDetail{}
	_ = json.Unmarshal(rec.Body.Bytes(), &d)
	if d.State != "dead" || d.Attempts != 2 || len(d.Errors) != 2 {
		t.Errorf("gone after replay = %s", rec.Body)
	}
	if rec, out := do(s, "POST", "/v1/deliveries/retry?destination=good", "", nil); rec.Code != 200 || out["count"] != 0.0 {
		t.Errorf("bulk retry of a delivered destination: %d %s", rec.Code, rec.Body)
	}
}
