package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters"
	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/sources"
	"github.com/herald-ci/herald/sources/sourcestest"
)

// The end-to-end tests run the real binary, built once by TestMain.
var heraldBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "herald-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	heraldBin = filepath.Join(dir, "herald")
	build := exec.Command("go", "build", "-o", heraldBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build herald:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// sink is an in-test HTTP server that records every request by path and
// answers with handler (200 "ok" / 202 / 200 "1" as the platform would).
type sink struct {
	srv *httptest.Server
	mu  sync.Mutex
	got map[string][][]byte
	// hold, when set, is called before answering; it may block.
	hold func(r *http.Request)
}

func newSink(t *testing.T) *sink {
	s := &sink{got: map[string][][]byte{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		hold := s.hold
		s.mu.Unlock()
		if hold != nil {
			hold(r)
		}
		s.mu.Lock()
		s.got[r.URL.Path] = append(s.got[r.URL.Path], body)
		s.mu.Unlock()
		switch {
		case strings.HasPrefix(r.URL.Path, "/slack"):
			io.WriteString(w, "ok")
		case strings.HasPrefix(r.URL.Path, "/messagecard"):
			io.WriteString(w, "1")
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) bodies(path string) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.got[path]...)
}

// proc is one running herald.
type proc struct {
	cmd    *exec.Cmd
	addr   string
	logs   *syncBuffer
	exited chan struct{} // closed when the process has been waited for
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// start runs `herald serve` in dir with args and waits until it reports
// its listen address and /readyz answers 200.
func start(t *testing.T, dir string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{logs: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(heraldBin, append([]string{"serve"}, args...)...)
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = p.logs
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.kill)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(p.logs.String()))
		for sc.Scan() {
			var line struct {
				Message string `json:"message"`
				Listen  string `json:"listen"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Message == "herald serving" {
				p.addr = line.Listen
			}
		}
		if p.addr != "" {
			if resp, err := http.Get("http://" + p.addr + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return p
				}
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("herald exited before it was ready; logs:\n%s", p.logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("herald did not become ready; logs:\n%s", p.logs.String())
	return nil
}

// kill sends SIGKILL and waits until the process is gone.
func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

func (p *proc) post(t *testing.T, source string, body []byte) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post("http://"+p.addr+"/v1/events/"+source, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("response is not JSON: %v", err)
	}
	return resp.StatusCode, out
}

func writeConfig(t *testing.T, dir, sinkURL string) string {
	t.Helper()
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
store: {driver: sqlite, dsn: herald.db}
egress: {allow_private: true}
destinations:
  - {name: slack, type: slack, url: "%[1]s/slack/T000/B000/XXXX"}
  - {name: teams, type: teams, url: "%[1]s/workflows/abc?sig=SECRETSIG"}
  - {name: messagecard, type: teams, format: messagecard, url: "%[1]s/messagecard/abc"}
  - {name: webhook, type: webhook, url: "%[1]s/webhook"}
`, sinkURL)
	path := filepath.Join(dir, "herald.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEndToEnd posts every fixture to the real binary and checks that each
// destination received exactly the payload herald's adapters build for it.
func TestEndToEnd(t *testing.T) {
	sk := newSink(t)
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, sk.srv.URL)
	p := start(t, dir, nil, "--config", cfgPath)

	// What each destination should receive is what the same config's
	// adapters build in-process.
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	set, err := adapters.NewSet(cfg, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{} // sink path -> expected bodies
	paths := map[string]string{"slack": "/slack/T000/B000/XXXX", "teams": "/workflows/abc", "messagecard": "/messagecard/abc", "webhook": "/webhook"}
	for _, f := range sourcestest.Fixtures() {
		status, resp := p.post(t, f.Source, f.Body)
		if sourcestest.Rejected[f.Name] {
			if status != http.StatusBadRequest {
				t.Errorf("%s: status %d, want 400", f.Name, status)
			}
			continue
		}
		if status != http.StatusAccepted || resp["status"] != "accepted" {
			t.Fatalf("%s: got %d %v, want 202 accepted", f.Name, status, resp)
		}
		if n := len(resp["deliveries"].([]any)); n != 4 {
			t.Errorf("%s: %d deliveries, want 4", f.Name, n)
		}
		dec, _ := sources.Lookup(f.Source)
		ev, err := dec.Decode(f.Body)
		if err != nil {
			t.Fatal(err)
		}
		for name, path := range paths {
			a, _ := set.Get(name)
			pl, err := a.Build(ev)
			if err != nil {
				t.Fatalf("%s %s: %v", f.Name, name, err)
			}
			want[path] = append(want[path], string(pl.Body))
		}
	}
	for path, bodies := range want {
		waitFor(t, 30*time.Second, func() bool { return len(sk.bodies(path)) >= len(bodies) }, "all deliveries to "+path)
		got := sk.bodies(path)
		gotS := make([]string, len(got))
		for i, b := range got {
			gotS[i] = string(b)
		}
		sort.Strings(gotS)
		sort.Strings(bodies)
		if len(gotS) != len(bodies) {
			t.Errorf("%s: received %d, want %d", path, len(gotS), len(bodies))
			continue
		}
		for i := range bodies {
			if gotS[i] != bodies[i] {
				t.Errorf("%s: body differs from the adapter's build:\n got %.300s\nwant %.300s", path, gotS[i], bodies[i])
			}
		}
	}
	if strings.Contains(p.logs.String(), "SECRETSIG") || strings.Contains(p.logs.String(), "XXXX") {
		t.Errorf("logs hold a webhook secret:\n%s", p.logs.String())
	}
}

// TestCrashAfterAccept kills herald with SIGKILL after its 202 while the
// delivery is in flight, restarts it, and the message still arrives.
func TestCrashAfterAccept(t *testing.T) {
	sk := newSink(t)
	inFlight := make(chan struct{}, 16)
	release := make(chan struct{})
	defer close(release)
	sk.hold = func(r *http.Request) {
		inFlight <- struct{}{}
		<-release // the first process never gets an answer
	}
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, sk.srv.URL)
	// Only the slack destination, so there is one delivery to follow.
	cfg, _ := os.ReadFile(cfgPath)
	lines := strings.Split(string(cfg), "\n")
	var kept []string
	for _, l := range lines {
		if !strings.Contains(l, "type: teams") && !strings.Contains(l, "type: webhook") {
			kept = append(kept, l)
		}
	}
	os.WriteFile(cfgPath, []byte(strings.Join(kept, "\n")), 0o600)

	p := start(t, dir, nil, "--config", cfgPath)
	status, resp := p.post(t, "teamcity", sourcestest.Body(t, "teamcity-build-finished-failure"))
	if status != http.StatusAccepted {
		t.Fatalf("got %d %v", status, resp)
	}
	select {
	case <-inFlight:
	case <-time.After(30 * time.Second):
		t.Fatalf("delivery never started; logs:\n%s", p.logs.String())
	}
	p.kill()
	if n := len(sk.bodies("/slack/T000/B000/XXXX")); n != 0 {
		t.Fatalf("sink recorded %d deliveries before the restart", n)
	}

	sk.mu.Lock()
	sk.hold = nil
	sk.mu.Unlock()
	p2 := start(t, dir, nil, "--config", cfgPath)
	waitFor(t, 30*time.Second, func() bool { return len(sk.bodies("/slack/T000/B000/XXXX")) >= 1 },
		"the delivery after restart; logs:\n"+p2.logs.String())
	var msg map[string]any
	if err := json.Unmarshal(sk.bodies("/slack/T000/B000/XXXX")[0], &msg); err != nil || msg["text"] == nil {
		t.Errorf("delivered body is not a Slack message: %v %v", err, msg)
	}
}

// TestQuickstart runs serve with no config, as the README's first command
// does, and sees the console destination log the rendered message.
func TestQuickstart(t *testing.T) {
	dir := t.TempDir()
	env := []string{"SLACK_WEBHOOK_URL=", "TEAMS_WEBHOOK_URL="}
	// No --config: the embedded default (console destination, ./herald.db).
	// Only the port is overridden, since 8080 may be taken on a test
	// machine; internal/config's TestDefault asserts 127.0.0.1:8080.
	p := start(t, dir, env, "--listen", "127.0.0.1:0")
	if status, resp := p.post(t, "generic", sourcestest.Body(t, "generic-build-failed")); status != http.StatusAccepted {
		t.Fatalf("got %d %v", status, resp)
	}
	waitFor(t, 30*time.Second, func() bool { return strings.Contains(p.logs.String(), `"message":"notification"`) },
		"a console notification; logs:\n"+p.logs.String())
	if _, err := os.Stat(filepath.Join(dir, "herald.db")); err != nil {
		t.Errorf("default store file not created: %v", err)
	}
}

func waitFor(t *testing.T, d time.Duration, cond func() bool, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestDuplicatePosts: a sender's retries, sequential and concurrent, give
// one message per destination.
func TestDuplicatePosts(t *testing.T) {
	sk := newSink(t)
	dir := t.TempDir()
	p := start(t, dir, nil, "--config", writeConfig(t, dir, sk.srv.URL))

	seq := sourcestest.Body(t, "teamcity-build-finished-failure")
	conc := sourcestest.Body(t, "appcenter-crash")
	for i := 0; i < 3; i++ {
		status, resp := p.post(t, "teamcity", seq)
		want := "accepted"
		if i > 0 {
			want = "duplicate"
		}
		if status != http.StatusAccepted || resp["status"] != want {
			t.Fatalf("post %d: %d %v, want 202 %s", i, status, resp, want)
		}
	}
	var wg sync.WaitGroup
	statuses := make(chan string, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post("http://"+p.addr+"/v1/events/appcenter", "application/json", bytes.NewReader(conc))
			if err != nil {
				statuses <- err.Error()
				return
			}
			defer resp.Body.Close()
			var out map[string]any
			json.NewDecoder(resp.Body).Decode(&out)
			statuses <- fmt.Sprint(resp.StatusCode, " ", out["status"])
		}()
	}
	wg.Wait()
	close(statuses)
	counts := map[string]int{}
	for s := range statuses {
		counts[s]++
	}
	if counts["202 accepted"] != 1 || counts["202 duplicate"] != 7 {
		t.Fatalf("concurrent posts: %v, want one accepted and seven duplicates", counts)
	}
	// Two events, one message each per destination, and no more after a pause.
	for _, path := range []string{"/slack/T000/B000/XXXX", "/workflows/abc", "/messagecard/abc", "/webhook"} {
		waitFor(t, 30*time.Second, func() bool { return len(sk.bodies(path)) >= 2 }, "deliveries to "+path)
	}
	time.Sleep(500 * time.Millisecond)
	for _, path := range []string{"/slack/T000/B000/XXXX", "/workflows/abc", "/messagecard/abc", "/webhook"} {
		if n := len(sk.bodies(path)); n != 2 {
			t.Errorf("%s received %d messages, want 2", path, n)
		}
	}
}

// TestGracefulStop: SIGTERM makes herald finish and exit 0.
func TestGracefulStop(t *testing.T) {
	sk := newSink(t)
	dir := t.TempDir()
	p := start(t, dir, nil, "--config", writeConfig(t, dir, sk.srv.URL))
	if status, _ := p.post(t, "generic", sourcestest.Body(t, "generic-build-failed")); status != http.StatusAccepted {
		t.Fatalf("status %d", status)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("herald did not stop within 30 s of SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM; logs:\n%s", code, p.logs.String())
	}
	if !strings.Contains(p.logs.String(), `"message":"stopped"`) {
		t.Errorf("no orderly stop in the logs:\n%s", p.logs.String())
	}
}
