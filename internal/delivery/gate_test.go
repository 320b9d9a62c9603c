package delivery

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/internal/store"
	"github.com/herald-ci/herald/internal/store/storetest"
)

// recorder is a Sender that answers with fn (nil: delivered) and records
// when each attempt reached it, its body, and the most attempts it saw at
// once. Its timestamps are the "platform's" view of our traffic.
type recorder struct {
	fn func(ctx context.Context) (bool, error)

	mu      sync.Mutex
	at      []time.Time
	bodies  []string
	current int
	most    int
}

func (r *recorder) Send(ctx context.Context, p notify.Payload) (bool, error) {
	r.mu.Lock()
	r.at = append(r.at, time.Now())
	r.bodies = append(r.bodies, string(p.Body))
	r.current++
	r.most = max(r.most, r.current)
	fn := r.fn
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.current--
		r.mu.Unlock()
	}()
	if fn == nil {
		return false, nil
	}
	return fn(ctx)
}

func (r *recorder) snapshot() (at []time.Time, bodies []string, most int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.at), slices.Clone(r.bodies), r.most
}

func (r *recorder) setAnswer(fn func(ctx context.Context) (bool, error)) {
	r.mu.Lock()
	r.fn = fn
	r.mu.Unlock()
}

// policies loads a config from YAML, through its defaults and validation,
// and returns the worker's lookup of its destinations' policies.
func policies(t *testing.T, yaml string) func(string) (Policy, bool) {
	t.Helper()
	c, err := config.Parse([]byte(yaml), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return func(name string) (Policy, bool) { return PolicyOf(c, name) }
}

// finalAll waits, with a generous deadline, until every event's delivery
// is final, and returns their states.
func (h *harness) finalAll(t *testing.T, ids []string, within time.Duration) []store.DeliveryStatus {
	t.Helper()
	deadline := time.Now().Add(within)
	out := make([]store.DeliveryStatus, len(ids))
	for i, id := range ids {
		for {
			st, err := h.store.Deliveries(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			if len(st) == 1 && (st[0].State == "completed" || st[0].State == "cancelled" || st[0].State == "discarded") {
				out[i] = st[0]
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("delivery %d of %d never finished: %+v", i, len(ids), st)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return out
}

// mostIn is the most timestamps in any window [t, t+period).
func mostIn(at []time.Time, period time.Duration) int {
	return maxIn(slices.SortedFunc(slices.Values(at), time.Time.Compare), period)
}

// TestPlatformDefaults asserts the per-type defaults where they take
// effect: on the limiter, in-flight bound and breaker the worker builds
// for a destination configured with nothing but its URL.
func TestPlatformDefaults(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/x",
		"TEAMS_WEBHOOK_URL": "https://example.webhook.office.com/webhookb2/abc",
	}
	c, err := config.Default(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	w := New(nil, Config{Policies: func(name string) (Policy, bool) { return PolicyOf(c, name) }}, zerolog.Nop())
	breaker := BreakerConfig{Failures: 5, OpenFor: 30 * time.Second, MaxOpenFor: 10 * time.Minute}
	for _, tc := range []struct {
		name        string
		limit       Limit
		maxInFlight int
	}{
		{"slack", Limit{PerSecond: 1, Burst: 3}, 1},
		{"teams", Limit{PerSecond: 4, Burst: 1, Window: 60, Period: 30 * time.Second}, 2},
	} {
		p := w.policy(tc.name)
		g := w.gate(p)
		if got := g.limit(); got != tc.limit {
			t.Errorf("%s limiter = %+v, want %+v", tc.name, got, tc.limit)
		}
		if g.maxInFlight != tc.maxInFlight || g.brk.cfg != breaker {
			t.Errorf("%s: max in flight %d, breaker %+v; want %d, %+v", tc.name, g.maxInFlight, g.brk.cfg, tc.maxInFlight, breaker)
		}
		if p.Timeout != DefaultTimeout || p.MaxAge != DefaultMaxAge || p.MaxAttempts != store.DefaultMaxAttempts {
			t.Errorf("%s: timeout %s, max age %s, max attempts %d", tc.name, p.Timeout, p.MaxAge, p.MaxAttempts)
		}
	}
	// Limits belong to the URL: two destinations posting to one webhook
	// share a gate.
	c.Destinations = append(c.Destinations, config.Destination{Name: "slack-too", Type: config.TypeSlack, URL: config.SecretURL(env["SLACK_WEBHOOK_URL"])})
	c.Destinations[len(c.Destinations)-1].RateLimit = c.Destinations[0].RateLimit
	if w.gate(w.policy("slack")) != w.gate(w.policy("slack-too")) {
		t.Error("two destinations with one URL have separate limiters")
	}
}

// TestFirstAttemptsInOrderWithinTheLimit is the test: 100 events in
// about 1 s to one Slack-type webhook limited to 10/s (Slack's 1/s scaled
// up ten times, burst 3 as by default): all delivered, first attempts in
// the order the events were accepted, and the "platform" never sees more
// than the limit allows.
func TestFirstAttemptsInOrderWithinTheLimit(t *testing.T) {
	t.Parallel()
	t.Run("river", func(t *testing.T) { t.Parallel(); firstAttemptsInOrder(t, false) })
	// First attempts from memory (memory.go): most of the queue snoozes
	// back to River, which must keep the order and the limit all the same.
	t.Run("memory", func(t *testing.T) { t.Parallel(); firstAttemptsInOrder(t, true) })
}

func firstAttemptsInOrder(t *testing.T, memory bool) {
	const n, rate, burst = 100, 10, 3
	pol := policies(t, `
destinations:
  - name: builds
    type: slack
    url: https://hooks.slack.com/services/T0/B0/x
    rate_limit: {per_second: 10}
`)
	rec := &recorder{}
	h := newHarnessWith(t, storetest.SQLite(), map[string]Sender{"builds": rec}, Config{Policies: pol, SnoozeLead: 300 * time.Millisecond}, store.Config{}, memory)

	// Four posters, each accepting every fourth event on a 10 ms beat, so
	// the 100 arrive within about a second even when one commit is slow.
	// Arrival order is commit order, which is job id order.
	ids := make([]string, n)
	jobOf := map[string]int64{}
	committed := map[string]time.Time{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for g := range 4 {
		wg.Go(func() {
			for i := g; i < n; i += 4 {
				time.Sleep(time.Until(start.Add(time.Duration(i) * 10 * time.Millisecond)))
				body := fmt.Sprintf(`{"n":%d}`, i)
				acc, err := h.store.Accept(t.Context(), store.EventRecord{Source: "teamcity", Type: "BUILD_FINISHED", Kind: "build", Status: "failed"},
					[]store.Delivery{{Destination: "builds", Payload: notify.Payload{Body: []byte(body)}}})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ids[i], jobOf[body], committed[body] = acc.EventID, acc.Deliveries[0].ID, time.Now()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("accepted %d events in %s", n, time.Since(start).Round(time.Millisecond))
	states := h.finalAll(t, ids, 60*time.Second)

	at, bodies, most := rec.snapshot()
	snoozes := 0
	for i, st := range states {
		if st.State != "completed" || st.Attempt != 1 {
			t.Errorf("delivery %d: %s after attempt %d, want completed on the first", i, st.State, st.Attempt)
		}
		snoozes += st.Snoozes
	}
	if len(bodies) != n {
		t.Fatalf("%d attempts for %d events", len(bodies), n)
	}
	for i := 1; i < n; i++ {
		if jobOf[bodies[i]] <= jobOf[bodies[i-1]] {
			t.Errorf("attempt %d was %s (job %d), after %s (job %d): not in arrival order", i, bodies[i], jobOf[bodies[i]], bodies[i-1], jobOf[bodies[i-1]])
		}
	}
	if most > 1 {
		t.Errorf("%d attempts at once, want 1 (slack's max_in_flight)", most)
	}

	// Windows are measured on the recorder's own timestamps, a little
	// shorter than a second so that scheduling noise between the limiter
	// and the recorder can't make a compliant run look otherwise.
	const T = 900 * time.Millisecond
	if got := mostIn(at, T); got > burst+rate*9/10 {
		t.Errorf("%d attempts in some %s, want at most burst + rate·T = %d", got, T, burst+rate*9/10)
	}
	// After the burst: from any attempt made while the next one was
	// already queued (committed a second before, time for River to fetch
	// it), the bucket is paced and allows 1 + rate·T, never a new burst.
	// (Only an idle destination bursts again.)
	tail, windows := 0, 0
	for i := burst; i < n-1; i++ {
		if !committed[bodies[i+1]].Add(time.Second).Before(at[i]) {
			continue
		}
		windows++
		k := 0
		for j := i; j < n && at[j].Before(at[i].Add(T)); j++ {
			k++
		}
		tail = max(tail, k)
	}
	if tail > 1+rate*9/10 {
		t.Errorf("after the burst: %d attempts in some %s, want at most %d", tail, T, 1+rate*9/10)
	}
	took := at[n-1].Sub(at[0])
	if min := time.Duration(n-burst) * time.Second / rate; took < min-100*time.Millisecond {
		t.Errorf("%d attempts took %s, want at least %s at %d/s after a burst of %d", n, took, min, rate, burst)
	}
	t.Logf("sent %d in %s; most in any %s: %d overall, %d in the %d windows after the burst with a queue; %d snoozes",
		n, took.Round(time.Millisecond), T, mostIn(at, T), tail, windows, snoozes)
	if windows < n/2 {
		t.Errorf("only %d windows with a queue: the test did not build a backlog", windows)
	}
}

// TestTeamsWindowsHold: a Teams-type destination with both limits scaled
// (10/s and 10 per 2 s; the real ones are 4/s and 60 per 30 s) never
// exceeds either in any window, and the window really binds.
func TestTeamsWindowsHold(t *testing.T) {
	t.Parallel()
	const n = 30
	pol := policies(t, `
destinations:
  - name: mobile
    type: teams
    url: https://example.webhook.office.com/webhookb2/abc
    rate_limit: {per_second: 10, window: {limit: 10, period: 2s}}
`)
	rec := &recorder{}
	h := newHarness(t, storetest.SQLite(), map[string]Sender{"mobile": rec}, Config{Policies: pol, SnoozeLead: 300 * time.Millisecond}, store.Config{})
	ids := make([]string, n)
	for i := range n {
		ids[i] = h.acceptBody(t, "mobile", fmt.Sprintf(`{"n":%d}`, i))
	}
	h.finalAll(t, ids, 60*time.Second)

	at, bodies, most := rec.snapshot()
	if len(at) != n {
		t.Fatalf("%d attempts, want %d", len(at), n)
	}
	const slack = 100 * time.Millisecond
	perSecond, perWindow := mostIn(at, time.Second-slack), mostIn(at, 2*time.Second-slack)
	if perSecond > 10 || perWindow > 10 {
		t.Errorf("most in any 1s: %d (limit 10), in any 2s: %d (limit 10)", perSecond, perWindow)
	}
	sorted := slices.SortedFunc(slices.Values(at), time.Time.Compare)
	if gap := sorted[10].Sub(sorted[0]); gap < 2*time.Second-slack {
		t.Errorf("11th attempt %s after the 1st, want the window to hold it to 2s", gap)
	}
	if most > 2 {
		t.Errorf("%d attempts at once, want at most 2 (teams' max_in_flight)", most)
	}
	t.Logf("most in any 1s: %d, in any 2s: %d; %d in %s; order %v", perSecond, perWindow, n, sorted[n-1].Sub(sorted[0]).Round(time.Millisecond), bodies)
}

// TestBrokenDestinationDoesNotDelayOthers: destination A hangs (or answers
// 503) while B keeps working; B's deliveries are as quick as ever, A holds
// only its share of the workers, and once A recovers every message of A is
// delivered.
func TestBrokenDestinationDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	hang := func(ctx context.Context) (bool, error) {
		<-ctx.Done()
		return true, &notify.Error{Reason: "timeout", Retry: true}
	}
	unavailable := func(context.Context) (bool, error) {
		return true, &notify.Error{Status: 503, Reason: "http 503", Retry: true}
	}
	for _, tc := range []struct {
		name   string
		broken func(context.Context) (bool, error)
	}{
		{"hanging", hang},
		{"503", unavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pol := policies(t, `
destinations:
  - name: a
    type: webhook
    url: https://a.example.com/hook
    timeout: 3s
    circuit_breaker: {failures: 5, open_for: 200ms, max_open_for: 1s}
  - name: b
    type: webhook
    url: https://b.example.com/hook
`)
			a, b := &recorder{fn: tc.broken}, &recorder{}
			// Eight workers: A may hold 2 sending and 4 waiting; without
			// isolation its 10 jobs would hold them all.
			h := newHarness(t, storetest.SQLite(), map[string]Sender{"a": a, "b": b},
				Config{Policies: pol, BackoffBase: 10 * time.Millisecond, SnoozeLead: 300 * time.Millisecond},
				store.Config{MaxWorkers: 8})

			const na, nb = 10, 10
			aIDs := make([]string, na)
			for i := range na {
				aIDs[i] = h.acceptBody(t, "a", fmt.Sprintf(`{"a":%d}`, i))
			}
			// B's latency: from the commit to the attempt reaching B.
			accepted := make([]time.Time, nb)
			for i := range nb {
				id := h.acceptBody(t, "b", fmt.Sprintf(`{"b":%d}`, i))
				accepted[i] = time.Now()
				if st := h.final(t, id); st.State != "completed" {
					t.Fatalf("b %d: %+v", i, st)
				}
			}
			bAt, _, _ := b.snapshot()
			var latencies []time.Duration
			for i := range nb {
				latencies = append(latencies, bAt[i].Sub(accepted[i]))
			}
			slices.Sort(latencies)
			// B's usual latency is a fetch poll (50 ms) and the settle
			// (25 ms); one wait behind A's hanging attempts would be 3 s.
			if worst := latencies[nb-1]; worst > 1500*time.Millisecond {
				t.Errorf("b's slowest delivery took %s while a is broken; median %s", worst, latencies[nb/2])
			}
			_, _, most := a.snapshot()
			if most > 2 {
				t.Errorf("a had %d attempts in flight, want at most 2 (max_in_flight)", most)
			}
			aBefore, _, _ := a.snapshot()

			a.setAnswer(nil) // A recovers
			for i, st := range h.finalAll(t, aIDs, 60*time.Second) {
				if st.State != "completed" {
					t.Errorf("a %d: %s after %d attempts (%s)", i, st.State, st.Attempt, st.LastError)
				}
			}
			_, bodies, _ := a.snapshot()
			for i := range na {
				if !slices.Contains(bodies, fmt.Sprintf(`{"a":%d}`, i)) {
					t.Errorf("a's message %d never reached it", i)
				}
			}
			t.Logf("b latency median %s, max %s; a: %d failed attempts while broken (most %d at once), %d in all",
				latencies[nb/2].Round(time.Millisecond), latencies[nb-1].Round(time.Millisecond), len(aBefore), most, len(bodies))
		})
	}
}

// TestBreakerOpensProbesCloses: after 3 consecutive 503s nothing is sent
// for open_for; the probe fails and the pause doubles; the next probe
// succeeds and closes the breaker. Pauses snooze the job: no attempt is
// counted for them.
func TestBreakerOpensProbesCloses(t *testing.T) {
	t.Parallel()
	const openFor = 300 * time.Millisecond
	pol := policies(t, `
destinations:
  - name: a
    type: webhook
    url: https://a.example.com/hook
    circuit_breaker: {failures: 3, open_for: 300ms}
`)
	var calls atomic.Int32
	rec := &recorder{fn: func(context.Context) (bool, error) {
		if calls.Add(1) <= 4 {
			return true, &notify.Error{Status: 503, Reason: "http 503", Retry: true}
		}
		return false, nil
	}}
	// MaxWait below open_for: the pauses snooze the job rather than wait
	// in its worker.
	h := newHarness(t, storetest.SQLite(), map[string]Sender{"a": rec},
		Config{Policies: pol, BackoffBase: 10 * time.Millisecond, MaxWait: 100 * time.Millisecond}, store.Config{})
	st := h.final(t, h.accept(t, "a"))
	at, _, _ := rec.snapshot()
	if st.State != "completed" || len(at) != 5 || st.Attempt != 5 {
		t.Fatalf("got %+v after %d sends; want completed on attempt 5 (3 failures, failed probe, good probe)", st, len(at))
	}
	if gap := at[3].Sub(at[2]); gap < openFor {
		t.Errorf("first probe %s after the breaker opened, want at least %s", gap, openFor)
	}
	if gap := at[4].Sub(at[3]); gap < 2*openFor {
		t.Errorf("second probe %s after the failed one, want at least %s (doubled)", gap, 2*openFor)
	}
	if s := h.worker.BreakerState("a"); s != BreakerClosed {
		t.Errorf("breaker %s after a good probe, want closed", s)
	}
	if st.Snoozes == 0 {
		t.Error("the pauses did not snooze the job")
	}
}

// TestDestinationRetryPolicy: retry_count (TeamCity's wording) and max_age
// apply per destination, below the job's own limit.
func TestDestinationRetryPolicy(t *testing.T) {
	t.Parallel()
	pol := policies(t, `
destinations:
  - name: twice
    type: webhook
    url: https://a.example.com/hook
    retry_count: 1
  - name: stale
    type: webhook
    url: https://b.example.com/hook
    max_age: 1ns
`)
	fail := func(context.Context) (bool, error) {
		return true, &notify.Error{Status: 503, Reason: "http 503", Retry: true}
	}
	twice, stale := &recorder{fn: fail}, &recorder{fn: fail}
	h := newHarness(t, storetest.SQLite(), map[string]Sender{"twice": twice, "stale": stale},
		Config{Policies: pol, BackoffBase: 10 * time.Millisecond}, store.Config{})

	st := h.final(t, h.accept(t, "twice"))
	if at, _, _ := twice.snapshot(); st.State != "cancelled" || len(at) != 2 || !strings.Contains(st.LastError, "attempts exhausted (max_attempts 2)") {
		t.Errorf("retry_count 1: %+v after %d sends; want cancelled after 2 attempts", st, len(at))
	}
	st = h.final(t, h.accept(t, "stale"))
	if at, _, _ := stale.snapshot(); st.State != "cancelled" || len(at) != 0 || !strings.Contains(st.LastError, "max age") {
		t.Errorf("max_age: %+v after %d sends; want cancelled unsent", st, len(at))
	}
}

// TestJobAttemptLimit: a delivery's own limit (a project's retry_count)
// replaces its destination's, up as well as down.
func TestJobAttemptLimit(t *testing.T) {
	t.Parallel()
	pol := policies(t, `
destinations:
  - {name: once, type: webhook, url: "https://a.example.com/hook", max_attempts: 1}
  - {name: many, type: webhook, url: "https://b.example.com/hook", max_attempts: 9}
`)
	fail := func(context.Context) (bool, error) {
		return true, &notify.Error{Status: 503, Reason: "http 503", Retry: true}
	}
	once, many := &recorder{fn: fail}, &recorder{fn: fail}
	h := newHarness(t, storetest.SQLite(), map[string]Sender{"once": once, "many": many},
		Config{Policies: pol, BackoffBase: 10 * time.Millisecond, MaxWait: 50 * time.Millisecond}, store.Config{})
	for _, tc := range []struct {
		dest  string
		rec   *recorder
		limit int
	}{{"once", once, 3}, {"many", many, 2}} {
		acc, err := h.store.Accept(t.Context(),
			store.EventRecord{Source: "teamcity", Type: "BUILD_FINISHED", Kind: "build", Status: "failed"},
			[]store.Delivery{{Destination: tc.dest, Payload: notify.Payload{Body: []byte(`{}`)}, MaxAttempts: tc.limit}})
		if err != nil {
			t.Fatal(err)
		}
		st := h.final(t, acc.EventID)
		if at, _, _ := tc.rec.snapshot(); len(at) != tc.limit || st.State == "completed" {
			t.Errorf("%s with a job limit of %d: %+v after %d sends; want given up after %d", tc.dest, tc.limit, st, len(at), tc.limit)
		}
	}
}
