package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/internal/store/storetest"
)

// The API tokens of destinationsConfig, one per role.
const (
	destManagerToken   = "dest-e2e-manager-token-01"
	destDeveloperToken = "dest-e2e-developer-token1"
	destReaderToken    = "dest-e2e-reader-token-001"
)

// destSecret is the credential in every webhook URL of these tests: no
// answer, CLI output or log line may hold it.
const destSecret = "SECRET-E2E-PATH-TOKEN"

// destinationsConfig posts to sink: builds (slack) and alerts (webhook),
// with one API token per role when tokens is true.
func destinationsConfig(sinkURL, storeYAML string, tokens bool) string {
	s := "listen: 127.0.0.1:0\nstore: " + storeYAML + "\negress: {allow_private: true}\n"
	if tokens {
		s += fmt.Sprintf("api:\n  tokens:\n    - {name: ops, role: manager, token: %s}\n    - {name: dev, role: developer, token: %s}\n    - {name: viewer, role: reader, token: %s}\n",
			destManagerToken, destDeveloperToken, destReaderToken)
	}
	return s + fmt.Sprintf("destinations:\n  - {name: builds, type: slack, url: \"%[1]s/slack/%[2]s\"}\n  - {name: alerts, type: webhook, url: \"%[1]s/alerts/%[2]s\"}\n",
		sinkURL, destSecret)
}

// api calls p's HTTP API as tok ("" for none) and returns the status and
// body, failing t if the body holds a webhook URL's secret.
func (p *proc) api(t *testing.T, tok, method, path, body string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+p.addr+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(b), destSecret) {
		t.Errorf("%s %s answers with a webhook URL's secret: %s", method, path, b)
	}
	return resp.StatusCode, string(b)
}

// event posts a generic build event and returns the destinations it was
// accepted for.
func (p *proc) event(t *testing.T, id, status string) []string {
	t.Helper()
	code, resp := p.post(t, "generic", fmt.Appendf(nil, `{"kind":"build","status":%q,"project":"web","id":%q}`, status, id))
	if code != http.StatusAccepted {
		t.Fatalf("event %s: %d %v", id, code, resp)
	}
	var out []string
	ds, _ := resp["deliveries"].([]any)
	for _, d := range ds {
		m, _ := d.(map[string]any)
		out = append(out, fmt.Sprint(m["destination"]))
	}
	return out
}

// tokenFile writes tok to a file for the CLI's --token-file.
func tokenFile(t *testing.T, dir, name, tok string) string {
	t.Helper()
	return writeFile(t, dir, name, tok+"\n")
}

// TestDestinationsEndToEnd runs the admin API and the CLI against the real
// binary with each role: the reader lists (URLs redacted) but cannot test
// or create; the developer tests (the message arrives), disables (the next
// event reaches the others, not it), enables, but cannot create or delete;
// the manager creates a destination (egress- and key-checked) that gets
// the next event and survives a restart, changes its events, deletes it,
// and cannot delete the file's. No token: 401. No token configured: 404.
func TestDestinationsEndToEnd(t *testing.T) {
	sk := newSink(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "herald.yaml")
	saveFile(t, cfgPath, destinationsConfig(sk.srv.URL, "{driver: sqlite, dsn: herald.db}", true))
	p := start(t, dir, nil, "--config", cfgPath)
	readerFile := tokenFile(t, dir, "reader.token", destReaderToken)
	devFile := tokenFile(t, dir, "dev.token", destDeveloperToken)
	cli := func(tokFile string, args ...string) (int, string, string) {
		t.Helper()
		code, out, errOut := runCLI(t, append(append([]string{"destinations"}, args...), "--server", "http://"+p.addr, "--token-file", tokFile)...)
		if strings.Contains(out+errOut, destSecret) {
			t.Errorf("herald destinations %v prints a webhook URL's secret:\n%s%s", args, out, errOut)
		}
		return code, out, errOut
	}
	alerts := "/alerts/" + destSecret

	// Reader: lists, with URLs redacted; cannot test or create.
	code, out, errOut := cli(readerFile, "list")
	if code != exitOK || !strings.Contains(out, "builds") || !strings.Contains(out, "alerts") || !strings.Contains(out, sk.srv.URL+"/***") {
		t.Errorf("list as reader: exit %d\n%s%s", code, out, errOut)
	}
	if code, body := p.api(t, destReaderToken, "GET", "/v1/destinations/builds", ""); code != 200 || !strings.Contains(body, `"url":"`+sk.srv.URL+`/***"`) {
		t.Errorf("GET builds as reader: %d %s", code, body)
	}
	if code, _, errOut := cli(readerFile, "test", "alerts"); code != exitError || !strings.Contains(errOut, "this needs developer (http 403)") {
		t.Errorf("test as reader: exit %d %s", code, errOut)
	}
	if code, body := p.api(t, destReaderToken, "POST", "/v1/destinations", `{"name":"x","type":"console"}`); code != 403 {
		t.Errorf("create as reader: %d %s", code, body)
	}
	if n := len(sk.bodies(alerts)); n != 0 {
		t.Fatalf("alerts received %d messages before any test", n)
	}

	// Developer: the test message arrives, through the real path.
	if code, out, errOut := cli(devFile, "test", "alerts"); code != exitOK || !strings.Contains(out, "alerts: test message accepted") {
		t.Errorf("test as developer: exit %d\n%s%s", code, out, errOut)
	}
	if got := sk.bodies(alerts); len(got) != 1 || !strings.Contains(string(got[0]), "This is a test message from herald for destination alerts") {
		t.Errorf("alerts received %q, want the test message", got)
	}
	// Disabled: the next event reaches builds only, and nothing more
	// arrives at alerts.
	if code, out, errOut := cli(devFile, "disable", "alerts"); code != exitOK || out != "destination alerts disabled\n" {
		t.Errorf("disable as developer: exit %d %q %s", code, out, errOut)
	}
	if got := p.event(t, "e2e-1", "failed"); !slices.Equal(got, []string{"builds"}) {
		t.Errorf("event with alerts disabled went to %v, want builds only", got)
	}
	waitFor(t, 30*time.Second, func() bool { return len(sk.bodies("/slack/"+destSecret)) == 1 }, "event 1 at builds")
	if code, out, _ := cli(readerFile, "list"); code != exitOK || !regexpLine(out, `alerts\s+webhook\s+config\s+false`) {
		t.Errorf("list shows alerts disabled:\n%s", out)
	}
	if code, body := p.api(t, destDeveloperToken, "POST", "/v1/destinations", `{"name":"x","type":"console"}`); code != 403 || !strings.Contains(body, "needs manager") {
		t.Errorf("create as developer: %d %s", code, body)
	}
	if code, body := p.api(t, destDeveloperToken, "DELETE", "/v1/destinations/alerts", ""); code != 403 {
		t.Errorf("delete as developer: %d %s", code, body)
	}
	if code, body := p.api(t, destDeveloperToken, "PATCH", "/v1/destinations/alerts", `{"events":["*"]}`); code != 403 {
		t.Errorf("change as developer: %d %s", code, body)
	}
	if code, _, errOut := cli(devFile, "enable", "alerts"); code != exitOK {
		t.Errorf("enable as developer: exit %d %s", code, errOut)
	}
	if got := p.event(t, "e2e-2", "failed"); !slices.Equal(got, []string{"builds", "alerts"}) {
		t.Errorf("event with alerts enabled again went to %v", got)
	}
	if n := len(sk.bodies(alerts)); n > 2 {
		t.Errorf("alerts received %d messages, want at most the test and event 2", n)
	}

	// Manager: checks first, then a destination that gets the next event.
	if code, body := p.api(t, "", "POST", "/v1/destinations", `{"name":"x","type":"console"}`); code != 401 {
		t.Errorf("create without a token: %d %s", code, body)
	}
	if code, body := p.api(t, destManagerToken, "POST", "/v1/destinations",
		fmt.Sprintf(`{"name":"ops","type":"webhook","url":"%s/ops/%s","colour":"blue"}`, sk.srv.URL, destSecret)); code != 400 || !strings.Contains(body, "colour is not a known key") {
		t.Errorf("create with an unknown key: %d %s", code, body)
	}
	if code, body := p.api(t, destManagerToken, "POST", "/v1/destinations",
		fmt.Sprintf(`{"name":"ops","type":"slack","url":"https://hooks.example.com/%s"}`, destSecret)); code != 400 || !strings.Contains(body, "hooks.example.com") {
		t.Errorf("create with a URL off slack's allowlist: %d %s", code, body)
	}
	ops := "/ops/" + destSecret
	if code, body := p.api(t, destManagerToken, "POST", "/v1/destinations",
		fmt.Sprintf(`{"name":"ops","type":"webhook","url":"%s%s","events":["build.failed"]}`, sk.srv.URL, ops)); code != 201 || !strings.Contains(body, `"origin":"api"`) {
		t.Fatalf("create as manager: %d %s", code, body)
	}
	if got := p.event(t, "e2e-3", "failed"); !slices.Equal(got, []string{"builds", "alerts", "ops"}) {
		t.Errorf("event after create went to %v", got)
	}
	waitFor(t, 30*time.Second, func() bool { return len(sk.bodies(ops)) == 1 }, "event 3 at ops")
	if code, body := p.api(t, destManagerToken, "DELETE", "/v1/destinations/builds", ""); code != 409 || !strings.Contains(body, "comes from the config file") {
		t.Errorf("delete a file destination: %d %s", code, body)
	}
	// Disable builds too: the override must survive the restart as well.
	if code, body := p.api(t, destDeveloperToken, "PATCH", "/v1/destinations/builds", `{"enabled":false}`); code != 200 {
		t.Errorf("disable builds: %d %s", code, body)
	}

	// Restart on the same database.
	p.stop(t)
	p = start(t, dir, nil, "--config", cfgPath)
	if code, body := p.api(t, destReaderToken, "GET", "/v1/destinations/ops", ""); code != 200 || !strings.Contains(body, `"origin":"api"`) || !strings.Contains(body, `"enabled":true`) {
		t.Errorf("ops after restart: %d %s", code, body)
	}
	if got := p.event(t, "e2e-4", "failed"); !slices.Equal(got, []string{"alerts", "ops"}) {
		t.Errorf("event after restart went to %v, want alerts and ops (builds disabled)", got)
	}
	waitFor(t, 30*time.Second, func() bool { return len(sk.bodies(ops)) == 2 }, "event 4 at ops after the restart")

	// Change its events, then delete it.
	if code, body := p.api(t, destManagerToken, "PATCH", "/v1/destinations/ops", `{"events":["build.succeeded"]}`); code != 200 || !strings.Contains(body, `"events":["build.succeeded"]`) {
		t.Errorf("change ops: %d %s", code, body)
	}
	if got := p.event(t, "e2e-5", "failed"); slices.Contains(got, "ops") {
		t.Errorf("a failure went to ops after it subscribed to successes only: %v", got)
	}
	if got := p.event(t, "e2e-6", "succeeded"); !slices.Contains(got, "ops") {
		t.Errorf("a success did not go to ops: %v", got)
	}
	// Delivered before the delete, which cancels what is still queued.
	waitFor(t, 30*time.Second, func() bool { return len(sk.bodies(ops)) == 3 }, "event 6 at ops")
	if code, body := p.api(t, destManagerToken, "DELETE", "/v1/destinations/ops", ""); code != 200 || !strings.Contains(body, `"deleted":"ops"`) {
		t.Errorf("delete ops: %d %s", code, body)
	}
	if code, _ := p.api(t, destReaderToken, "GET", "/v1/destinations/ops", ""); code != 404 {
		t.Errorf("ops after delete: %d", code)
	}
	if got := p.event(t, "e2e-7", "succeeded"); slices.Contains(got, "ops") {
		t.Errorf("an event went to the deleted ops: %v", got)
	}
	if logs := p.logs.String(); strings.Contains(logs, destSecret) {
		t.Errorf("a webhook URL's secret is in the logs:\n%s", logs)
	}

	// Without tokens the admin API is off.
	saveFile(t, cfgPath, destinationsConfig(sk.srv.URL, "{driver: sqlite, dsn: herald.db}", false))
	p.stop(t)
	p = start(t, dir, nil, "--config", cfgPath)
	if code, body := p.api(t, destManagerToken, "GET", "/v1/destinations", ""); code != 404 || !strings.Contains(body, "configure api.tokens") {
		t.Errorf("with no token configured: %d %s", code, body)
	}
}

// TestDestinationsEgressEndToEnd: without egress.allow_private a loopback
// URL is refused through the API as it is in the file, and nothing is
// stored: the next start has no such destination.
func TestDestinationsEgressEndToEnd(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "herald.yaml")
	saveFile(t, cfgPath, fmt.Sprintf("listen: 127.0.0.1:0\nstore: {driver: sqlite, dsn: herald.db}\napi: {tokens: [{name: ops, role: manager, token: %s}]}\ndestinations: [{name: log, type: console}]\n", destManagerToken))
	p := start(t, dir, nil, "--config", cfgPath)
	code, body := p.api(t, destManagerToken, "POST", "/v1/destinations", fmt.Sprintf(`{"name":"local","type":"webhook","url":"http://127.0.0.1:9/%s"}`, destSecret))
	if code != 400 || !strings.Contains(body, "egress.allow_private") {
		t.Errorf("a loopback URL without allow_private: %d %s", code, body)
	}
	if code, body := p.api(t, destManagerToken, "GET", "/v1/destinations", ""); code != 200 || strings.Contains(body, "local") {
		t.Errorf("after the refusal: %d %s", code, body)
	}
}

// TestDestinationsDegradedStart: when the destinations created through the
// API no longer pass the file's rules (egress.allow_private turned off
// since), herald starts without them, says so in the log and the reload
// metric, keeps the file's disabled ones disabled, and the API can fix it.
func TestDestinationsDegradedStart(t *testing.T) {
	sk := newSink(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "herald.yaml")
	base := fmt.Sprintf("listen: 127.0.0.1:0\nstore: {driver: sqlite, dsn: herald.db}\napi: {tokens: [{name: ops, role: manager, token: %s}]}\n", destManagerToken)
	dests := "destinations: [{name: log, type: console}, {name: quiet, type: console}]\n"
	saveFile(t, cfgPath, base+"egress: {allow_private: true}\n"+dests)
	p := start(t, dir, nil, "--config", cfgPath)
	if code, body := p.api(t, destManagerToken, "POST", "/v1/destinations",
		fmt.Sprintf(`{"name":"local","type":"webhook","url":"%s/local/%s"}`, sk.srv.URL, destSecret)); code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, body := p.api(t, destManagerToken, "PATCH", "/v1/destinations/quiet", `{"enabled":false}`); code != 200 {
		t.Fatalf("disable quiet: %d %s", code, body)
	}
	p.stop(t)

	saveFile(t, cfgPath, base+dests) // allow_private off
	p = start(t, dir, nil, "--config", cfgPath)
	if !p.logged("destinations created through the admin API are not in force: the configuration with them does not load; fix or delete them through the API",
		map[string]string{"error": "egress.allow_private"}) {
		t.Errorf("no error logged for the stored destination; logs:\n%s", p.logs.String())
	}
	if v := p.metric(t, "herald_config_last_reload_successful"); v != "0" {
		t.Errorf("herald_config_last_reload_successful = %q, want 0", v)
	}
	if got := p.event(t, "deg-1", "failed"); !slices.Equal(got, []string{"log"}) {
		t.Errorf("event went to %v, want log only (quiet disabled, local not in force)", got)
	}
	if code, body := p.api(t, destManagerToken, "DELETE", "/v1/destinations/local", ""); code != 200 {
		t.Errorf("delete the stored destination that does not load: %d %s", code, body)
	}
	if v := p.metric(t, "herald_config_last_reload_successful"); v != "1" {
		t.Errorf("after the fix herald_config_last_reload_successful = %q, want 1", v)
	}
	if strings.Contains(p.logs.String(), destSecret) {
		t.Errorf("a webhook URL's secret is in the logs:\n%s", p.logs.String())
	}
}

// TestDestinationsReplicasEndToEnd: two replicas on one PostgreSQL
// database; a destination created through one receives events posted to
// the other within the poll interval, and one disabled through the other
// stops receiving at the first.
func TestDestinationsReplicasEndToEnd(t *testing.T) {
	dsn := storetest.Postgres(t).DSN(t)
	sk := newSink(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "herald.yaml")
	saveFile(t, cfgPath, destinationsConfig(sk.srv.URL, fmt.Sprintf("{driver: postgres, dsn: %q}", dsn), true))
	a := start(t, dir, nil, "--config", cfgPath)
	b := start(t, dir, nil, "--config", cfgPath)
	if code, body := a.api(t, destManagerToken, "POST", "/v1/destinations",
		fmt.Sprintf(`{"name":"ops","type":"webhook","url":"%s/ops/%s"}`, sk.srv.URL, destSecret)); code != 201 {
		t.Fatalf("create at a: %d %s", code, body)
	}
	waitFor(t, 10*time.Second, func() bool { return b.logged("config reloaded", map[string]string{"trigger": "store"}) }, "b's reload after a's write")
	if got := b.event(t, "rep-1", "failed"); !slices.Equal(got, []string{"builds", "alerts", "ops"}) {
		t.Errorf("event at b after a created ops went to %v", got)
	}
	if code, body := b.api(t, destDeveloperToken, "PATCH", "/v1/destinations/alerts", `{"enabled":false}`); code != 200 {
		t.Fatalf("disable at b: %d %s", code, body)
	}
	waitFor(t, 10*time.Second, func() bool {
		_, body := a.api(t, destReaderToken, "GET", "/v1/destinations/alerts", "")
		return strings.Contains(body, `"enabled":false`)
	}, "a to see alerts disabled")
	if got := a.event(t, "rep-2", "failed"); !slices.Equal(got, []string{"builds", "ops"}) {
		t.Errorf("event at a after b disabled alerts went to %v", got)
	}
	waitFor(t, 30*time.Second, func() bool { return len(sk.bodies("/ops/"+destSecret)) == 2 }, "both events at ops")
}

// stop sends SIGTERM and waits for the process to exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("herald did not stop within 30 s of SIGTERM")
	}
}

// regexpLine reports whether a line of out matches pattern.
func regexpLine(out, pattern string) bool {
	re := regexp.MustCompile(pattern)
	for line := range strings.Lines(out) {
		if re.MatchString(line) {
			return true
		}
	}
	return false
}

// TestPollDestinations: the poll reloads once per version it has not
// seen, not again after a failed reload of that version, and stops with
// its context.
func TestPollDestinations(t *testing.T) {
	t.Parallel()
	var version, seen atomic.Int64
	var mu sync.Mutex
	var triggers []string
	fail := atomic.Bool{}
	reloads := make(chan struct{}, 100)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		pollDestinations(ctx, versionFunc(func() (int64, error) { return version.Load(), nil }), seen.Load, func(trigger string) error {
			mu.Lock()
			triggers = append(triggers, trigger)
			mu.Unlock()
			reloads <- struct{}{}
			if fail.Load() {
				return errors.New("refused")
			}
			seen.Store(version.Load()) // as runtimeConfig.load records it
			return nil
		}, 5*time.Millisecond, zerolog.Nop())
	}()
	quiet := func(what string) {
		t.Helper()
		select {
		case <-reloads:
			t.Fatalf("%s: a reload", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
	quiet("nothing changed")
	version.Store(1)
	<-reloads
	quiet("after reloading version 1")
	fail.Store(true)
	version.Store(2)
	<-reloads
	quiet("after a failed reload of version 2")
	version.Store(3)
	<-reloads
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(triggers) != 3 || triggers[0] != triggerStore {
		t.Errorf("reloads %q, want 3 with trigger %q", triggers, triggerStore)
	}
}

type versionFunc func() (int64, error)

func (f versionFunc) DestinationsVersion(context.Context) (int64, error) { return f() }
