package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters"
	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/internal/server"
	"github.com/herald-ci/herald/internal/store"
)

// readyzServer answers /readyz with h and counts the requests it gets.
func readyzServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	n := new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || r.Method != http.MethodGet {
			http.Error(w, "wrong request "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		n.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, n
}

// assertOneLine fails unless s is exactly one line holding want.
func assertOneLine(t *testing.T, s, want string) {
	t.Helper()
	if !strings.Contains(s, want) {
		t.Errorf("stderr %q does not hold %q", s, want)
	}
	if strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") {
		t.Errorf("stderr is not one line: %q", s)
	}
}

func TestHealthcheckAnswers(t *testing.T) {
	ready, _ := readyzServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"ready"}`)
	})
	notReady, _ := readyzServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"status":"not ready","problems":{"store":"not reachable","server":"shutting\ndown"}}`)
	})
	plain503, _ := readyzServer(t, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "upstream\nbusy", http.StatusServiceUnavailable)
	})
	redirect, _ := readyzServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	release := make(chan struct{})
	hang, _ := readyzServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) })
	closed := freeAddr(t) // nothing listens there

	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string // in stdout when 0, in stderr otherwise
	}{
		{"ready", []string{"--url", ready.URL + "/readyz"}, exitOK, "ready: " + ready.URL + "/readyz"},
		{"not ready", []string{"--url", notReady.URL + "/readyz"}, exitError, "not ready (503): server shutting down; store not reachable"},
		{"not ready without problems", []string{"--url", plain503.URL + "/readyz"}, exitError, "not ready (503)"},
		{"redirect is not ready", []string{"--url", redirect.URL + "/readyz"}, exitError, "not ready (302)"},
		{"unreachable", []string{"--url", "http://" + closed + "/readyz"}, exitError, "connection refused"},
		{"hangs", []string{"--url", hang.URL + "/readyz", "--timeout", "200ms"}, exitError, "no answer within 200ms"},
		{"password in url not shown", []string{"--url", "http://user:hunter2@" + closed + "/readyz"}, exitError, "user:xxxxx@"},
		// Docker reserves exit code 2 for HEALTHCHECK: every failure is 1.
		{"bad flag", []string{"--frob"}, exitError, "flag provided but not defined"},
		{"bad url", []string{"--url", "ftp://x/readyz"}, exitError, "is not an http(s) URL"},
		{"bad listen", []string{"--listen", "8080"}, exitError, `listen: "8080" is not host:port`},
		{"extra argument", []string{"now"}, exitError, `unexpected argument "now"`},
		{"missing config", []string{"--config", "/nonexistent/herald.yaml"}, exitError, "read config"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			code, stdout, stderr := runCLI(t, append([]string{"healthcheck"}, tc.args...)...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, tc.wantCode, stdout, stderr)
			}
			if tc.wantCode == exitOK {
				assertOneLine(t, stdout, tc.want)
				if stderr != "" {
					t.Errorf("stderr on success: %q", stderr)
				}
			} else if strings.HasPrefix(tc.name, "bad flag") {
				// The flag package prints the usage first, as for every verb.
				if !strings.HasSuffix(stderr, "herald: healthcheck: "+tc.want+": -frob\n") {
					t.Errorf("stderr does not end with the reason: %q", stderr)
				}
			} else {
				assertOneLine(t, stderr, "herald: healthcheck: ")
				assertOneLine(t, stderr, tc.want)
				if strings.Contains(stderr, "hunter2") {
					t.Errorf("password printed: %q", stderr)
				}
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}

// TestHealthcheckAddress: without --url the check finds serve's port the way
// serve does (--listen over the config's listen over 127.0.0.1:8080) and
// reaches an unspecified host on loopback.
func TestHealthcheckAddress(t *testing.T) {
	srv, hits := readyzServer(t, func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"status":"ready"}`) })
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	dir := t.TempDir()
	cfg := writeFile(t, dir, "herald.yaml", "listen: 127.0.0.1:"+port+"\ndestinations: [{name: log, type: console}]\n")
	wrongCfg := writeFile(t, dir, "wrong.yaml", "listen: 127.0.0.1:"+freePort(t)+"\ndestinations: [{name: log, type: console}]\n")

	for _, args := range [][]string{
		{"--listen", "0.0.0.0:" + port},
		{"--listen", "[::]:" + port},
		{"--listen", ":" + port},
		{"--listen", "127.0.0.1:" + port},
		{"--config", cfg},
		{"--config", wrongCfg, "--listen", "0.0.0.0:" + port}, // --listen wins, as in serve
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			before := hits.Load()
			code, stdout, stderr := runCLI(t, append([]string{"healthcheck"}, args...)...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			assertOneLine(t, stdout, "ready: http://127.0.0.1:"+port+"/readyz")
			if hits.Load() != before+1 {
				t.Errorf("server got %d requests, want 1", hits.Load()-before)
			}
		})
	}
	t.Run("config pointing elsewhere", func(t *testing.T) {
		code, _, stderr := runCLI(t, "healthcheck", "--config", wrongCfg)
		if code != exitError {
			t.Fatalf("exit %d, want %d", code, exitError)
		}
		assertOneLine(t, stderr, "connection refused")
	})
}

func TestHealthcheckURL(t *testing.T) {
	tests := []struct{ listen, want string }{
		{"127.0.0.1:8080", "http://127.0.0.1:8080/readyz"},
		{"0.0.0.0:8080", "http://127.0.0.1:8080/readyz"},
		{":9090", "http://127.0.0.1:9090/readyz"},
		{"[::]:8080", "http://127.0.0.1:8080/readyz"},
		{"[::1]:8080", "http://[::1]:8080/readyz"},
		{"10.1.2.3:8080", "http://10.1.2.3:8080/readyz"},
		{"localhost:8080", "http://localhost:8080/readyz"},
	}
	for _, tc := range tests {
		got, err := readyzURL(tc.listen)
		if err != nil || got != tc.want {
			t.Errorf("readyzURL(%q) = %q, %v; want %q", tc.listen, got, err, tc.want)
		}
	}
}

// pingStore is a server.Store whose Ping answers err.
type pingStore struct{ err error }

func (s *pingStore) Accept(context.Context, store.EventRecord, []store.Delivery) (store.Accepted, error) {
	return store.Accepted{}, errors.New("not in this test")
}
func (s *pingStore) Ping(context.Context) error { return s.err }

// TestHealthcheckServerReadyz runs the check against herald's own /readyz
// handler, so a change to its answer cannot silently break the reason.
func TestHealthcheckServerReadyz(t *testing.T) {
	cfg, err := config.Default(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	set, err := adapters.NewSet(cfg, notify.Client(cfg.Delivery.Timeout), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	st := &pingStore{}
	srv := server.New(&server.Runtime{Config: cfg, Adapters: set}, st, nil, zerolog.Nop())
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	check := func(wantCode int, want string) {
		t.Helper()
		code, stdout, stderr := runCLI(t, "healthcheck", "--url", hs.URL+"/readyz")
		if code != wantCode {
			t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, wantCode, stdout, stderr)
		}
		if wantCode == exitOK {
			assertOneLine(t, stdout, want)
		} else {
			assertOneLine(t, stderr, want)
		}
	}
	check(exitOK, "ready")
	st.err = errors.New("database is locked")
	check(exitError, "not ready (503): store not writable")
	st.err = fmt.Errorf("ping: %w", store.ErrDiskFull)
	check(exitError, "not ready (503): store disk full")
	st.err = nil
	srv.SetStopping()
	check(exitError, "not ready (503): server shutting down")
}

// TestHealthcheckBinary runs the built binary as Docker's HEALTHCHECK would:
// exit 0 while serve is up, 1 once it is gone.
func TestHealthcheckBinary(t *testing.T) {
	dir := t.TempDir()
	p := start(t, dir, []string{"SLACK_WEBHOOK_URL=", "TEAMS_WEBHOOK_URL="}, "--listen", "127.0.0.1:0")
	run := func() (int, string) {
		out, err := exec.Command(heraldBin, "healthcheck", "--listen", p.addr).CombinedOutput()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return 0, string(out)
		case errors.As(err, &ee):
			return ee.ExitCode(), string(out)
		}
		t.Fatal(err)
		return -1, ""
	}
	if code, out := run(); code != 0 || !strings.HasPrefix(out, "ready: ") {
		t.Fatalf("serve up: exit %d, %q", code, out)
	}
	p.kill()
	if code, out := run(); code != 1 || !strings.Contains(out, "connection refused") {
		t.Fatalf("serve gone: exit %d, %q; want 1", code, out)
	}
}

// freePort is a loopback port no one listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	_, port, _ := net.SplitHostPort(freeAddr(t))
	return port
}
