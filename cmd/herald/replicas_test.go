package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-ci/herald/internal/store/storetest"
)

// TestReplicasDeliverOnce: three herald processes on one PostgreSQL
// database, 500 events spread across them, each delivered exactly once.
func TestReplicasDeliverOnce(t *testing.T) {
	const events = 500
	dsn := storetest.Postgres(t).DSN(t)
	sk := newIDSink(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf("listen: 127.0.0.1:0\nstore: {driver: postgres, dsn: %q}\negress: {allow_private: true}\ndestinations:\n  - {name: hook, type: webhook, url: %q}\n",
		dsn, sk.srv.URL+"/hook")
	cfgPath := filepath.Join(dir, "herald.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var replicas []*proc
	for i := 0; i < 3; i++ {
		replicas = append(replicas, start(t, dir, nil, "--config", cfgPath))
	}

	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, events)
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= events {
					return
				}
				p := replicas[i%len(replicas)]
				resp, err := http.Post("http://"+p.addr+"/v1/events/generic", "application/json",
					bytes.NewReader(genericEvent(fmt.Sprintf("replica-%03d", i), i)))
				if err != nil {
					errs <- err
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					errs <- fmt.Errorf("event %d: status %d", i, resp.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, func() bool { return sk.distinct() >= events }, "all events at the sink")
	time.Sleep(time.Second) // a second delivery, if any, arrives now
	got := sk.snapshot()
	if len(got) != events {
		t.Errorf("%d distinct events delivered, want %d", len(got), events)
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
	}
}

// TestDatabaseDown: when the database cannot be reached, ingest answers
// 503 with Retry-After and readiness fails; both recover by themselves
// when it is back, without a restart.
func TestDatabaseDown(t *testing.T) {
	dsn := storetest.Postgres(t).DSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	px := newProxy(t, u.Host)
	u.Host = px.addr
	sk := newIDSink(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf("listen: 127.0.0.1:0\nstore: {driver: postgres, dsn: %q}\negress: {allow_private: true}\ndestinations:\n  - {name: hook, type: webhook, url: %q}\n",
		u.String(), sk.srv.URL+"/hook")
	cfgPath := filepath.Join(dir, "herald.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, dir, nil, "--config", cfgPath)
	post := func(id string) *http.Response {
		t.Helper()
		resp, err := http.Post("http://"+p.addr+"/v1/events/generic", "application/json", bytes.NewReader(genericEvent(id, 1)))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	ready := func() int {
		resp, err := http.Get("http://" + p.addr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if resp := post("before"); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("before the outage: %d", resp.StatusCode)
	}

	px.cut()
	resp := post("during")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("during the outage: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if code := ready(); code != http.StatusServiceUnavailable {
		t.Errorf("readyz during the outage: %d", code)
	}

	px.restore()
	waitFor(t, 30*time.Second, func() bool { return ready() == http.StatusOK }, "readiness after the outage")
	if resp := post("after"); resp.StatusCode != http.StatusAccepted {
		t.Errorf("after the outage: %d", resp.StatusCode)
	}
	waitFor(t, 30*time.Second, func() bool { return sk.distinct() >= 2 }, "deliveries after the outage")
	if got := sk.snapshot(); got["before"] != 1 || got["after"] != 1 || got["during"] != 0 {
		t.Errorf("delivered %v, want before and after once, during never", got)
	}
}

// proxy forwards TCP connections to target until cut, when it closes its
// listener and every connection; restore listens again on the same address.
type proxy struct {
	t      *testing.T
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) restore() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.serve(ln)
}
