package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// reloadConfig is a config posting to the sink: one webhook destination
// per name, at /<name>, and extra lines before the destinations.
func reloadConfig(sinkURL, extra string, names ...string) string {
	s := "listen: 127.0.0.1:0\nstore: {driver: sqlite, dsn: herald.db}\negress: {allow_private: true}\n" +
		"api: {tokens: [{name: ops, role: manager, token: " + reloadToken + "}, {name: viewer, role: reader, token: " + reloadReaderToken + "}]}\n" +
		extra + "destinations:\n"
	for _, n := range names {
		s += fmt.Sprintf("  - {name: %s, type: webhook, url: \"%s/%s\"}\n", n, sinkURL, n)
	}
	return s
}

// The API tokens of reloadConfig: POST /-/reload needs the manager's.
const (
	reloadToken       = "reload-test-manager-token"
	reloadReaderToken = "reload-test-reader-token0"
)

// postReload posts to /-/reload with the bearer token tok ("" for none).
func postReload(t *testing.T, p *proc, tok string) (int, map[string]string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+p.addr+"/-/reload", nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// saveFile replaces path as editors do: a new file renamed over it.
func saveFile(t *testing.T, path, text string) {
	t.Helper()
	tmp := path + ".tmp~"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// logged reports whether a JSON log line has message msg and, for each
// key, the given value.
func (p *proc) logged(msg string, fields map[string]string) bool {
	sc := bufio.NewScanner(strings.NewReader(p.logs.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil || line["message"] != msg {
			continue
		}
		match := true
		for k, v := range fields {
			if s, _ := line[k].(string); !strings.Contains(s, v) {
				match = false
			}
		}
		if match {
			return true
		}
	}
	return false
}

// metric is one sample's value from /metrics ("" if absent).
func (p *proc) metric(t *testing.T, sample string) string {
	t.Helper()
	resp, err := http.Get("http://" + p.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), sample+" "); ok {
			return v
		}
	}
	return ""
}

// TestReloadEndToEnd runs the real binary through each way to reload: a
// destination added and sent SIGHUP receives the next event; a broken
// config posted to /-/reload is refused (500, logged, counted) and the
// running one keeps delivering; a config saved over the old one is picked
// up by the file watch.
func TestReloadEndToEnd(t *testing.T) {
	sk := newSink(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "herald.yaml")
	saveFile(t, cfgPath, reloadConfig(sk.srv.URL, "", "first"))
	p := start(t, dir, nil, "--config", cfgPath)
	if v := p.metric(t, "herald_config_last_reload_successful"); v != "1" {
		t.Errorf("at start herald_config_last_reload_successful = %q, want 1", v)
	}
	// SIGHUP.
	saveFile(t, cfgPath, reloadConfig(sk.srv.URL, "", "first", "second"))
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool { return p.logged("config reloaded", map[string]string{"trigger": "sighup"}) },
		"the reload on SIGHUP; logs:\n"+p.logs.String())
	post(t, p, 1)
	waitFor(t, 30*time.Second, func() bool { return len(sk.bodies("/second")) == 1 && len(sk.bodies("/first")) == 1 },
		"event 1 at first and at the new second")

	// POST /-/reload with a broken config.
	saveFile(t, cfgPath, reloadConfig(sk.srv.URL, "colour: blue\n", "first"))
	if code, _ := postReload(t, p, ""); code != http.StatusUnauthorized {
		t.Errorf("POST /-/reload without a token: %d, want 401", code)
	}
	if code, _ := postReload(t, p, reloadReaderToken); code != http.StatusForbidden {
		t.Errorf("POST /-/reload as a reader: %d, want 403", code)
	}
	if code, body := postReload(t, p, reloadToken); code != http.StatusInternalServerError || !strings.Contains(body["error"], "colour is not a known key") {
		t.Errorf("POST /-/reload of a broken config: %d %v, want 500 naming the unknown key", code, body)
	}
	// The log reaches the test through a pipe: wait for it, don't race it.
	waitFor(t, 10*time.Second, func() bool {
		return p.logged("config reload failed; the running configuration stays", map[string]string{"trigger": "http", "error": "colour is not a known key"})
	}, "a log line naming the reload's error")
	if v := p.metric(t, "herald_config_last_reload_successful"); v != "0" {
		t.Errorf("herald_config_last_reload_successful = %q, want 0", v)
	}
	if v := p.metric(t, `herald_config_reloads_total{result="failure"}`); v == "" || v == "0" {
		t.Errorf(`herald_config_reloads_total{result="failure"} = %q, want at least 1`, v)
	}
	post(t, p, 2) // still the running config: first and second
	waitFor(t, 30*time.Second, func() bool { return len(sk.bodies("/second")) == 2 && len(sk.bodies("/first")) == 2 },
		"event 2 at first and second after the refused reload")

	// The file watch: saving a good config is enough.
	saveFile(t, cfgPath, reloadConfig(sk.srv.URL, "", "first", "third"))
	waitFor(t, 30*time.Second, func() bool { return p.logged("config reloaded", map[string]string{"trigger": "watch"}) },
		"the reload on the file change; logs:\n"+p.logs.String())
	waitFor(t, 30*time.Second, func() bool { return p.metric(t, "herald_config_last_reload_successful") == "1" }, "a successful reload in the metrics")
	post(t, p, 3)
	waitFor(t, 30*time.Second, func() bool { return len(sk.bodies("/third")) == 1 && len(sk.bodies("/first")) == 3 },
		"event 3 at first and the new third")
	if n := len(sk.bodies("/second")); n != 2 {
		t.Errorf("second, removed, received %d messages, want 2", n)
	}
	if strings.Contains(p.logs.String(), sk.srv.URL) {
		t.Errorf("a destination URL is in the logs:\n%s", p.logs.String())
	}
}

func post(t *testing.T, p *proc, i int) {
	t.Helper()
	body := []byte(fmt.Sprintf(`{"kind":"build","status":"failed","project":"Reload","number":%d}`, i))
	if status, resp := p.post(t, "generic", body); status != http.StatusAccepted {
		t.Fatalf("event %d: %d %v", i, status, resp)
	}
}

// TestReloadKeepsQueuedPayloads: deliveries accepted before a reload are
// sent as they were rendered then; events after it get the new templates.
func TestReloadKeepsQueuedPayloads(t *testing.T) {
	sk := newSink(t)
	inFlight := make(chan struct{}, 16)
	release := make(chan struct{})
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	sk.hold = func(*http.Request) {
		inFlight <- struct{}{}
		<-release
	}
	dir := t.TempDir()
	tmpl := func(word string) string {
		return `{{ define "slack.build.message" }}{"text": {{ printf "` + word + ` %s" .Project | json }}}{{ end }}`
	}
	writeFile(t, dir, "tmpl/slack.tmpl", tmpl("OLD"))
	cfgPath := filepath.Join(dir, "herald.yaml")
	saveFile(t, cfgPath, fmt.Sprintf(`listen: 127.0.0.1:0
store: {driver: sqlite, dsn: herald.db}
egress: {allow_private: true}
delivery: {timeout: 1m} # the held attempt must not time out and be sent again
templates_dir: tmpl
destinations:
  - {name: slack, type: slack, url: "%s/slack/T0/B0/XXXX"}
`, sk.srv.URL))
	p := start(t, dir, nil, "--config", cfgPath)

	post(t, p, 1)
	select {
	case <-inFlight: // event 1 is being sent, and held
	case <-time.After(30 * time.Second):
		t.Fatalf("delivery never started; logs:\n%s", p.logs.String())
	}
	post(t, p, 2) // queued behind it (slack: one in flight)

	saveFile(t, filepath.Join(dir, "tmpl", "slack.tmpl"), tmpl("NEW"))
	waitFor(t, 30*time.Second, func() bool { return p.logged("config reloaded", map[string]string{"trigger": "watch"}) },
		"the reload of the templates; logs:\n"+p.logs.String())
	close(release)
	released = true
	post(t, p, 3)

	const path = "/slack/T0/B0/XXXX"
	waitFor(t, 30*time.Second, func() bool { return len(sk.bodies(path)) >= 3 }, "three messages; logs:\n"+p.logs.String())
	var texts []string
	for _, b := range sk.bodies(path) {
		var m struct{ Text string }
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("not a Slack message: %s", b)
		}
		texts = append(texts, m.Text)
	}
	if want := []string{"OLD Reload", "OLD Reload", "NEW Reload"}; strings.Join(texts, "|") != strings.Join(want, "|") {
		t.Errorf("messages %q, want %q (accepted before the reload: as rendered then)", texts, want)
	}
}
