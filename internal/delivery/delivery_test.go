package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/internal/store"
	"github.com/herald-ci/herald/internal/store/storetest"
)

// answer is one scripted reply of a fakeSender.
type answer struct {
	retry bool
	err   error
	block bool // wait for the attempt's context to end, like a hung platform
}

var ok = answer{}

// fakeSender replies with its script in order, repeating the last answer,
// and records when each attempt started.
type fakeSender struct {
	mu     sync.Mutex
	script []answer
	calls  []time.Time
	bodies [][]byte
}

func (f *fakeSender) Send(ctx context.Context, p notify.Payload) (bool, error) {
	f.mu.Lock()
	f.calls = append(f.calls, time.Now())
	f.bodies = append(f.bodies, p.Body)
	a := f.script[min(len(f.calls), len(f.script))-1]
	f.mu.Unlock()
	if a.block {
		<-ctx.Done()
		return true, &notify.Error{Reason: "timeout", Retry: true}
	}
	return a.retry, a.err
}

func (f *fakeSender) attempts() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.calls...)
}

// syncBuffer collects log lines written from River's goroutines.
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

type harness struct {
	store  *store.Store
	worker *Worker
	logs   *syncBuffer
}

// newHarness opens a store on a fresh database of driver d with a delivery
// Worker over the given senders and starts it.
func newHarness(t *testing.T, d storetest.Driver, senders map[string]Sender, cfg Config, scfg store.Config) *harness {
	t.Helper()
	return newHarnessWith(t, d, senders, cfg, scfg, false)
}

// newHarnessWith is newHarness, with first attempts from memory
// (memory.go) when memory is set.
func newHarnessWith(t *testing.T, d storetest.Driver, senders map[string]Sender, cfg Config, scfg store.Config, memory bool) *harness {
	t.Helper()
	logs := &syncBuffer{}
	log := zerolog.New(zerolog.MultiLevelWriter(logs, zerolog.NewTestWriter(t))).Level(zerolog.DebugLevel)

	workers := river.NewWorkers()
	w := New(SendersFunc(func(name string) (Sender, bool) {
		s, ok := senders[name]
		return s, ok
	}), cfg, log)
	if err := Register(workers, w); err != nil {
		t.Fatal(err)
	}
	scfg.Driver = d.Name
	scfg.DSN = d.DSN(t)
	scfg.PollInterval = 50 * time.Millisecond
	scfg.FetchCooldown = 10 * time.Millisecond
	s, err := store.Open(t.Context(), scfg, workers, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if memory {
		w.StartMemory(s)
		s.DispatchTo(w)
		t.Cleanup(func() { w.StopMemory(context.Background()) }) // runs before Close
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	return &harness{store: s, worker: w, logs: logs}
}

func (h *harness) accept(t *testing.T, destination string) string {
	t.Helper()
	return h.acceptBody(t, destination, `{"text":"SECRET-BODY"}`)
}

func (h *harness) acceptBody(t *testing.T, destination, body string) string {
	t.Helper()
	acc, err := h.store.Accept(t.Context(),
		store.EventRecord{Source: "teamcity", Type: "BUILD_FINISHED", Kind: "build", Status: "failed"},
		[]store.Delivery{{Destination: destination, Payload: notify.Payload{Body: []byte(body)}}})
	if err != nil {
		t.Fatal(err)
	}
	return acc.EventID
}

// final waits, with a generous deadline, until the event's one delivery is
// in a final state, and returns it.
func (h *harness) final(t *testing.T, eventID string) store.DeliveryStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := h.store.Deliveries(t.Context(), eventID)
		if err != nil {
			t.Fatal(err)
		}
		if len(st) != 1 {
			t.Fatalf("deliveries = %+v", st)
		}
		switch st[0].State {
		case "completed", "cancelled", "discarded":
			return st[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery never finished: %+v", st[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWorkOutcomes(t *testing.T) {
	t.Parallel()
	http503 := &notify.Error{Status: 503, Reason: "http 503", Retry: true}
	cases := []struct {
		name        string
		destination string // "slack" is configured, anything else is not
		script      []answer
		cfg         Config
		maxAttempts int

		wantState   string
		wantCalls   int
		wantAttempt int
		wantError   string
	}{
		{
			name: "delivered", destination: "slack", script: []answer{ok},
			wantState: "completed", wantCalls: 1, wantAttempt: 1,
		},
		{
			name: "final error is never retried", destination: "slack",
			script:    []answer{{err: &notify.Error{Status: 400, Reason: "http 400 invalid_blocks"}}},
			wantState: "cancelled", wantCalls: 1, wantAttempt: 1, wantError: "http 400 invalid_blocks",
		},
		{
			name: "retried until delivered", destination: "slack",
			script: []answer{
				{retry: true, err: http503},
				{retry: true, err: &notify.Error{Reason: "connection refused", Retry: true}},
				ok,
			},
			cfg:       Config{BackoffBase: 10 * time.Millisecond},
			wantState: "completed", wantCalls: 3, wantAttempt: 3,
		},
		{
			name: "attempt timeout is retried", destination: "slack",
			script:    []answer{{block: true}, ok},
			cfg:       Config{Timeout: 100 * time.Millisecond, BackoffBase: 10 * time.Millisecond},
			wantState: "completed", wantCalls: 2, wantAttempt: 2,
		},
		{
			name: "retries exhausted", destination: "slack",
			script:      []answer{{retry: true, err: http503}},
			cfg:         Config{BackoffBase: 10 * time.Millisecond},
			maxAttempts: 3,
			wantState:   "discarded", wantCalls: 3, wantAttempt: 3, wantError: "http 503",
		},
		{
			name: "unknown destination", destination: "removed-from-config",
			wantState: "cancelled", wantCalls: 0, wantAttempt: 1, wantError: `unknown destination "removed-from-config"`,
		},
		{
			name: "retry-after beyond max age gives up", destination: "slack",
			script:    []answer{{retry: true, err: &notify.Error{Status: 429, Reason: "http 429", Retry: true, RetryAfter: time.Hour}}},
			cfg:       Config{MaxAge: time.Minute},
			wantState: "cancelled", wantCalls: 1, wantAttempt: 1, wantError: "still throttled",
		},
	}
	for _, tc := range cases {
		for _, memory := range []bool{false, true} {
			name := tc.name
			if memory {
				// The first attempt made from memory ends the same way.
				name += " (first attempt from memory)"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				storetest.Run(t, func(t *testing.T, d storetest.Driver) {
					sender := &fakeSender{script: tc.script}
					h := newHarnessWith(t, d, map[string]Sender{"slack": sender}, tc.cfg, store.Config{MaxAttempts: tc.maxAttempts}, memory)
					st := h.final(t, h.accept(t, tc.destination))
					if memory && h.worker.mem.attempted.Load() != 1 {
						t.Errorf("%d first attempts made from memory, want 1", h.worker.mem.attempted.Load())
					}

					if st.State != tc.wantState || st.Attempt != tc.wantAttempt {
						t.Errorf("state %s after attempt %d, want %s after %d (%+v)", st.State, st.Attempt, tc.wantState, tc.wantAttempt, st)
					}
					if got := len(sender.attempts()); got != tc.wantCalls {
						t.Errorf("Send called %d times, want %d", got, tc.wantCalls)
					}
					if !strings.Contains(st.LastError, tc.wantError) {
						t.Errorf("last error %q, want it to contain %q", st.LastError, tc.wantError)
					}
				})
			})
		}
	}
}

func TestRetryAfterSnoozes(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		const wait = time.Second
		sender := &fakeSender{script: []answer{
			{retry: true, err: &notify.Error{Status: 429, Reason: "http 429", Retry: true, RetryAfter: wait}},
			ok,
		}}
		h := newHarness(t, d, map[string]Sender{"slack": sender}, Config{}, store.Config{})
		st := h.final(t, h.accept(t, "slack"))

		if st.State != "completed" || st.Attempt != 1 || st.Snoozes != 1 {
			t.Errorf("got %+v, want completed on attempt 1 after 1 snooze (a snooze is not an attempt)", st)
		}
		calls := sender.attempts()
		if len(calls) != 2 {
			t.Fatalf("Send called %d times, want 2", len(calls))
		}
		// River keeps times to the millisecond, so allow that much rounding.
		if early := calls[0].Add(wait).Sub(calls[1]); early > time.Millisecond {
			t.Errorf("second attempt came %s before Retry-After had passed", early)
		}
	})
}

func TestLogsNameTheDeliveryNotItsContent(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		sender := &fakeSender{script: []answer{
			{retry: true, err: &notify.Error{Status: 503, Reason: "http 503", Retry: true}},
			ok,
		}}
		h := newHarness(t, d, map[string]Sender{"slack": sender}, Config{BackoffBase: 10 * time.Millisecond}, store.Config{})
		id := h.accept(t, "slack")
		h.final(t, id)

		logs := h.logs.String()
		if strings.Contains(logs, "SECRET-BODY") {
			t.Errorf("payload body in logs:\n%s", logs)
		}
		var outcomes []string
		for line := range strings.Lines(logs) {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("log line is not JSON: %q", line)
			}
			if m["component"] != "delivery" {
				continue
			}
			outcomes = append(outcomes, m["message"].(string))
			for _, f := range []string{"event_id", "destination", "attempt", "job_id"} {
				if _, ok := m[f]; !ok {
					t.Errorf("log line without %s: %s", f, line)
				}
			}
			if m["event_id"] != id || m["destination"] != "slack" {
				t.Errorf("log line names the wrong delivery: %s", line)
			}
		}
		if want := []string{"delivery failed, will retry", "delivered"}; strings.Join(outcomes, "|") != strings.Join(want, "|") {
			t.Errorf("outcomes logged = %q, want %q (one line each)", outcomes, want)
		}
	})
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	base, limit := time.Second, 10*time.Minute
	cases := []struct {
		attempt int
		bound   time.Duration // the wait for u → 1
	}{
		{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second},
		{10, 512 * time.Second}, {11, limit}, {40, limit}, {63, limit}, {64, limit}, {1 << 30, limit},
	}
	for _, tc := range cases {
		if got := backoff(tc.attempt, base, limit, 0); got != 0 {
			t.Errorf("backoff(%d, u=0) = %s, want 0 (full jitter)", tc.attempt, got)
		}
		if got := backoff(tc.attempt, base, limit, 0.5); got != tc.bound/2 {
			t.Errorf("backoff(%d, u=0.5) = %s, want %s", tc.attempt, got, tc.bound/2)
		}
	}
	w := New(nil, Config{}, zerolog.Nop())
	for n := range 400 {
		job := &river.Job[store.DeliveryArgs]{JobRow: &rivertype.JobRow{Attempt: n}}
		before := time.Now()
		at := w.NextRetry(job)
		if at.Before(before) || at.After(time.Now().Add(limit)) {
			t.Fatalf("NextRetry after attempt %d = %s from now, want within [0, %s]", n, at.Sub(before), limit)
		}
	}
}

// TestMaxAttemptsLastAboutADay keeps store.DefaultMaxAttempts in step with
// this package's backoff: the expected total wait of its retries is about a
// day (see the package doc).
func TestMaxAttemptsLastAboutADay(t *testing.T) {
	t.Parallel()
	var total time.Duration
	for n := 1; n < store.DefaultMaxAttempts; n++ { // a wait follows every attempt but the last
		total += backoff(n, DefaultBackoffBase, DefaultBackoffCap, 0.5)
	}
	if total < 23*time.Hour || total > 25*time.Hour {
		t.Errorf("%d attempts wait %s in expectation, want about 24h", store.DefaultMaxAttempts, total)
	}
	t.Logf("%d attempts: expected total wait %s", store.DefaultMaxAttempts, total)
}

func TestRegisterTwice(t *testing.T) {
	t.Parallel()
	workers := river.NewWorkers()
	w := New(nil, Config{}, zerolog.Nop())
	if err := Register(workers, w); err != nil {
		t.Fatal(err)
	}
	if err := Register(workers, w); err == nil {
		t.Error("second Register succeeded")
	}
}

func TestShutdownPutsDeliveryBack(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		sender := &fakeSender{script: []answer{{block: true}}}
		h := newHarness(t, d, map[string]Sender{"slack": sender}, Config{Timeout: time.Minute}, store.Config{})
		id := h.accept(t, "slack")
		waitForAttempt(t, sender)
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		_ = h.store.Stop(ctx) // out of time: the hung send is cancelled

		checkPutBack(t, h, id)
	})
}

// TestShutdownPutsFirstAttemptBack: a first attempt from memory still
// running when the shutdown's time is up is cut short and its job made
// available again, the attempt not counted, as River does with its own.
func TestShutdownPutsFirstAttemptBack(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		sender := &fakeSender{script: []answer{{block: true}}}
		h := newHarnessWith(t, d, map[string]Sender{"slack": sender}, Config{Timeout: time.Minute}, store.Config{}, true)
		id := h.accept(t, "slack")
		waitForAttempt(t, sender)
		if err := h.store.Stop(t.Context()); err != nil { // River's workers: idle
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		h.worker.StopMemory(ctx) // out of time: the hung send is cancelled

		checkPutBack(t, h, id)
		if n := h.worker.mem.attempted.Load(); n != 1 {
			t.Errorf("%d first attempts from memory, want 1", n)
		}
	})
}

// waitForAttempt waits until sender has been called.
func waitForAttempt(t *testing.T, sender *fakeSender) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(sender.attempts()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("delivery never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkPutBack checks the event's delivery is available again with its
// attempt not counted, as after a shutdown cut it short.
func checkPutBack(t *testing.T, h *harness, eventID string) {
	t.Helper()
	st, err := h.store.Deliveries(t.Context(), eventID)
	if err != nil {
		t.Fatal(err)
	}
	if st[0].State != "available" || st[0].Attempt != 0 {
		t.Errorf("after shutdown: %+v; want available with the attempt not counted", st[0])
	}
}
