package reload

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters"
	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/metrics"
	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/internal/server"
	"github.com/herald-ci/herald/sources/sourcestest"
)

// target is a running configuration without a server around it.
type target struct {
	rt atomic.Pointer[server.Runtime]
}

func (t *target) Runtime() *server.Runtime { return t.rt.Load() }
func (t *target) Swap(rt *server.Runtime)  { t.rt.Store(rt) }
func (t *target) names() (out []string) {
	for _, d := range t.Runtime().Config.Destinations {
		out = append(out, d.Name)
	}
	return out
}

// syncBuffer collects log lines written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type fixture struct {
	dir    string
	path   string // the config file
	target *target
	rl     *Reloader
	m      *metrics.Metrics
	logs   *syncBuffer
}

// consoleConfig is a config with a console destination per name.
func consoleConfig(extra string, names ...string) string {
	s := "store: {driver: sqlite, dsn: herald.db}\n" + extra + "destinations:\n"
	for _, n := range names {
		s += "  - {name: " + n + ", type: console}\n"
	}
	return s
}

// setup starts from a config file holding text, loaded as serve loads it.
func setup(t *testing.T, text string) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{dir: dir, path: filepath.Join(dir, "herald.yaml"), target: &target{}, m: metrics.New(), logs: &syncBuffer{}}
	writeFile(t, f.path, text)
	log := zerolog.New(zerolog.MultiLevelWriter(f.logs, zerolog.NewTestWriter(t)))
	newSet := func(c *config.Config, log zerolog.Logger) (*adapters.Set, error) {
		return adapters.NewSet(c, notify.NewClient(c.LongestTimeout(), c.Egress.Policy()), log)
	}
	c, err := config.Load(f.path)
	if err != nil {
		t.Fatal(err)
	}
	set, err := newSet(c, log)
	if err != nil {
		t.Fatal(err)
	}
	f.target.Swap(&server.Runtime{Config: c, Adapters: set})
	f.rl = New(Options{
		Load:       func() (*config.Config, error) { return config.Load(f.path) },
		NewSet:     newSet,
		Target:     f.target,
		Metrics:    f.m,
		Log:        log,
		JobTimeout: time.Minute,
	})
	return f
}

// writeFile replaces path the way editors save: a new file renamed over
// the old one.
func writeFile(t *testing.T, path, text string) {
	t.Helper()
	tmp := path + ".tmp~"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// render is what destination's current adapter makes of a sample event.
func (f *fixture) render(t *testing.T, destination, sample string) string {
	t.Helper()
	a, ok := f.target.Runtime().Adapters.Get(destination)
	if !ok {
		t.Fatalf("no adapter for %s", destination)
	}
	for _, s := range Samples() {
		if s.Name == sample {
			p, err := a.Build(s.Event)
			if err != nil {
				t.Fatal(err)
			}
			return string(p.Body)
		}
	}
	t.Fatalf("no sample %s", sample)
	return ""
}

func (f *fixture) reloads(result string) float64 {
	mfs, _ := f.m.Gatherer().Gather()
	for _, mf := range mfs {
		if mf.GetName() != "herald_config_reloads_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

func (f *fixture) lastSuccessful() float64 {
	return gauge(f.m, "herald_config_last_reload_successful")
}

func gauge(m *metrics.Metrics, name string) float64 {
	mfs, _ := m.Gatherer().Gather()
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReloadAddsDestination: a valid config replaces the running one whole;
// the new destination has an adapter and the metrics say so.
func TestReloadAddsDestination(t *testing.T) {
	t.Parallel()
	f := setup(t, consoleConfig("", "a"))
	before := f.target.Runtime()

	writeFile(t, f.path, consoleConfig("", "a", "b"))
	res, err := f.rl.Reload("test")
	if err != nil {
		t.Fatal(err)
	}
	if res.Destinations != 2 || len(res.Warnings) != 0 {
		t.Errorf("result %+v, want 2 destinations and no warnings", res)
	}
	if got := f.target.names(); !slices.Equal(got, []string{"a", "b"}) || f.target.Runtime() == before {
		t.Fatalf("destinations after reload = %v, want [a b] in a new runtime", got)
	}
	if f.render(t, "b", "generic-build-failed") == "" {
		t.Error("b renders nothing")
	}
	if f.reloads(metrics.ReloadSuccess) != 1 || f.reloads(metrics.ReloadFailure) != 0 || f.lastSuccessful() != 1 {
		t.Errorf("reloads success %v failure %v, last successful %v; want 1, 0, 1",
			f.reloads(metrics.ReloadSuccess), f.reloads(metrics.ReloadFailure), f.lastSuccessful())
	}
	if ts := gauge(f.m, "herald_config_last_reload_success_timestamp_seconds"); ts < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Errorf("last success timestamp %v, want about now", ts)
	}
	if !strings.Contains(f.logs.String(), `"message":"config reloaded"`) {
		t.Errorf("no reload in the logs:\n%s", f.logs.String())
	}
}

// TestReloadRefusedKeepsRunningConfig: each broken config is refused with
// its reason; the running configuration stays, in use, and the failure is
// logged and counted. A fixed config then loads.
func TestReloadRefusedKeepsRunningConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		config    string
		templates map[string]string // file name -> text, in <dir>/tmpl
		wantErr   string
		wantAlso  []string // more parts of the error
	}{
		{name: "unknown key", config: consoleConfig("colour: blue\n", "a", "b"),
			wantErr: "colour is not a known key"},
		{name: "invalid destination", config: consoleConfig("", "a") + "  - {name: b, type: slak}\n",
			wantErr: `type "slak" is not one of`},
		{name: "template does not parse", config: consoleConfig("templates_dir: tmpl\n", "a", "b"),
			templates: map[string]string{"console.tmpl": `{{ define "console.build.text" }}{{ .Project }{{ end }}`},
			wantErr:   "console.tmpl:1"},
		// Parses, but fails on every build event without a TeamCity
		// payload: in production the default would be sent instead.
		{name: "template fails on samples", config: consoleConfig("templates_dir: tmpl\n", "a", "b"),
			templates: map[string]string{"console.tmpl": `{{ define "console.build.text" }}{{ len .Raw.payload.changes }}{{ end }}`},
			wantErr:   `destination "a": template failed, the default would be sent: console: render console.build.text: template: `,
			wantAlso: []string{"tmpl/console.tmpl:1:36: executing", `<len .Raw.payload.changes>`,
				"(sample appcenter-build-failure-failed-status, appcenter-build-failure, appcenter-build-success-android-2021 and 7 more)",
				`; destination "b": template failed`}},
		{name: "timeout beyond the queue's", config: consoleConfig("delivery: {timeout: 2m}\n", "a", "b"),
			wantErr: "exceeds the 1m0s the queue was started with"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, consoleConfig("", "a"))
			running := f.target.Runtime()
			for name, text := range tc.templates {
				if err := os.MkdirAll(filepath.Join(f.dir, "tmpl"), 0o700); err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(f.dir, "tmpl", name), text)
			}
			writeFile(t, f.path, tc.config)

			_, err := f.rl.Reload("test")
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Reload: %v, want an error containing %q", err, tc.wantErr)
			}
			for _, part := range tc.wantAlso {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("the error does not say %q: %v", part, err)
				}
			}
			// The adapters' own fallback warnings while the samples render
			// are noise: nothing was sent.
			if strings.Contains(f.logs.String(), "using the default") {
				t.Errorf("the check's renderings were logged as fallbacks:\n%s", f.logs.String())
			}
			if f.target.Runtime() != running || !slices.Equal(f.target.names(), []string{"a"}) {
				t.Errorf("the running configuration changed: %v", f.target.names())
			}
			if f.render(t, "a", "generic-build-failed") == "" {
				t.Error("the running configuration no longer renders")
			}
			if f.reloads(metrics.ReloadFailure) != 1 || f.reloads(metrics.ReloadSuccess) != 0 || f.lastSuccessful() != 0 {
				t.Errorf("reloads failure %v success %v, last successful %v; want 1, 0, 0",
					f.reloads(metrics.ReloadFailure), f.reloads(metrics.ReloadSuccess), f.lastSuccessful())
			}
			var logged bool
			for line := range strings.Lines(f.logs.String()) {
				var l struct{ Message, Error, Trigger string }
				if json.Unmarshal([]byte(line), &l) == nil && l.Message == "config reload failed; the running configuration stays" &&
					strings.Contains(l.Error, tc.wantErr) && l.Trigger == "test" {
					logged = true
				}
			}
			if !logged {
				t.Errorf("no log line names the error %q:\n%s", tc.wantErr, f.logs.String())
			}

			writeFile(t, f.path, consoleConfig("", "a", "b"))
			if _, err := f.rl.Reload("test"); err != nil {
				t.Fatalf("the fixed config: %v", err)
			}
			if !slices.Equal(f.target.names(), []string{"a", "b"}) || f.lastSuccessful() != 1 {
				t.Errorf("after the fix: %v, last successful %v", f.target.names(), f.lastSuccessful())
			}
		})
	}
}

// TestReloadWarnsAboutWhatNeedsARestart: settings fixed at start are
// named; the rest applies.
func TestReloadWarnsAboutWhatNeedsARestart(t *testing.T) {
	t.Parallel()
	f := setup(t, consoleConfig("", "a"))
	writeFile(t, f.path, "listen: 127.0.0.1:9999\n"+consoleConfig("delivery: {retention: 48h, first_attempt_from_memory: true}\n", "b"))
	res, err := f.rl.Reload("test")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"listen: needs a restart to change", "delivery.retention: needs a restart to change",
		"delivery.first_attempt_from_memory: needs a restart to change"}
	if !slices.Equal(res.Warnings, want) {
		t.Errorf("warnings %q, want %q", res.Warnings, want)
	}
	if !slices.Equal(f.target.names(), []string{"b"}) {
		t.Errorf("destinations %v, want [b]", f.target.names())
	}
}

// TestOnSignal: a signal on the channel reloads.
func TestOnSignal(t *testing.T) {
	t.Parallel()
	f := setup(t, consoleConfig("", "a"))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sig := make(chan os.Signal, 1)
	done := make(chan struct{})
	go func() { f.rl.OnSignal(ctx, sig); close(done) }()

	writeFile(t, f.path, consoleConfig("", "a", "b"))
	sig <- syscall.SIGHUP
	eventually(t, "the reload on SIGHUP", func() bool { return len(f.target.names()) == 2 })
	if !strings.Contains(f.logs.String(), `"trigger":"sighup"`) {
		t.Errorf("the reload does not say it came from SIGHUP:\n%s", f.logs.String())
	}
	cancel()
	<-done // returns when its context ends
}

// TestWatch: saving the config (rename over it) reloads; the templates
// directory the new config names is watched from then on, and a template
// saved there reloads too.
func TestWatch(t *testing.T) {
	t.Parallel()
	f := setup(t, consoleConfig("", "a"))
	tmpl := filepath.Join(f.dir, "tmpl")
	if err := os.Mkdir(tmpl, 0o700); err != nil {
		t.Fatal(err)
	}
	w, err := f.rl.Watch(f.path, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	writeFile(t, f.path, consoleConfig("templates_dir: tmpl\n", "a", "b"))
	eventually(t, "the reload after the config was saved", func() bool { return len(f.target.names()) == 2 })

	writeFile(t, filepath.Join(tmpl, "console.tmpl"), `{{ define "console.build.text" }}OVERRIDDEN {{ .Project }}{{ end }}`)
	eventually(t, "the reload after a template was saved", func() bool {
		return strings.Contains(f.render(t, "b", "generic-build-failed"), "OVERRIDDEN")
	})
	if n := f.reloads(metrics.ReloadSuccess); n != 2 {
		t.Errorf("%v reloads, want 2 (one per debounced change)", n)
	}
}

// TestWatchFilter: which file events can change the configuration.
func TestWatchFilter(t *testing.T) {
	t.Parallel()
	f := filter{config: "/etc/herald/herald.yaml", templates: []string{"/etc/herald/tmpl", "/srv/tmpl"}}
	cases := []struct {
		name string
		op   fsnotify.Op
		want bool
	}{
		{"/etc/herald/herald.yaml", fsnotify.Write, true},
		{"/etc/herald/herald.yaml", fsnotify.Create, true}, // renamed over it
		{"/etc/herald/herald.yaml", fsnotify.Remove, true},
		{"/etc/herald/herald.yaml", fsnotify.Chmod, false},
		{"/etc/herald/..data", fsnotify.Create, true}, // Kubernetes ConfigMap swap
		{"/etc/herald/herald.db-wal", fsnotify.Write, false},
		{"/etc/herald/herald.yaml.swp", fsnotify.Write, false},
		{"/etc/herald/other.yaml", fsnotify.Write, false},
		{"/etc/herald/tmpl/slack.tmpl", fsnotify.Create, true},
		{"/srv/tmpl/teams.tmpl", fsnotify.Write, true},
		{"/srv/tmpl/notes.txt", fsnotify.Write, false},
		{"/srv/elsewhere/slack.tmpl", fsnotify.Write, false},
	}
	for _, tc := range cases {
		if got := f.relevant(fsnotify.Event{Name: tc.name, Op: tc.op}); got != tc.want {
			t.Errorf("%s %s: relevant = %v, want %v", tc.op, tc.name, got, tc.want)
		}
	}
}

// TestHandler: POST /-/reload reloads (200) or says why not (500); other
// methods get 405. (Who may call it is the server's API tokens.)
func TestHandler(t *testing.T) {
	t.Parallel()
	f := setup(t, consoleConfig("", "a"))
	srv := httptest.NewServer(f.rl.Handler())
	t.Cleanup(srv.Close)
	do := func(method, path string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}

	writeFile(t, f.path, consoleConfig("", "a", "b"))
	if code, body := do(http.MethodPost, "/-/reload"); code != http.StatusOK || body["status"] != "reloaded" || body["destinations"] != float64(2) {
		t.Errorf("POST: %d %v, want 200 reloaded with 2 destinations", code, body)
	}
	writeFile(t, f.path, "destinations: []\n")
	if code, body := do(http.MethodPost, "/-/reload"); code != http.StatusInternalServerError ||
		!strings.Contains(body["error"].(string), "at least one is required") {
		t.Errorf("POST of a broken config: %d %v, want 500 naming the problem", code, body)
	}
	if code, _ := do(http.MethodGet, "/-/reload"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", code)
	}
	if n := f.reloads(metrics.ReloadSuccess) + f.reloads(metrics.ReloadFailure); n != 2 {
		t.Errorf("%v reloads, want 2 (a GET must not reload)", n)
	}
}

// TestSamplesAreTheFixtures: the embedded samples are the test fixtures,
// byte for byte, less the one its decoder refuses on purpose.
func TestSamplesAreTheFixtures(t *testing.T) {
	t.Parallel()
	want := map[string][]byte{}
	for _, fx := range sourcestest.Fixtures() {
		if !sourcestest.Rejected[fx.Name] {
			want[fx.Name+".json"] = fx.Body
		}
	}
	entries, err := sampleFiles.ReadDir("samples")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, e := range entries {
		got[e.Name()] = true
		b, _ := sampleFiles.ReadFile("samples/" + e.Name())
		if w, ok := want[e.Name()]; !ok {
			t.Errorf("samples/%s is not a fixture of sources/sourcestest: remove it", e.Name())
		} else if !bytes.Equal(b, w) {
			t.Errorf("samples/%s differs from sources/sourcestest/testdata/%[1]s: copy it again", e.Name())
		}
	}
	for name := range want {
		if !got[name] {
			t.Errorf("sources/sourcestest/testdata/%s is missing from samples/: copy it", name)
		}
	}
	if n := len(Samples()); n < 20 {
		t.Errorf("%d samples decode, want the fixtures' events (more than 20)", n)
	}
}

// TestCheckPassesValidConfigs: the documented example, and a config with
// every destination type and format, render every sample with the
// built-in templates, so a reload of a valid config is never refused by the
// check itself.
func TestCheckPassesValidConfigs(t *testing.T) {
	t.Setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T000/B000/XXXX")
	t.Setenv("TEAMS_WEBHOOK_URL", "https://example.webhook.office.com/webhookb2/abc/IncomingWebhook/def/ghi")
	t.Setenv("TEAMCITY_WEBHOOK_PASSWORD", "a-teamcity-password")
	t.Setenv("APPCENTER_WEBHOOK_TOKEN", "an-appcenter-token-0123456789")
	t.Setenv("GENERIC_WEBHOOK_TOKEN", "a-generic-bearer-token-0123456789")
	every := filepath.Join(t.TempDir(), "every.yaml")
	writeFile(t, every, `
destinations:
  - {name: slack, type: slack, url: "https://hooks.slack.com/services/T0/B0/X"}
  - {name: workflows, type: teams, format: workflows, url: "https://prod.westeurope.logic.azure.com/workflows/x"}
  - {name: card, type: teams, format: adaptive-card, url: "https://prod.westeurope.logic.azure.com/workflows/y"}
  - {name: connector, type: teams, format: messagecard, url: "https://example.webhook.office.com/webhookb2/z"}
  - {name: hook, type: webhook, url: "https://hooks.example.com/in"}
  - {name: log, type: console}
`)
	for _, path := range []string{"../../config.example.yaml", every} {
		c, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		set, err := adapters.NewSet(c, notify.NewClient(c.LongestTimeout(), c.Egress.Policy()), zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		if err := Check(c, set); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}
