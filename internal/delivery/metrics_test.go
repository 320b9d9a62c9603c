package delivery

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters"
	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/internal/metrics"
	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/internal/store"
	"github.com/herald-ci/herald/internal/store/storetest"
)

// scripted is a platform on loopback: request i gets script[i], later ones
// then. hold, when set, keeps every request waiting until it is closed.
type scripted struct {
	script []reply
	then   reply
	hold   chan struct{}

	mu sync.Mutex
	n  int // requests arrived
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	s.mu.Lock()
	s.n++
	a := s.then
	if s.n <= len(s.script) {
		a = s.script[s.n-1]
	}
	s.mu.Unlock()
	if s.hold != nil {
		select {
		case <-s.hold:
		case <-r.Context().Done():
			return
		}
	}
	for k, v := range a.header {
		w.Header()[k] = v
	}
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

func (s *scripted) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// platforms starts one scripted fake per destination name and returns the
// config holding them, parsed through its defaults and validation.
func platforms(t *testing.T, fakes map[string]*scripted, destinations string) *config.Config {
	t.Helper()
	urls := map[string]string{}
	for name, f := range fakes {
		srv := httptest.NewServer(f)
		t.Cleanup(srv.Close)
		urls[name] = srv.URL + "/hook/" + name + "/SECRET"
	}
	yaml := "egress: {allow_private: true}\ndestinations:\n" + destinations
	for name, u := range urls {
		yaml = strings.ReplaceAll(yaml, "URL("+name+")", u)
	}
	c, err := config.Parse([]byte(yaml), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// realSenders builds every destination's real adapter (HTTP client,
// classification) over the embedded templates.
func realSenders(t *testing.T, c *config.Config) map[string]Sender {
	t.Helper()
	set, err := adapters.NewSet(c, notify.NewClient(5*time.Second, notify.Egress{AllowPrivate: true}), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Sender{}
	for _, d := range c.Destinations {
		a, _ := set.Get(d.Name)
		out[d.Name] = a
	}
	return out
}

// build renders ev with destination's adapter, as the server does before
// it stores a delivery.
func build(t *testing.T, senders map[string]Sender, destination string, ev *event.Event) notify.Payload {
	t.Helper()
	p, err := senders[destination].(adapters.Adapter).Build(ev)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (h *harness) acceptPayload(t *testing.T, destination string, p notify.Payload) string {
	t.Helper()
	acc, err := h.store.Accept(t.Context(),
		store.EventRecord{Source: "teamcity", Type: "BUILD_FINISHED", Kind: "build", Status: "failed"},
		[]store.Delivery{{Destination: destination, Payload: p}})
	if err != nil {
		t.Fatal(err)
	}
	return acc.EventID
}

// sampleCount is the number of observations of a histogram's series.
func sampleCount(t *testing.T, g prometheus.Gatherer, name, destination string) uint64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelOf(m, "destination") == destination {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestMetricsScenario drives the real worker over a real store and real
// adapters against loopback platforms, one delivery at a time, and reads
// the counters back from the registry:
//
//   - slack answers 200 ok, then 429 Retry-After 1, then 500 three times
//     (the job's max attempts: dead), then 400 (final);
//   - teams (Workflows) answers 202;
//   - connector (MessageCard) says "too large" in a 200, then takes the
//     smaller card;
//   - gone is not in the config any more.
func TestMetricsScenario(t *testing.T) {
	t.Parallel()
	const (
		teamsTooLarge = "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 413 with ContextId tracingid=0a1b2c3d,correlationId=4e5f,activityId=6a7b."
	)
	slack := &scripted{script: []reply{
		{200, "ok", nil},
		{429, "rate_limited", hdr("Retry-After", "1")},
		{500, "internal_error", nil}, {500, "internal_error", nil}, {500, "internal_error", nil},
		{400, "invalid_blocks", nil},
	}, then: reply{200, "ok", nil}}
	teams := &scripted{then: reply{status: 202}}
	connector := &scripted{script: []reply{{200, teamsTooLarge, nil}}, then: reply{200, "1", nil}}
	c := platforms(t, map[string]*scripted{"slack": slack, "teams": teams, "connector": connector}, `
  - {name: slack, type: slack, url: "URL(slack)", rate_limit: {per_second: 100, burst: 10}}
  - {name: teams, type: teams, format: workflows, url: "URL(teams)"}
  - {name: connector, type: teams, format: messagecard, url: "URL(connector)"}
`)
	senders := realSenders(t, c)
	m := metrics.New()
	h := newHarness(t, storetest.SQLite(), senders, Config{
		Policies:    func(name string) (Policy, bool) { return PolicyOf(c, name) },
		BackoffBase: 10 * time.Millisecond,
		Metrics:     m,
	}, store.Config{MaxAttempts: 3}) // River discards the job after its third attempt

	small := build(t, senders, "slack", platformEvent)
	for i, want := range []string{"completed", "discarded", "cancelled"} {
		st := h.final(t, h.acceptPayload(t, "slack", small))
		if !strings.Contains(want, st.State) {
			t.Fatalf("slack delivery %d: %+v, want %s", i+1, st, want)
		}
	}
	if n := slack.requests(); n != 6 {
		t.Fatalf("slack got %d requests, want 6", n)
	}
	if st := h.final(t, h.acceptPayload(t, "teams", build(t, senders, "teams", platformEvent))); st.State != "completed" {
		t.Fatalf("teams: %+v", st)
	}
	if st := h.final(t, h.acceptPayload(t, "connector", build(t, senders, "connector", bigEvent))); st.State != "completed" {
		t.Fatalf("connector: %+v", st)
	}
	if st := h.final(t, h.acceptPayload(t, "gone", small)); st.State != "cancelled" {
		t.Fatalf("gone: %+v", st)
	}

	const want = `
# HELP herald_delivery_attempts_total Sends to a platform by destination and result (delivered, accepted, retry, throttled, failed, too_large).
# TYPE herald_delivery_attempts_total counter
herald_delivery_attempts_total{destination="connector",result="delivered"} 1
herald_delivery_attempts_total{destination="connector",result="too_large"} 1
herald_delivery_attempts_total{destination="slack",result="delivered"} 1
herald_delivery_attempts_total{destination="slack",result="failed"} 1
herald_delivery_attempts_total{destination="slack",result="retry"} 3
herald_delivery_attempts_total{destination="slack",result="throttled"} 1
herald_delivery_attempts_total{destination="teams",result="accepted"} 1
# HELP herald_deliveries_total Deliveries ended, by destination and outcome (delivered, failed: final error, dead: attempts or max age exhausted).
# TYPE herald_deliveries_total counter
herald_deliveries_total{destination="connector",outcome="delivered"} 1
herald_deliveries_total{destination="gone",outcome="failed"} 1
herald_deliveries_total{destination="slack",outcome="dead"} 1
herald_deliveries_total{destination="slack",outcome="delivered"} 1
herald_deliveries_total{destination="slack",outcome="failed"} 1
herald_deliveries_total{destination="teams",outcome="delivered"} 1
`
	if err := testutil.GatherAndCompare(m.Gatherer(), strings.NewReader(want),
		"herald_delivery_attempts_total", "herald_deliveries_total"); err != nil {
		t.Error(err)
	}
	// One latency per delivery the platform took; one duration per send.
	for _, tc := range []struct {
		dest              string
		latency, attempts uint64
	}{{"slack", 1, 6}, {"teams", 1, 1}, {"connector", 1, 2}, {"gone", 0, 0}} {
		if got := sampleCount(t, m.Gatherer(), "herald_delivery_latency_seconds", tc.dest); got != tc.latency {
			t.Errorf("%s: %d latency observations, want %d", tc.dest, got, tc.latency)
		}
		if got := sampleCount(t, m.Gatherer(), "herald_delivery_attempt_duration_seconds", tc.dest); got != tc.attempts {
			t.Errorf("%s: %d attempt durations, want %d", tc.dest, got, tc.attempts)
		}
	}
	assertNoSecretIn(t, m)
}

// assertNoSecretIn fails if any exported label value holds a webhook URL's
// secret part.
func assertNoSecretIn(t *testing.T, m *metrics.Metrics) {
	t.Helper()
	mfs, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				if strings.Contains(l.GetValue(), "SECRET") || strings.Contains(l.GetValue(), "http") {
					t.Errorf("%s has label %s=%q", mf.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
}

// TestDestinationGauges: the scrape-time gauges read the breakers and the
// queue. broken fails twice (its breaker opens for an hour; the delivery is
// dead), held's platform never answers (its delivery stays pending), idle
// gets nothing.
func TestDestinationGauges(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		broken := &scripted{then: reply{500, "internal_error", nil}}
		held := &scripted{then: reply{status: 200}, hold: make(chan struct{})}
		idle := &scripted{then: reply{status: 200}}
		c := platforms(t, map[string]*scripted{"broken": broken, "held": held, "idle": idle}, `
  - {name: broken, type: webhook, url: "URL(broken)", max_attempts: 2, circuit_breaker: {failures: 2, open_for: 1h}}
  - {name: held, type: webhook, url: "URL(held)", timeout: 1m}
  - {name: idle, type: webhook, url: "URL(idle)"}
`)
		senders := realSenders(t, c)
		m := metrics.New()
		h := newHarness(t, d, senders, Config{
			Policies:    func(name string) (Policy, bool) { return PolicyOf(c, name) },
			BackoffBase: 10 * time.Millisecond,
			Metrics:     m,
		}, store.Config{})
		t.Cleanup(func() { close(held.hold) }) // before the store closes
		m.WatchDestinations(Gauges{Worker: h.worker, Store: h.store, Config: func() *config.Config { return c }})

		p := notify.Payload{Body: []byte(`{"text":"x"}`), ContentType: "application/json"}
		if st := h.final(t, h.acceptPayload(t, "broken", p)); st.State != "cancelled" || broken.requests() != 2 {
			t.Fatalf("broken: %+v after %d requests, want given up after 2", st, broken.requests())
		}
		h.acceptPayload(t, "held", p)
		deadline := time.Now().Add(30 * time.Second)
		for held.requests() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("held's delivery never reached its platform")
			}
			time.Sleep(10 * time.Millisecond)
		}

		const want = `
# HELP herald_circuit_breaker_state Circuit breaker in front of the destination's URL: 0 closed, 1 open, 2 half-open.
# TYPE herald_circuit_breaker_state gauge
herald_circuit_breaker_state{destination="broken"} 1
herald_circuit_breaker_state{destination="held"} 0
herald_circuit_breaker_state{destination="idle"} 0
# HELP herald_queue_depth Deliveries not yet done (waiting, scheduled, retrying or being sent), by destination.
# TYPE herald_queue_depth gauge
herald_queue_depth{destination="broken"} 0
herald_queue_depth{destination="held"} 1
herald_queue_depth{destination="idle"} 0
`
		if err := testutil.GatherAndCompare(m.Gatherer(), strings.NewReader(want),
			"herald_circuit_breaker_state", "herald_queue_depth"); err != nil {
			t.Error(err)
		}
		// broken stopped at its own max_attempts, below the job's: dead too.
		const ended = `
# HELP herald_deliveries_total Deliveries ended, by destination and outcome (delivered, failed: final error, dead: attempts or max age exhausted).
# TYPE herald_deliveries_total counter
herald_deliveries_total{destination="broken",outcome="dead"} 1
`
		if err := testutil.GatherAndCompare(m.Gatherer(), strings.NewReader(ended), "herald_deliveries_total"); err != nil {
			t.Error(err)
		}
		mfs, err := m.Gatherer().Gather()
		if err != nil {
			t.Fatal(err)
		}
		oldest := map[string]float64{}
		for _, mf := range mfs {
			if mf.GetName() == "herald_queue_oldest_pending_seconds" {
				for _, mt := range mf.GetMetric() {
					oldest[labelOf(mt, "destination")] = mt.GetGauge().GetValue()
				}
			}
		}
		if len(oldest) != 3 || oldest["held"] <= 0 || oldest["broken"] != 0 || oldest["idle"] != 0 {
			t.Errorf("oldest pending = %v, want held > 0 and the others 0", oldest)
		}
		assertNoSecretIn(t, m)
	})
}
