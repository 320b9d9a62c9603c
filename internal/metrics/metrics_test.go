package metrics

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestNamesPassLint: promlint's conventions (units, _total, help) hold for
// every herald metric.
func TestNamesPassLint(t *testing.T) {
	t.Parallel()
	m := New()
	m.SetBuildInfo("v1.2.3")
	m.Rendered("slack")
	m.Attempt("slack", AttemptDelivered, time.Second)
	m.Delivered("slack", time.Minute)
	m.Ended("slack", DeliveryDead)
	m.WatchDestinations(fakeDestinations{queue: map[string]QueueStat{"slack": {Depth: 1, Oldest: time.Second}}})
	problems, err := testutil.GatherAndLint(m.Gatherer())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "herald_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}

func TestBuildInfo(t *testing.T) {
	t.Parallel()
	m := New()
	m.SetBuildInfo("v1.2.3")
	m.SetBuildInfo("v1.2.4") // replaces, never two series
	mfs, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]string
	for _, mf := range mfs {
		if mf.GetName() != "herald_build_info" {
			continue
		}
		for _, s := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range s.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if s.GetGauge().GetValue() != 1 {
				t.Errorf("herald_build_info%v = %v, want 1", l, s.GetGauge().GetValue())
			}
			got = append(got, l)
		}
	}
	// The revision is the commit when Go stamped VCS information into the
	// binary, "unknown" otherwise (tests here build with -buildvcs=false).
	if len(got) != 1 || got[0]["version"] != "v1.2.4" || got[0]["goversion"] != runtime.Version() || got[0]["revision"] == "" {
		t.Errorf("herald_build_info series %v, want one with version v1.2.4, goversion %s and a revision", got, runtime.Version())
	}
}

func TestConfigLoadMetrics(t *testing.T) {
	t.Parallel()
	m := New()
	start := time.Unix(1_700_000_000, 0)
	m.ConfigLoaded(start, false) // start-up: not a reload
	check := func(when string, success, failure, ok, ts float64) {
		t.Helper()
		if got := testutil.ToFloat64(m.reloads.WithLabelValues(ReloadSuccess)); got != success {
			t.Errorf("%s: success %v, want %v", when, got, success)
		}
		if got := testutil.ToFloat64(m.reloads.WithLabelValues(ReloadFailure)); got != failure {
			t.Errorf("%s: failure %v, want %v", when, got, failure)
		}
		if got := testutil.ToFloat64(m.lastReloadResult); got != ok {
			t.Errorf("%s: last successful %v, want %v", when, got, ok)
		}
		if got := testutil.ToFloat64(m.lastReloadTime); got != ts {
			t.Errorf("%s: last success time %v, want %v", when, got, ts)
		}
	}
	check("at start", 0, 0, 1, 1_700_000_000)
	m.ConfigReloadFailed()
	check("after a failed reload", 0, 1, 0, 1_700_000_000)
	m.ConfigLoaded(start.Add(90*time.Second), true)
	check("after a good reload", 1, 1, 1, 1_700_000_090)
}

type fakeDestinations struct {
	queue map[string]QueueStat
	err   error
}

func (f fakeDestinations) Names() []string { return []string{"slack", "teams"} }
func (f fakeDestinations) BreakerState(d string) int {
	if d == "teams" {
		return 2
	}
	return 0
}
func (f fakeDestinations) Queue(context.Context) (map[string]QueueStat, error) { return f.queue, f.err }

// TestDestinationGauges: every configured destination is reported, with 0
// when nothing waits, plus removed ones that still have deliveries queued;
// a store that fails leaves the queue gauges out and serves the rest.
func TestDestinationGauges(t *testing.T) {
	t.Parallel()
	m := New()
	m.WatchDestinations(fakeDestinations{queue: map[string]QueueStat{
		"slack":   {Depth: 3, Oldest: 90 * time.Second},
		"removed": {Depth: 1, Oldest: time.Hour},
	}})
	want := `
# HELP herald_circuit_breaker_state Circuit breaker in front of the destination's URL: 0 closed, 1 open, 2 half-open.
# TYPE herald_circuit_breaker_state gauge
herald_circuit_breaker_state{destination="slack"} 0
herald_circuit_breaker_state{destination="teams"} 2
# HELP herald_queue_depth Deliveries not yet done (waiting, scheduled, retrying or being sent), by destination.
# TYPE herald_queue_depth gauge
herald_queue_depth{destination="removed"} 1
herald_queue_depth{destination="slack"} 3
herald_queue_depth{destination="teams"} 0
# HELP herald_queue_oldest_pending_seconds Age of the oldest delivery not yet done (since its event was accepted); 0 when there is none.
# TYPE herald_queue_oldest_pending_seconds gauge
herald_queue_oldest_pending_seconds{destination="removed"} 3600
herald_queue_oldest_pending_seconds{destination="slack"} 90
herald_queue_oldest_pending_seconds{destination="teams"} 0
`
	if err := testutil.GatherAndCompare(m.Gatherer(), strings.NewReader(want),
		"herald_circuit_breaker_state", "herald_queue_depth", "herald_queue_oldest_pending_seconds"); err != nil {
		t.Error(err)
	}

	broken := New()
	broken.WatchDestinations(fakeDestinations{err: errors.New("database is locked")})
	rec := httptest.NewRecorder()
	broken.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != 200 || !strings.Contains(string(body), `herald_circuit_breaker_state{destination="teams"} 2`) ||
		strings.Contains(string(body), "herald_queue_depth{") {
		t.Errorf("with the store failing: %d\n%s\nwant 200 with the breakers and without queue gauges", rec.Code, body)
	}
}
