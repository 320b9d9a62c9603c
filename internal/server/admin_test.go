package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters"
	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/internal/store"
)

// The API tokens of apiTokens (server_test.go), by role.
const (
	readerToken    = "test-reader-token-00001"
	developerToken = "test-developer-token-01"
	managerToken   = testManagerToken
)

// memDestinations is an in-memory DestinationStore with the store's
// compare-and-set, and ingest's Accept (fakeStore).
type memDestinations struct {
	fakeStore
	dmu     sync.Mutex
	version int64
	recs    map[string]store.DestinationRecord
	// beforeWrite, when set, runs before each write's version check.
	beforeWrite func(m *memDestinations)
}

func (m *memDestinations) StoredDestinations(context.Context) (store.DestinationSet, error) {
	m.dmu.Lock()
	defer m.dmu.Unlock()
	set := store.DestinationSet{Version: m.version}
	for _, r := range m.recs {
		set.Destinations = append(set.Destinations, r)
	}
	slices.SortFunc(set.Destinations, func(a, b store.DestinationRecord) int { return strings.Compare(a.Name, b.Name) })
	return set, nil
}

func (m *memDestinations) write(expected int64, f func()) (int64, error) {
	if m.beforeWrite != nil {
		m.beforeWrite(m)
	}
	m.dmu.Lock()
	defer m.dmu.Unlock()
	if expected != m.version {
		return 0, store.ErrDestinationsChanged
	}
	m.version++
	f()
	return m.version, nil
}

func (m *memDestinations) PutDestination(_ context.Context, d store.DestinationRecord, expected int64) (int64, error) {
	return m.write(expected, func() {
		if m.recs == nil {
			m.recs = map[string]store.DestinationRecord{}
		}
		m.recs[d.Name] = d
	})
}

func (m *memDestinations) DeleteDestination(_ context.Context, name string, expected int64) (int64, error) {
	m.dmu.Lock()
	_, ok := m.recs[name]
	m.dmu.Unlock()
	if !ok {
		return 0, store.ErrDestinationNotFound
	}
	return m.write(expected, func() { delete(m.recs, name) })
}

func (m *memDestinations) versionNow() int64 {
	m.dmu.Lock()
	defer m.dmu.Unlock()
	return m.version
}

// sinkServer records request bodies by path and answers each path's
// status (200 "ok" by default).
type sinkServer struct {
	*httptest.Server
	mu     sync.Mutex
	got    map[string][]string
	answer map[string]func(w http.ResponseWriter)
}

func newSinkServer(t *testing.T) *sinkServer {
	t.Helper()
	k := &sinkServer{got: map[string][]string{}, answer: map[string]func(http.ResponseWriter){}}
	k.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		k.mu.Lock()
		k.got[r.URL.Path] = append(k.got[r.URL.Path], string(b))
		answer := k.answer[r.URL.Path]
		k.mu.Unlock()
		if answer != nil {
			answer(w)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(k.Close)
	return k
}

func (k *sinkServer) bodies(path string) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.got[path])
}

// adminServer is a server whose admin API composes with Compose over file
// and reloads by composing again from the store, as cmd/herald does
// (without the template check).
type adminServer struct {
	srv     *Server
	st      *memDestinations
	file    *config.Config
	reloads atomic.Int32
	// failReload, when set, makes the next reloads fail.
	failReload atomic.Bool
}

// secretPath is the credential in every webhook URL of these tests.
const secretPath = "/hooks/SECRET-PATH-TOKEN"

func newAdminServer(t *testing.T, yaml string) *adminServer {
	t.Helper()
	file, err := config.Parse([]byte(yaml), ".")
	if err != nil {
		t.Fatal(err)
	}
	a := &adminServer{st: &memDestinations{}, file: file}
	build := func(c *config.Config) (*Runtime, error) {
		set, err := adapters.NewSet(c, notify.NewClient(5*time.Second, c.Egress.Policy()), zerolog.Nop())
		if err != nil {
			return nil, err
		}
		return &Runtime{Config: c, Adapters: set}, nil
	}
	rt, err := build(file)
	if err != nil {
		t.Fatal(err)
	}
	a.srv = New(rt, a.st, nil, zerolog.Nop())
	a.srv.SetAdmin(Admin{
		Check: func(_ context.Context, stored []store.DestinationRecord) error {
			c, _, err := Compose(a.file, stored)
			if err != nil {
				return err
			}
			_, err = build(c)
			return err
		},
		Reload: func(trigger string) ([]string, error) {
			if trigger != ReloadTrigger {
				t.Errorf("reload trigger %q, want %q", trigger, ReloadTrigger)
			}
			if a.failReload.Load() {
				return nil, errors.New("config file: colour is not a known key")
			}
			set, _ := a.st.StoredDestinations(context.Background())
			c, warnings, err := Compose(a.file, set.Destinations)
			if err != nil {
				return nil, err
			}
			rt, err := build(c)
			if err != nil {
				return nil, err
			}
			a.srv.Swap(rt)
			a.reloads.Add(1)
			return warnings, nil
		},
	})
	return a
}

// call makes one request as tok ("" for none) with body as JSON, and
// fails the test if the answer leaks the secret path.
func (a *adminServer) call(t *testing.T, tok, method, path, body string) (int, map[string]any, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	rec, out := doAs(a.srv, tok, method, path, "application/json", r)
	raw := rec.Body.String()
	if strings.Contains(raw, "SECRET-PATH-TOKEN") {
		t.Errorf("%s %s answers with a webhook URL's secret: %s", method, path, raw)
	}
	if strings.Count(strings.TrimSpace(raw), "\n") > 0 {
		t.Errorf("%s %s: answer is not one line: %q", method, path, raw)
	}
	return rec.Code, out, raw
}

// ingest posts a generic build.failed event and returns the destinations
// it was committed for.
func (a *adminServer) ingest(t *testing.T) []string {
	t.Helper()
	n := a.st.count()
	rec, _ := do(a.srv, http.MethodPost, "/v1/events/generic", "application/json",
		strings.NewReader(fmt.Sprintf(`{"kind":"build","status":"failed","project":"web","id":"ev-%d"}`, n)))
	if rec.Code != http.StatusAccepted {
		t.Fatalf("ingest: %d %s", rec.Code, rec.Body)
	}
	a.st.mu.Lock()
	defer a.st.mu.Unlock()
	var out []string
	for _, d := range a.st.jobs[len(a.st.jobs)-1] {
		out = append(out, d.Destination)
	}
	return out
}

func adminConfig(sinkURL string) string {
	return apiTokens + fmt.Sprintf(`
egress: {allow_private: true}
destinations:
  - {name: builds, type: slack, url: "%[1]s/slack%[2]s"}
  - {name: alerts, type: webhook, url: "%[1]s/alerts%[2]s", events: [build.failed]}
`, sinkURL, secretPath)
}

// TestDestinationsAPIRoles: what each role may do, 401 and 403 distinct.
func TestDestinationsAPIRoles(t *testing.T) {
	t.Parallel()
	k := newSinkServer(t)
	a := newAdminServer(t, adminConfig(k.URL))
	create := fmt.Sprintf(`{"name":"%%s","type":"webhook","url":"%s/new%s"}`, k.URL, secretPath)
	for _, tc := range []struct {
		name, token, method, path, body string
		code                            int
		want                            string
	}{
		{"no token lists", "", "GET", "/v1/destinations", "", 401, "an API token is required"},
		{"unknown token tests", "not-a-configured-token", "POST", "/v1/destinations/builds/test", "", 401, "not valid"},
		{"reader lists", readerToken, "GET", "/v1/destinations", "", 200, `"name":"builds"`},
		{"reader reads one", readerToken, "GET", "/v1/destinations/alerts", "", 200, `"events":["build.failed"]`},
		{"reader cannot test", readerToken, "POST", "/v1/destinations/builds/test", "", 403, "has role reader; this needs developer"},
		{"reader cannot disable", readerToken, "PATCH", "/v1/destinations/builds", `{"enabled":false}`, 403, "this needs developer"},
		{"reader cannot create", readerToken, "POST", "/v1/destinations", fmt.Sprintf(create, "r"), 403, "this needs manager"},
		{"reader cannot delete", readerToken, "DELETE", "/v1/destinations/builds", "", 403, "this needs manager"},
		{"developer tests", developerToken, "POST", "/v1/destinations/builds/test", "", 200, `"result":"accepted"`},
		{"developer disables", developerToken, "PATCH", "/v1/destinations/alerts", `{"enabled":false}`, 200, `"enabled":false`},
		{"developer enables", developerToken, "PATCH", "/v1/destinations/alerts", `{"enabled":true}`, 200, `"enabled":true`},
		{"developer cannot change events", developerToken, "PATCH", "/v1/destinations/alerts", `{"events":["*"]}`, 403, "has role developer; this needs manager"},
		{"developer cannot change events with enabled", developerToken, "PATCH", "/v1/destinations/alerts", `{"enabled":false,"events":["*"]}`, 403, "this needs manager"},
		{"developer cannot create", developerToken, "POST", "/v1/destinations", fmt.Sprintf(create, "d"), 403, "this needs manager"},
		{"developer cannot delete", developerToken, "DELETE", "/v1/destinations/builds", "", 403, "this needs manager"},
		{"manager creates", managerToken, "POST", "/v1/destinations", fmt.Sprintf(create, "m"), 201, `"origin":"api"`},
		{"manager changes", managerToken, "PATCH", "/v1/destinations/m", `{"events":["build.failed"]}`, 200, `"events":["build.failed"]`},
		{"manager deletes", managerToken, "DELETE", "/v1/destinations/m", "", 200, `"deleted":"m"`},
		{"manager tests", managerToken, "POST", "/v1/destinations/alerts/test", "", 200, `"result":"accepted"`},
	} {
		code, _, raw := a.call(t, tc.token, tc.method, tc.path, tc.body)
		if code != tc.code || !strings.Contains(raw, tc.want) {
			t.Errorf("%s: %s %s = %d %s; want %d containing %s", tc.name, tc.method, tc.path, code, raw, tc.code, tc.want)
		}
	}
	// Nothing a refused request asked for happened.
	set, _ := a.st.StoredDestinations(t.Context())
	if len(set.Destinations) != 0 {
		t.Errorf("stored after the table: %+v; want nothing (m created and deleted, alerts enabled again)", set.Destinations)
	}
	if n := len(k.bodies("/slack" + secretPath)); n != 1 {
		t.Errorf("builds received %d test messages, want 1", n)
	}
}

// TestDestinationsAPIOff: with no token configured, the admin API is off.
func TestDestinationsAPIOff(t *testing.T) {
	t.Parallel()
	a := newAdminServer(t, "destinations: [{name: all, type: console}]")
	for _, r := range [][2]string{{"GET", "/v1/destinations"}, {"POST", "/v1/destinations"}, {"PATCH", "/v1/destinations/all"},
		{"DELETE", "/v1/destinations/all"}, {"POST", "/v1/destinations/all/test"}} {
		code, _, raw := a.call(t, managerToken, r[0], r[1], `{"enabled":false}`)
		if code != 404 || !strings.Contains(raw, "configure api.tokens") {
			t.Errorf("%s %s with no tokens configured: %d %s; want 404", r[0], r[1], code, raw)
		}
	}
}

// TestDestinationsAPILifecycle: a destination created at run time gets
// events, changes, is disabled, enabled and deleted; the file's
// destinations can be disabled but neither changed nor deleted; every
// refused write stores nothing.
func TestDestinationsAPILifecycle(t *testing.T) {
	t.Parallel()
	k := newSinkServer(t)
	a := newAdminServer(t, adminConfig(k.URL))
	m := managerToken
	if got := a.ingest(t); !slices.Equal(got, []string{"builds", "alerts"}) {
		t.Fatalf("before: event to %v", got)
	}

	code, out, raw := a.call(t, m, "POST", "/v1/destinations",
		fmt.Sprintf(`{"name":"ops","type":"webhook","url":"%s/ops%s?sig=QUERYSECRET","events":"BUILD_FAILED;BUILD_FIXED","branches":["main"]}`, k.URL, secretPath))
	if code != 201 {
		t.Fatalf("create: %d %s", code, raw)
	}
	d, _ := out["destination"].(map[string]any)
	if d["origin"] != "api" || d["enabled"] != true || d["url"] != k.URL+"/***" || strings.Contains(raw, "QUERYSECRET") {
		t.Errorf("created: %s", raw)
	}
	if got := a.ingest(t); !slices.Equal(got, []string{"builds", "alerts", "ops"}) {
		t.Errorf("after create: event to %v, want builds, alerts, ops", got)
	}
	if v := a.st.versionNow(); v != 1 {
		t.Errorf("store version %d after one write", v)
	}

	refused := []struct {
		name, method, path, body string
		code                     int
		want                     string
	}{
		{"a name the file uses", "POST", "/v1/destinations", fmt.Sprintf(`{"name":"builds","type":"webhook","url":"%s/x"}`, k.URL), 409, `a destination named \"builds\" exists (origin config)`},
		{"a name the API used", "POST", "/v1/destinations", fmt.Sprintf(`{"name":"ops","type":"webhook","url":"%s/x"}`, k.URL), 409, `\"ops\" exists (origin api)`},
		{"an unknown key", "POST", "/v1/destinations", fmt.Sprintf(`{"name":"x","type":"webhook","url":"%s/x","colour":"blue"}`, k.URL), 400, "colour is not a known key"},
		{"a file of herald's host", "POST", "/v1/destinations", `{"name":"x","type":"webhook","url_file":"/etc/hostname"}`, 400, "url_file: names a file on herald's host"},
		{"a password file", "POST", "/v1/destinations", fmt.Sprintf(`{"name":"x","type":"webhook","url":"%s/x","basic_auth":{"username":"u","password_file":"/etc/shadow"}}`, k.URL), 400, "basic_auth.password_file"},
		{"no name", "POST", "/v1/destinations", fmt.Sprintf(`{"type":"webhook","url":"%s/x"}`, k.URL), 400, "name is required"},
		{"no type", "POST", "/v1/destinations", fmt.Sprintf(`{"name":"x","url":"%s/x"}`, k.URL), 400, "type is required"},
		{"no url", "POST", "/v1/destinations", `{"name":"x","type":"slack"}`, 400, `destination \"x\": url: required`},
		{"an unknown event", "POST", "/v1/destinations", fmt.Sprintf(`{"name":"x","type":"webhook","url":"%s/x","events":["build.exploded"]}`, k.URL), 400, "unknown status"},
		{"a slack URL off its allowlist", "POST", "/v1/destinations", `{"name":"x","type":"slack","url":"https://evil.example.com/hooks/SECRET-PATH-TOKEN"}`, 400, "evil.example.com"},
		{"a link-local URL", "POST", "/v1/destinations", `{"name":"x","type":"webhook","url":"http://169.254.169.254/hooks/SECRET-PATH-TOKEN"}`, 400, `destination \"x\": url:`},
		{"not an object", "POST", "/v1/destinations", `["ops"]`, 400, "one JSON object"},
		{"two objects", "POST", "/v1/destinations", `{"name":"x"}{"name":"y"}`, 400, "one JSON object"},
		{"enabled not a bool", "POST", "/v1/destinations", `{"name":"x","enabled":"no"}`, 400, "enabled: must be true or false"},
		{"too large", "POST", "/v1/destinations", `{"name":"` + strings.Repeat("x", adminMaxBody) + `"}`, 413, "body exceeds 64 KiB"},
		{"a rename", "PATCH", "/v1/destinations/ops", `{"name":"ops2"}`, 400, "name cannot change"},
		{"a bad change", "PATCH", "/v1/destinations/ops", `{"rate_limit":{"per_second":-1}}`, 400, "rate_limit.per_second: must be positive"},
		{"an empty change", "PATCH", "/v1/destinations/ops", `{}`, 400, "nothing to change"},
		{"a change of a file destination", "PATCH", "/v1/destinations/builds", `{"events":["*"]}`, 409, "comes from the config file: only enabled changes"},
		{"delete a file destination", "DELETE", "/v1/destinations/builds", "", 409, "comes from the config file and cannot be deleted through the API"},
		{"change an unknown one", "PATCH", "/v1/destinations/nobody", `{"enabled":false}`, 404, "no destination of that name"},
		{"delete an unknown one", "DELETE", "/v1/destinations/nobody", "", 404, "no destination of that name"},
		{"test an unknown one", "POST", "/v1/destinations/nobody/test", "", 404, "no destination of that name"},
	}
	for _, tc := range refused {
		code, _, raw := a.call(t, m, tc.method, tc.path, tc.body)
		if code != tc.code || !strings.Contains(raw, tc.want) {
			t.Errorf("%s: %s %s = %d %s; want %d containing %s", tc.name, tc.method, tc.path, code, raw, tc.code, tc.want)
		}
	}
	if v := a.st.versionNow(); v != 1 {
		t.Errorf("store version %d after refused writes, want 1 (nothing stored)", v)
	}
	// A private URL is refused unless egress.allow_private.
	strict := newAdminServer(t, apiTokens+"destinations: [{name: all, type: console}]")
	code, _, raw = strict.call(t, m, "POST", "/v1/destinations", fmt.Sprintf(`{"name":"x","type":"webhook","url":"%s%s"}`, k.URL, secretPath))
	if code != 400 || !strings.Contains(raw, "egress.allow_private") || strict.st.versionNow() != 0 {
		t.Errorf("a loopback URL without allow_private: %d %s; want 400 naming egress.allow_private, nothing stored", code, raw)
	}

	// Change the subscription: a failure no longer matches.
	code, out, raw = a.call(t, m, "PATCH", "/v1/destinations/ops", `{"events":["build.succeeded"],"branches":null}`)
	if d, _ := out["destination"].(map[string]any); code != 200 || fmt.Sprint(d["events"]) != "[build.succeeded]" || d["branches"] != nil {
		t.Errorf("patch: %d %s", code, raw)
	}
	if got := a.ingest(t); !slices.Equal(got, []string{"builds", "alerts"}) {
		t.Errorf("after patch: event to %v, want builds, alerts", got)
	}
	set, _ := a.st.StoredDestinations(t.Context())
	if r, _ := set.Find("ops"); !strings.Contains(string(r.Spec), "QUERYSECRET") || strings.Contains(string(r.Spec), "branches") {
		t.Errorf("stored spec after patch: %s; want the URL kept and branches removed", r.Spec)
	}

	// Disable a file destination: kept, listed as disabled, routed nothing.
	code, out, raw = a.call(t, developerToken, "PATCH", "/v1/destinations/alerts", `{"enabled":false}`)
	if d, _ := out["destination"].(map[string]any); code != 200 || d["enabled"] != false || d["origin"] != "config" {
		t.Errorf("disable alerts: %d %s", code, raw)
	}
	if got := a.ingest(t); !slices.Equal(got, []string{"builds"}) {
		t.Errorf("with alerts disabled: event to %v, want builds", got)
	}
	// Still the file's: not deletable, and the attempt keeps it disabled.
	if code, _, raw := a.call(t, m, "DELETE", "/v1/destinations/alerts", ""); code != 409 || !strings.Contains(raw, "comes from the config file") {
		t.Errorf("delete the disabled file destination: %d %s", code, raw)
	}
	if got := a.ingest(t); !slices.Equal(got, []string{"builds"}) {
		t.Errorf("after trying to delete alerts: event to %v, want builds (alerts still disabled)", got)
	}
	_, out, _ = a.call(t, readerToken, "GET", "/v1/destinations", "")
	if l, _ := out["destinations"].([]any); len(l) != 3 {
		t.Errorf("list with one disabled: %v; want all three", out)
	}
	// Enabling it removes the override.
	if code, _, raw := a.call(t, developerToken, "PATCH", "/v1/destinations/alerts", `{"enabled":true}`); code != 200 {
		t.Errorf("enable alerts: %d %s", code, raw)
	}
	if set, _ := a.st.StoredDestinations(t.Context()); len(set.Destinations) != 1 {
		t.Errorf("stored after enabling alerts: %+v; want only ops", set.Destinations)
	}
	before := a.st.versionNow()
	if code, _, raw := a.call(t, developerToken, "PATCH", "/v1/destinations/alerts", `{"enabled":true}`); code != 200 || a.st.versionNow() != before {
		t.Errorf("enabling an enabled destination: %d %s, version %d → %d; want 200 and no write", code, raw, before, a.st.versionNow())
	}

	// Delete the runtime one.
	if code, _, raw := a.call(t, m, "DELETE", "/v1/destinations/ops", ""); code != 200 {
		t.Fatalf("delete: %d %s", code, raw)
	}
	if code, _, _ := a.call(t, readerToken, "GET", "/v1/destinations/ops", ""); code != 404 {
		t.Errorf("GET after delete: %d", code)
	}
}

// TestDestinationsAPIURLsRedacted: no answer holds a webhook URL's path or
// query, created through the API or in the file (call checks every answer).
func TestDestinationsAPIURLsRedacted(t *testing.T) {
	t.Parallel()
	k := newSinkServer(t)
	a := newAdminServer(t, adminConfig(k.URL))
	a.call(t, managerToken, "POST", "/v1/destinations", fmt.Sprintf(`{"name":"ops","type":"teams","url":"%s/flow%s?sig=SECRET-PATH-TOKEN"}`, k.URL, secretPath))
	// A refused one that shares ops's URL with another breaker: the error
	// names destinations only.
	code, _, raw := a.call(t, managerToken, "POST", "/v1/destinations",
		fmt.Sprintf(`{"name":"ops2","type":"teams","url":"%s/flow%s?sig=SECRET-PATH-TOKEN","max_in_flight":7}`, k.URL, secretPath))
	if code != 400 || !strings.Contains(raw, `shares its url with \"ops\"`) {
		t.Errorf("shared URL: %d %s", code, raw)
	}
	// A test that fails with the URL in the platform's answer.
	k.mu.Lock()
	k.answer["/alerts"+secretPath] = func(w http.ResponseWriter) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "no hook at "+k.URL+"/alerts"+secretPath)
	}
	k.mu.Unlock()
	code, out, raw := a.call(t, developerToken, "POST", "/v1/destinations/alerts/test", "")
	if code != 200 || out["result"] != TestFinalFailure || out["status"] != float64(404) {
		t.Errorf("test of a 404: %d %s", code, raw)
	}
	for _, path := range []string{"/v1/destinations", "/v1/destinations/ops", "/v1/destinations/builds"} {
		code, _, raw := a.call(t, readerToken, "GET", path, "")
		if code != 200 || !strings.Contains(raw, k.URL+"/***") {
			t.Errorf("GET %s: %d %s; want the redacted URL", path, code, raw)
		}
	}
}

// TestDestinationTestMessage: the test endpoint sends one marked message
// through the destination's adapter and reports the platform's answer as
// the queue would read it; nothing is queued.
func TestDestinationTestMessage(t *testing.T) {
	t.Parallel()
	k := newSinkServer(t)
	a := newAdminServer(t, adminConfig(k.URL))
	path := "/alerts" + secretPath
	for _, tc := range []struct {
		name       string
		answer     func(w http.ResponseWriter)
		result     string
		status     int
		retryAfter int
	}{
		{"accepted", nil, TestAccepted, 0, 0},
		{"throttled", func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
		}, TestThrottled, 429, 7},
		{"temporary", func(w http.ResponseWriter) { w.WriteHeader(http.StatusBadGateway) }, TestTemporaryFailure, 502, 0},
		{"final", func(w http.ResponseWriter) { w.WriteHeader(http.StatusGone) }, TestFinalFailure, 410, 0},
	} {
		k.mu.Lock()
		k.answer[path] = tc.answer
		k.mu.Unlock()
		n := len(k.bodies(path))
		code, out, raw := a.call(t, developerToken, "POST", "/v1/destinations/alerts/test", "")
		if code != 200 || out["result"] != tc.result || out["destination"] != "alerts" ||
			int(asFloat(out["status"])) != tc.status || int(asFloat(out["retry_after"])) != tc.retryAfter {
			t.Errorf("%s: %d %s; want result %s, status %d, retry_after %d", tc.name, code, raw, tc.result, tc.status, tc.retryAfter)
		}
		if tc.result != TestAccepted && out["reason"] == "" {
			t.Errorf("%s: no reason: %s", tc.name, raw)
		}
		got := k.bodies(path)
		if len(got) != n+1 || !strings.Contains(got[len(got)-1], "This is a test message from herald for destination alerts") {
			t.Errorf("%s: the sink got %d more requests (%q), want the one test message", tc.name, len(got)-n, got[n:])
		}
	}
	if a.st.count() != 0 {
		t.Errorf("a test message was queued: %d commits", a.st.count())
	}
	// One test at a time per destination: a second while the first waits
	// for the platform is refused.
	release := make(chan struct{})
	k.mu.Lock()
	k.answer[path] = func(w http.ResponseWriter) { <-release }
	k.mu.Unlock()
	first := make(chan int)
	go func() {
		rec, _ := doAs(a.srv, developerToken, "POST", "/v1/destinations/alerts/test", "", nil)
		first <- rec.Code
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(k.bodies(path)) < 5 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if code, _, raw := a.call(t, developerToken, "POST", "/v1/destinations/alerts/test", ""); code != 429 || !strings.Contains(raw, "being sent") {
		t.Errorf("a second test while one is in flight: %d %s; want 429", code, raw)
	}
	close(release)
	if code := <-first; code != 200 {
		t.Errorf("the first test: %d", code)
	}
	// A disabled destination can still be tested.
	a.call(t, developerToken, "PATCH", "/v1/destinations/builds", `{"enabled":false}`)
	if code, out, raw := a.call(t, developerToken, "POST", "/v1/destinations/builds/test", ""); code != 200 || out["result"] != TestAccepted {
		t.Errorf("test of a disabled destination: %d %s", code, raw)
	}
}

func asFloat(v any) float64 {
	f, _ := v.(float64)
	return f
}

// TestDestinationsAPIConcurrentWriter: a write that loses the store's
// compare-and-set to another replica is planned again on what that one
// wrote; one that keeps losing gets 409.
func TestDestinationsAPIConcurrentWriter(t *testing.T) {
	t.Parallel()
	k := newSinkServer(t)
	a := newAdminServer(t, adminConfig(k.URL))
	var races atomic.Int32
	races.Store(1)
	a.st.beforeWrite = func(m *memDestinations) {
		if races.Add(-1) < 0 {
			return
		}
		// Another replica creates "other" with the URL this write wants,
		// and another breaker: the retry must see it and refuse.
		m.dmu.Lock()
		m.version++
		m.recs = map[string]store.DestinationRecord{"other": {Name: "other", Origin: store.OriginAPI, Enabled: true,
			Spec: fmt.Appendf(nil, `{"name":"other","type":"webhook","url":"%s/shared","max_in_flight":9}`, k.URL)}}
		m.dmu.Unlock()
	}
	code, _, raw := a.call(t, managerToken, "POST", "/v1/destinations", fmt.Sprintf(`{"name":"mine","type":"webhook","url":"%s/shared"}`, k.URL))
	if code != 400 || !strings.Contains(raw, `shares its url with \"other\"`) {
		t.Errorf("write after another replica's: %d %s; want 400 seeing the other's destination", code, raw)
	}
	races.Store(100)
	code, _, raw = a.call(t, managerToken, "POST", "/v1/destinations", fmt.Sprintf(`{"name":"mine","type":"webhook","url":"%s/mine"}`, k.URL))
	if code != 409 || !strings.Contains(raw, "retry") {
		t.Errorf("a write that always loses: %d %s; want 409", code, raw)
	}
}

// TestDestinationsAPIReloadFails: a change stored whose reload then fails
// (the file broke meanwhile) says so; without Admin the writes are off.
func TestDestinationsAPIReloadFails(t *testing.T) {
	t.Parallel()
	k := newSinkServer(t)
	a := newAdminServer(t, adminConfig(k.URL))
	a.failReload.Store(true)
	code, _, raw := a.call(t, managerToken, "POST", "/v1/destinations", fmt.Sprintf(`{"name":"x","type":"webhook","url":"%s/x"}`, k.URL))
	if code != 500 || !strings.Contains(raw, "stored but the reload failed") || !strings.Contains(raw, "colour") {
		t.Errorf("failed reload: %d %s", code, raw)
	}

	cfg, err := config.Parse([]byte(adminConfig(k.URL)), ".")
	if err != nil {
		t.Fatal(err)
	}
	set, err := adapters.NewSet(cfg, notify.Client(0), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	bare := New(&Runtime{Config: cfg, Adapters: set}, &memDestinations{}, nil, zerolog.Nop())
	rec, _ := doAs(bare, managerToken, "DELETE", "/v1/destinations/builds", "", nil)
	if rec.Code != 501 {
		t.Errorf("a write without SetAdmin: %d %s; want 501", rec.Code, rec.Body)
	}
	if rec, _ := doAs(bare, readerToken, "GET", "/v1/destinations", "", nil); rec.Code != 200 {
		t.Errorf("a read without SetAdmin: %d %s; want 200", rec.Code, rec.Body)
	}
}

// TestCompose: the file's destinations, its overrides, the API's
// destinations after them; the file wins a name; overrides of destinations
// the file lost are ignored; a stored spec that no longer validates fails.
func TestCompose(t *testing.T) {
	t.Parallel()
	file, err := config.Parse([]byte(`
egress: {allow_private: true}
destinations:
  - {name: a, type: console}
  - {name: b, type: console}
`), ".")
	if err != nil {
		t.Fatal(err)
	}
	rec := func(name, origin, spec string, enabled bool) store.DestinationRecord {
		return store.DestinationRecord{Name: name, Origin: origin, Spec: []byte(spec), Enabled: enabled}
	}
	stored := []store.DestinationRecord{
		rec("a", store.OriginAPI, `{"name":"a","type":"console"}`, true), // shadowed by the file
		rec("b", store.OriginConfig, "", false),
		rec("gone", store.OriginConfig, "", false),
		rec("z", store.OriginAPI, `{"name":"z","type":"webhook","url":"http://127.0.0.1:9/z","dedup_window":"5m"}`, false),
	}
	c, warnings, err := Compose(file, stored)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range c.Destinations {
		got = append(got, fmt.Sprintf("%s/%s/%v", d.Name, config.OriginOf(d), d.Disabled))
	}
	if want := "[a/config/false b/config/true z/api/true]"; fmt.Sprint(got) != want {
		t.Errorf("composed %v, want %s", got, want)
	}
	if z := c.Destinations[2]; z.MaxInFlight == 0 || z.CircuitBreaker == nil || z.DedupWindow != 5*time.Minute {
		t.Errorf("z's defaults not set: %+v", z)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], `"a": the config file defines it`) {
		t.Errorf("warnings %q", warnings)
	}
	if file.Destinations[1].Disabled || len(file.Destinations) != 2 {
		t.Errorf("Compose changed the file's config: %+v", file.Destinations)
	}
	strict, _ := config.Parse([]byte(`destinations: [{name: a, type: console}]`), ".")
	if _, _, err := Compose(strict, stored[3:]); err == nil || !strings.Contains(err.Error(), "allow_private") {
		t.Errorf("a stored URL the egress rules now refuse: %v", err)
	}
}

// TestMergePatch: RFC 7386 on the stored spec.
func TestMergePatch(t *testing.T) {
	t.Parallel()
	doc := []byte(`{"name":"x","rate_limit":{"per_second":2,"burst":3},"events":["a"],"branches":["main"]}`)
	patch := map[string]json.RawMessage{
		"rate_limit": json.RawMessage(`{"burst":null,"per_second":1.5}`),
		"events":     json.RawMessage(`["b"]`),
		"branches":   json.RawMessage(`null`),
	}
	got, err := mergePatch(doc, patch)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"events":["b"],"name":"x","rate_limit":{"per_second":1.5}}`; string(got) != want {
		t.Errorf("merged %s, want %s", got, want)
	}
}
