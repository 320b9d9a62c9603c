package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestSendTest(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var bodies []string
	answer := map[string]func(w http.ResponseWriter){
		"/ok":   func(w http.ResponseWriter) { io.WriteString(w, "ok") },
		"/gone": func(w http.ResponseWriter) { w.WriteHeader(404); io.WriteString(w, "no_service") },
		"/busy": func(w http.ResponseWriter) { w.Header().Set("Retry-After", "7"); w.WriteHeader(429) },
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, r.URL.Path+" "+string(b))
		mu.Unlock()
		answer[r.URL.Path](w)
	}))
	t.Cleanup(srv.Close)
	cfg := writeFile(t, t.TempDir(), "herald.yaml", fmt.Sprintf(`
egress: {allow_private: true}
destinations:
  - {name: chat, type: slack, url: "%[1]s/ok"}
  - {name: gone, type: slack, url: "%[1]s/gone"}
  - {name: busy, type: slack, url: "%[1]s/busy"}
`, srv.URL))

	code, out, errOut := runCLI(t, "send-test", "--config", cfg, "--destination", "chat")
	if code != exitOK || !strings.HasPrefix(out, "chat: test.ping sent and accepted in ") {
		t.Fatalf("send-test chat = %d %q %q", code, out, errOut)
	}
	mu.Lock()
	got := strings.Join(bodies, "\n")
	mu.Unlock()
	if !strings.Contains(got, "/ok ") || !strings.Contains(got, "test message from herald for destination chat") {
		t.Errorf("the sink got %s", got)
	}

	code, out, errOut = runCLI(t, "send-test", "--config", cfg, "--destination", "chat",
		"--source", "teamcity", "--event", "../../sources/sourcestest/testdata/teamcity-build-finished-failure.json")
	if code != exitOK || !strings.HasPrefix(out, "chat: build.failed sent and accepted") {
		t.Errorf("send-test with an event = %d %q %q", code, out, errOut)
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--destination", "gone"}, exitError, "http 404 no_service (final: the queue would not retry it)"},
		{[]string{"--destination", "busy"}, exitError, "(throttled: retry after 7s)"},
		{[]string{"--destination", "nope"}, exitUsage, `no destination "nope" in the config`},
		{[]string{}, exitUsage, "give --destination NAME"},
		{[]string{"--destination", "chat", "--source", "jenkins", "--event", "x.json"}, exitUsage, "--source"},
	} {
		code, _, errOut := runCLI(t, append([]string{"send-test", "--config", cfg}, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("send-test %v = %d %q; want %d containing %q", tc.args, code, errOut, tc.code, tc.want)
		}
		if strings.Contains(errOut, srv.URL) {
			t.Errorf("send-test %v prints the webhook URL: %s", tc.args, errOut)
		}
	}
}
