package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-ci/herald/sources/sourcestest"
)

// TestRequestIDInLogs: the real binary gives each ingest request one
// request id, the sender's X-Request-Id or a generated one, answers with
// it, and every log line of the request and of its deliveries (a first
// attempt that fails, its retry, the deliveries that succeed) carries it.
func TestRequestIDInLogs(t *testing.T) {
	sk := newSink(t)
	// flaky answers 500 to the first attempt of each message, 202 after:
	// every event gets a "will retry" line and a "delivered" line there.
	var (
		mu   sync.Mutex
		seen = map[string]bool{}
	)
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		first := !seen[string(body)]
		seen[string(body)] = true
		mu.Unlock()
		if first {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(flaky.Close)

	dir := t.TempDir()
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
store: {driver: sqlite, dsn: herald.db}
egress: {allow_private: true}
destinations:
  - {name: hook, type: webhook, url: "%s/webhook"}
  - {name: flaky, type: webhook, url: "%s/flaky"}
`, sk.srv.URL, flaky.URL)
	cfgPath := filepath.Join(dir, "herald.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, dir, nil, "--config", cfgPath, "--log-level", "debug")

	postID := func(source string, body []byte, id string) (int, string, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, "http://"+p.addr+"/v1/events/"+source, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if id != "" {
			req.Header.Set("X-Request-Id", id)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("response is not JSON: %v", err)
		}
		return resp.StatusCode, resp.Header.Get("X-Request-Id"), out
	}

	// One event with the sender's id, one without.
	status, idA, respA := postID("generic", sourcestest.Body(t, "generic-build-failed"), "req-abc-123")
	if status != http.StatusAccepted || idA != "req-abc-123" {
		t.Fatalf("with X-Request-Id: %d, answered id %q, %v; want 202 and req-abc-123", status, idA, respA)
	}
	status, idB, respB := postID("teamcity", sourcestest.Body(t, "teamcity-build-finished-failure"), "")
	if status != http.StatusAccepted || idB == "" || idB == idA {
		t.Fatalf("without X-Request-Id: %d, answered id %q, %v; want 202 and a new id", status, idB, respB)
	}
	// Refused requests: one with its own id, one whose id is not sane (a
	// space; too long would do too) and gets a generated one instead.
	status, idC, _ := postID("generic", []byte(`{`), "req-bad-body-1")
	if status != http.StatusBadRequest || idC != "req-bad-body-1" {
		t.Fatalf("bad body: %d, answered id %q; want 400 and req-bad-body-1", status, idC)
	}
	status, idD, _ := postID("generic", []byte(`{`), "not sane")
	if status != http.StatusBadRequest || idD == "" || idD == "not sane" {
		t.Fatalf("insane id: %d, answered id %q; want 400 and a generated id", status, idD)
	}

	events := map[string]string{ // event id -> request id
		respA["event_id"].(string): idA,
		respB["event_id"].(string): idB,
	}
	// Both events delivered to both destinations, flaky after a retry.
	waitFor(t, 60*time.Second, func() bool {
		return strings.Count(p.logs.String(), `"message":"delivered"`) >= 4
	}, "4 deliveries; logs:\n"+p.logs.String())

	// What each request id has on its lines, by message.
	type key struct{ requestID, message string }
	lines := map[key]int{}
	sc := bufio.NewScanner(strings.NewReader(p.logs.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l struct {
			Message     string `json:"message"`
			Component   string `json:"component"`
			EventID     string `json:"event_id"`
			Destination string `json:"destination"`
			RequestID   string `json:"request_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("log line is not JSON: %s", sc.Text())
		}
		if l.Component == "delivery" {
			want, ok := events[l.EventID]
			if !ok {
				t.Errorf("delivery line of an unknown event: %s", sc.Text())
			}
			if l.RequestID != want {
				t.Errorf("delivery line with request_id %q, want %q: %s", l.RequestID, want, sc.Text())
			}
			lines[key{l.RequestID, l.Destination + ": " + l.Message}]++
			continue
		}
		if l.RequestID != "" {
			lines[key{l.RequestID, l.Message}]++
		}
	}
	for _, want := range []key{
		{idA, "event accepted"},
		{idA, "hook: delivered"},
		{idA, "flaky: delivery failed, will retry"},
		{idA, "flaky: delivered"},
		{idB, "event accepted"},
		{idB, "hook: delivered"},
		{idB, "flaky: delivery failed, will retry"},
		{idB, "flaky: delivered"},
		{idC, "event rejected"},
		{idD, "event rejected"},
	} {
		if lines[want] != 1 {
			t.Errorf("%d log lines %q with request_id %q, want 1", lines[want], want.message, want.requestID)
		}
	}
	if t.Failed() {
		t.Logf("log lines by request id: %v\nlogs:\n%s", lines, p.logs.String())
	}
}
