package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herald-ci/herald/internal/store/storetest"
)

// TestDiskFullSQLite: when the filesystem under the SQLite database fills
// up, ingest answers 503 with Retry-After and readiness fails naming the
// store; once space is freed both recover by themselves, without a restart,
// and the sink receives exactly the events that were answered 202, once
// each. The database lives on a tmpfs this test mounts (root only; in CI,
// CI=true, it fails rather than skips without root).
func TestDiskFullSQLite(t *testing.T) {
	// 16 MiB: the SQLite reserve (store.DefaultMinFreeBytes, 8 MiB) plus
	// the database and its WAL (about 1 MiB here) fit with room to spare.
	mnt := storetest.Tmpfs(t, 16<<20)
	sk := newIDSink(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf("listen: 127.0.0.1:0\nstore: {driver: sqlite, dsn: %q}\negress: {allow_private: true}\ndestinations:\n  - {name: hook, type: webhook, url: %q}\n",
		filepath.Join(mnt, "herald.db"), sk.srv.URL+"/hook")
	cfgPath := filepath.Join(dir, "herald.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// Its cleanup, registered after Tmpfs's, kills it before the unmount.
	p := start(t, dir, nil, "--config", cfgPath)
	began := time.Now()

	client := &http.Client{Timeout: 10 * time.Second}
	accepted := map[string]int{} // event id → 202s received
	type answer struct {
		code       int
		retryAfter string
		body       map[string]any
	}
	get := func(resp *http.Response, err error) answer {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		a := answer{code: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
		if err := json.NewDecoder(resp.Body).Decode(&a.body); err != nil {
			t.Fatalf("%s: answer is not JSON: %v", resp.Request.URL.Path, err)
		}
		return a
	}
	ready := func() answer {
		t.Helper()
		return get(client.Get("http://" + p.addr + "/readyz"))
	}
	postBody := func(id string, body []byte) answer {
		t.Helper()
		a := get(client.Post("http://"+p.addr+"/v1/events/generic", "application/json", bytes.NewReader(body)))
		if a.code/100 == 2 {
			accepted[id]++
		}
		return a
	}
	post := func(id string) answer { return postBody(id, genericEvent(id, 1)) }
	refused := func(what string, a answer) {
		t.Helper()
		if a.code != http.StatusServiceUnavailable || a.retryAfter == "" {
			t.Errorf("%s: %d %v, Retry-After %q; want 503 with Retry-After", what, a.code, a.body, a.retryAfter)
		}
	}
	notReady := func(what string) {
		t.Helper()
		a := ready()
		problems, _ := a.body["problems"].(map[string]any)
		if a.code != http.StatusServiceUnavailable || problems["store"] == nil {
			t.Errorf("readyz %s: %d %v; want 503 naming the store", what, a.code, a.body)
		}
	}

	if a := post("before"); a.code != http.StatusAccepted {
		t.Fatalf("before the disk filled: %d %v", a.code, a.body)
	}
	// "delivered" is logged once the delivery is recorded: no write of
	// herald's is under way when the disk fills.
	waitFor(t, 30*time.Second, func() bool { return strings.Contains(p.logs.String(), `"message":"delivered"`) }, "the delivery before the disk filled")

	filler := storetest.Fill(t, mnt)
	filled := time.Now()
	// For half a second: every post is refused, and readiness stays false.
	for i := range 5 {
		refused(fmt.Sprintf("full-%d on a full disk", i), post(fmt.Sprintf("full-%d", i)))
		notReady("on a full disk")
		time.Sleep(100 * time.Millisecond)
	}

	// Nearly full: 256 KiB free, and a 900 KB event, which SQLite would
	// begin to write before failing, leaving WAL frames small events could
	// reuse. Still, neither the large event nor the small ones after it
	// are accepted, and readiness stays false.
	if err := os.Truncate(filler, fileSize(t, filler)-256<<10); err != nil {
		t.Fatal(err)
	}
	big := []byte(fmt.Sprintf(`{"id":"full-big","kind":"build","status":"failed","project":"replicas","padding":%q}`, strings.Repeat("x", 900<<10)))
	refused("a 900 KB event on a nearly full disk", postBody("full-big", big))
	for i := 5; i < 10; i++ {
		refused(fmt.Sprintf("full-%d on a nearly full disk", i), post(fmt.Sprintf("full-%d", i)))
		notReady("on a nearly full disk")
		time.Sleep(100 * time.Millisecond)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	waitFor(t, 30*time.Second, func() bool { return ready().code == http.StatusOK }, "readiness once space is freed")
	t.Logf("full for %s; ready again %s after the filler was removed", freed.Sub(filled).Round(time.Millisecond), time.Since(freed).Round(time.Millisecond))

	if a := post("after"); a.code != http.StatusAccepted || a.body["status"] != "accepted" {
		t.Errorf("after space is freed: %d %v", a.code, a.body)
	}
	// A sender's retry of a refused event: nothing of it was stored, so it
	// is a new event, not a duplicate.
	if a := post("full-0"); a.code != http.StatusAccepted || a.body["status"] != "accepted" {
		t.Errorf("retry of a refused event: %d %v, want 202 accepted", a.code, a.body)
	}
	waitFor(t, 30*time.Second, func() bool { return sk.distinct() >= len(accepted) }, "the deliveries after the disk was freed")
	time.Sleep(500 * time.Millisecond) // a stray or second delivery, if any, arrives now
	got := sk.snapshot()
	if len(got) != len(accepted) {
		t.Errorf("sink received %v, want exactly the accepted events %v", got, accepted)
	}
	for id, n := range accepted {
		if n != 1 || got[id] != 1 {
			t.Errorf("%s: answered 202 %d times, delivered %d times; want once each", id, n, got[id])
		}
	}
	t.Logf("whole cycle %s", time.Since(began).Round(time.Millisecond))
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
