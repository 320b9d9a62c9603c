package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
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
	"github.com/herald-ci/herald/internal/server"
	"github.com/herald-ci/herald/internal/store"
)

// switchSink answers 400 until fixed, then 200.
type switchSink struct{ fixed atomic.Bool }

func (k *switchSink) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	if k.fixed.Load() {
		_, _ = w.Write([]byte("ok"))
		return
	}
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write([]byte("invalid_blocks"))
}

// deliveriesServer runs the real server handler on a real SQLite store, in
// process, with one event delivered to "broken" (400: failed), "gone"
// (connection refused, one attempt: dead) and "good" (delivered); every
// destination URL holds a secret token.
func deliveriesServer(t *testing.T) (base string, k *switchSink, ids map[string]int64) {
	t.Helper()
	k = &switchSink{}
	bad := httptest.NewServer(k)
	t.Cleanup(bad.Close)
	good := &switchSink{}
	good.fixed.Store(true)
	gs := httptest.NewServer(good)
	t.Cleanup(gs.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	_ = ln.Close()

	cfg, err := config.Parse(fmt.Appendf(nil, `
api:
  tokens:
    - {name: ops, role: developer, token: %s}
    - {name: viewer, role: reader, token: %s}
egress: {allow_private: true}
destinations:
  - {name: good, type: webhook, url: "%s/hooks/SECRET-TOKEN-1"}
  - {name: broken, type: webhook, url: "%s/hooks/SECRET-TOKEN-2"}
  - {name: gone, type: webhook, url: "%s/hooks/SECRET-TOKEN-3"}
`, cliToken, cliReaderToken, gs.URL, bad.URL, closed), ".")
	if err != nil {
		t.Fatal(err)
	}
	log := zerolog.Nop()
	set, err := adapters.NewSet(cfg, notify.NewClient(2*time.Second, cfg.Egress.Policy()), log)
	if err != nil {
		t.Fatal(err)
	}
	workers := river.NewWorkers()
	if err := delivery.Register(workers, delivery.New(delivery.SendersFunc(func(name string) (delivery.Sender, bool) {
		return set.Get(name)
	}), delivery.Config{Timeout: 2 * time.Second}, log)); err != nil {
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
	srv := server.New(&server.Runtime{Config: cfg, Adapters: set}, st, nil, log)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)

	resp, err := http.Post(hs.URL+"/v1/events/generic", "application/json",
		strings.NewReader(`{"kind":"build","status":"failed","project":"web","id":"cli-1"}`))
	if err != nil {
		t.Fatal(err)
	}
	var acc server.Response
	_ = json.NewDecoder(resp.Body).Decode(&acc)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || len(acc.Deliveries) != 3 {
		t.Fatalf("ingest: %d %+v", resp.StatusCode, acc)
	}
	ids = map[string]int64{}
	for _, d := range acc.Deliveries {
		ids[d.Destination] = d.ID
	}
	settleCLI(t, hs.URL)
	return hs.URL, k, ids
}

func settleCLI(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, out, _ := runCLI(t, "deliveries", "list", "--state", "pending", "--server", base)
		if code == exitOK && strings.Count(out, "\n") == 1 { // the header only
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries still pending: %d %s", code, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The API tokens of deliveriesServer's config.
const (
	cliToken       = "cli-developer-token-0001"
	cliReaderToken = "cli-reader-token-000001"
)

func TestDeliveriesCLI(t *testing.T) {
	t.Setenv("HERALD_API_TOKEN", cliToken)
	base, k, ids := deliveriesServer(t)
	noSecret := func(what, s string) {
		t.Helper()
		if strings.Contains(s, "SECRET") {
			t.Errorf("%s leaks a destination URL: %s", what, s)
		}
	}

	code, out, errOut := runCLI(t, "deliveries", "list", "--server", base)
	noSecret("list", out+errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != exitOK || len(lines) != 4 || !strings.HasPrefix(lines[0], "ID ") || !strings.Contains(lines[0], "LAST ERROR") {
		t.Fatalf("list = %d\n%s%s", code, out, errOut)
	}
	for dest, want := range map[string]string{
		"broken": `failed\s+broken\s+1/1\s.*http 400 invalid_blocks$`,
		"gone":   `dead\s+gone\s+1/1\s.*connection refused$`,
		"good":   `delivered\s+good\s+1/1\s.*\s-$`,
	} {
		re := regexp.MustCompile(fmt.Sprintf(`(?m)^%d\s+%s`, ids[dest], want))
		if !re.MatchString(out) {
			t.Errorf("list has no line matching %s:\n%s", re, out)
		}
	}

	// HERALD_SERVER is the default; flags after the positional ID work.
	t.Setenv("HERALD_SERVER", base)
	code, out, errOut = runCLI(t, "deliveries", "list", "--state", "dead", "--limit", "1")
	if code != exitOK || strings.Count(out, "\n") != 2 || !strings.Contains(out, "gone") {
		t.Errorf("list dead = %d %s %s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "deliveries", "list", "--limit", "1")
	if code != exitOK || !strings.Contains(errOut, "more: add --cursor ") {
		t.Errorf("list --limit 1 = %d %s %s", code, out, errOut)
	}

	code, out, errOut = runCLI(t, "deliveries", "show", fmt.Sprint(ids["broken"]), "--server", base)
	noSecret("show", out+errOut)
	var d server.DeliveryDetail
	if err := json.Unmarshal([]byte(out), &d); err != nil || code != exitOK {
		t.Fatalf("show = %d %v\n%s%s", code, err, out, errOut)
	}
	if d.State != "failed" || len(d.Errors) != 1 || d.Errors[0].Error != "http 400 invalid_blocks" || !json.Valid(d.Payload) ||
		!strings.Contains(out, "\n  \"payload\": {") {
		t.Errorf("show = %s", out)
	}
	for _, dest := range []string{"gone", "good"} {
		_, out, errOut := runCLI(t, "deliveries", "show", fmt.Sprint(ids[dest]))
		noSecret("show "+dest, out+errOut)
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"show", "999999"}, exitError, "delivery not found (http 404)"},
		{[]string{"show"}, exitUsage, "give exactly one delivery ID"},
		{[]string{"show", "x"}, exitUsage, `"x" is not a delivery ID`},
		{[]string{"retry", fmt.Sprint(ids["good"])}, exitError, "delivery is delivered; only failed or dead deliveries can be retried (http 409)"},
		{[]string{"retry", "1", "--destination", "gone"}, exitUsage, "not both"},
		{[]string{"retry", "--state", "dead"}, exitUsage, "--state needs --destination"},
		{[]string{"list", "--state", "lost"}, exitError, "state must be one of"},
		{[]string{"list", "--server", "ftp://x"}, exitUsage, "is not an http(s) URL"},
		{[]string{"frob"}, exitUsage, `unknown command "frob"`},
		{nil, exitUsage, "give list, show or retry"},
	} {
		code, out, errOut := runCLI(t, append([]string{"deliveries"}, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("deliveries %v = %d %q %q; want %d and %q", tc.args, code, out, errOut, tc.code, tc.want)
		}
	}

	k.fixed.Store(true)
	code, out, errOut = runCLI(t, "deliveries", "retry", fmt.Sprint(ids["broken"]))
	if code != exitOK || out != fmt.Sprintf("delivery %d to broken requeued\n", ids["broken"]) {
		t.Errorf("retry = %d %q %q", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "deliveries", "retry", "--destination", "gone", "--state", "dead")
	if code != exitOK || out != fmt.Sprintf("1 deliveries to gone requeued: %d\n", ids["gone"]) {
		t.Errorf("retry --destination = %d %q %q", code, out, errOut)
	}
	settleCLI(t, base)
	code, out, _ = runCLI(t, "deliveries", "list", "--state", "delivered")
	if code != exitOK || !strings.Contains(out, " broken ") || strings.Contains(out, " gone ") {
		t.Errorf("delivered after replay = %s", out)
	}
	code, out, _ = runCLI(t, "deliveries", "retry", "--destination", "broken")
	if code != exitOK || out != "0 deliveries to broken requeued\n" {
		t.Errorf("nothing to retry = %d %q", code, out)
	}

	// The token: a reader may list but not retry; --token-file wins over
	// the environment; without a token the server says what to do.
	readerFile := writeFile(t, t.TempDir(), "reader.token", cliReaderToken+"\n")
	if code, out, errOut := runCLI(t, "deliveries", "list", "--token-file", readerFile); code != exitOK {
		t.Errorf("list as reader = %d %s %s", code, out, errOut)
	}
	code, _, errOut = runCLI(t, "deliveries", "retry", "--token-file", readerFile, fmt.Sprint(ids["broken"]))
	if code != exitError || !strings.Contains(errOut, "token viewer has role reader; this needs developer (http 403)") {
		t.Errorf("retry as reader = %d %q", code, errOut)
	}
	t.Setenv("HERALD_API_TOKEN", "")
	code, _, errOut = runCLI(t, "deliveries", "list")
	if code != exitError || !strings.Contains(errOut, "an API token is required") || !strings.Contains(errOut, "(http 401)") {
		t.Errorf("list without a token = %d %q", code, errOut)
	}

	// No server listening.
	var errb bytes.Buffer
	if code := run([]string{"deliveries", "list", "--server", "http://127.0.0.1:1"}, &errb, &errb); code != exitError ||
		!strings.Contains(errb.String(), "herald server at http://127.0.0.1:1") {
		t.Errorf("no server = %d %s", code, errb.String())
	}
}
