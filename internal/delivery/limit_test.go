package delivery

import (
	"math/rand/v2"
	"testing"
	"time"
)

// greedy drives a limiter with a fake clock: n sends, each as soon as the
// limiter allows plus a random pause of up to jitter (0: none), and returns
// their times.
func greedy(l *limiter, n int, jitter time.Duration, r *rand.Rand) []time.Time {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var sends []time.Time
	for len(sends) < n {
		if d := l.delay(now); d > 0 {
			now = now.Add(d)
			continue
		}
		l.take(now)
		sends = append(sends, now)
		if jitter > 0 {
			now = now.Add(time.Duration(r.Int64N(int64(jitter))))
		}
	}
	return sends
}

// maxIn is the most sends in any half-open window [t, t+period).
func maxIn(sends []time.Time, period time.Duration) int {
	most := 0
	for i := range sends {
		n := 0
		for j := i; j < len(sends) && sends[j].Before(sends[i].Add(period)); j++ {
			n++
		}
		most = max(most, n)
	}
	return most
}

func TestLimiterBurstThenRate(t *testing.T) {
	t.Parallel()
	l := newLimiter(Limit{PerSecond: 1, Burst: 3})
	sends := greedy(l, 20, 0, nil)
	for i := range 3 {
		if !sends[i].Equal(sends[0]) {
			t.Errorf("send %d at +%s, want the burst of 3 at once", i, sends[i].Sub(sends[0]))
		}
	}
	for i := 3; i < len(sends); i++ {
		if gap := sends[i].Sub(sends[i-1]); gap < time.Second-time.Microsecond || gap > time.Second+time.Microsecond {
			t.Errorf("gap before send %d = %s, want 1s", i, gap)
		}
	}
	// In any window of length T: at most burst + rate·T.
	for _, T := range []time.Duration{time.Second, 5 * time.Second, 10 * time.Second} {
		if got, bound := maxIn(sends, T), 3+int(T/time.Second); got > bound {
			t.Errorf("%d sends in some %s window, want at most %d", got, T, bound)
		}
	}
	// An idle bucket refills to its burst, no more.
	now := sends[len(sends)-1].Add(time.Hour)
	for i := range 4 {
		if d := l.delay(now); (d == 0) != (i < 3) {
			t.Errorf("after an idle hour, send %d waits %s", i, d)
		}
		if l.delay(now) == 0 {
			l.take(now)
		}
	}
}

// TestLimiterWindowNeverExceeded: Teams' two limits (4/s and 60 per 30 s)
// hold in every sliding window, however irregularly the sender comes back,
// and the window is actually reached (the limiter is not just slow).
func TestLimiterWindowNeverExceeded(t *testing.T) {
	t.Parallel()
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 1))
		l := newLimiter(Limit{PerSecond: 4, Burst: 1, Window: 60, Period: 30 * time.Second})
		sends := greedy(l, 400, time.Duration(seed)*50*time.Millisecond, r)
		if got := maxIn(sends, 30*time.Second); got > 60 {
			t.Fatalf("seed %d: %d sends in some 30s window, want at most 60", seed, got)
		} else if seed == 0 && got != 60 {
			t.Errorf("greedy sender reached only %d in 30s, want exactly 60", got)
		}
		if got := maxIn(sends, time.Second); got > 4 {
			t.Fatalf("seed %d: %d sends in some 1s window, want at most 4", seed, got)
		}
	}
	// A token bucket alone would not do: 4/s with burst 1 sends 120 in 30 s.
	if got := maxIn(greedy(newLimiter(Limit{PerSecond: 4, Burst: 1}), 400, 0, nil), 30*time.Second); got <= 60 {
		t.Errorf("bucket alone: %d in 30s; the window test proves nothing", got)
	}
}

func TestLimiterReconfigureKeepsHistory(t *testing.T) {
	t.Parallel()
	l := newLimiter(Limit{Window: 5, Period: time.Minute})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for range 5 {
		l.take(now)
	}
	l.reconfigure(Limit{Window: 3, Period: time.Minute})
	if d := l.delay(now.Add(time.Second)); d != 59*time.Second {
		t.Errorf("after lowering the window, delay = %s, want 59s (the sends so far still count)", d)
	}
	if l.Config() != (Limit{Window: 3, Period: time.Minute}) {
		t.Errorf("config = %+v", l.Config())
	}
}

func TestLimitStep(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		l    Limit
		want time.Duration
	}{
		{Limit{}, 0},
		{Limit{PerSecond: 1, Burst: 3}, time.Second},
		{Limit{PerSecond: 4, Burst: 1, Window: 60, Period: 30 * time.Second}, 500 * time.Millisecond},
	} {
		if got := tc.l.step(); got != tc.want {
			t.Errorf("%+v.step() = %s, want %s", tc.l, got, tc.want)
		}
	}
}

func TestBreaker(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := breaker{cfg: BreakerConfig{Failures: 5, OpenFor: 30 * time.Second, MaxOpenFor: 100 * time.Second}}
	attempt := func(o outcome) {
		t.Helper()
		if wait, busy := b.check(now); wait > 0 || busy {
			t.Fatalf("attempt refused at %s: wait %s busy %v", b.State(now), wait, busy)
		}
		b.record(now, o, b.started())
	}

	// Final answers (400, 404) and throttling don't trip it; 4 failures don't.
	for _, o := range []outcome{outcomeFailure, outcomeFailure, outcomeSuccess, outcomeNeutral, outcomeFailure, outcomeFailure, outcomeFailure, outcomeFailure} {
		attempt(o)
	}
	if s := b.State(now); s != BreakerClosed {
		t.Fatalf("state %s after 4 consecutive failures, want closed", s)
	}
	attempt(outcomeFailure) // the 5th in a row
	if s := b.State(now); s != BreakerOpen {
		t.Fatalf("state %s after 5 consecutive failures, want open", s)
	}
	if wait, _ := b.check(now.Add(10 * time.Second)); wait != 20*time.Second {
		t.Errorf("open: wait %s, want the 20s left of 30s", wait)
	}

	// Pause over: one probe, the others wait for it.
	now = now.Add(30 * time.Second)
	if s := b.State(now); s != BreakerHalfOpen {
		t.Errorf("state %s after the pause, want half_open", s)
	}
	if wait, busy := b.check(now); wait != 0 || busy {
		t.Fatalf("probe refused: %s %v", wait, busy)
	}
	if !b.started() {
		t.Fatal("first attempt after the pause is not the probe")
	}
	if _, busy := b.check(now); !busy {
		t.Error("a second attempt may start while the probe is out")
	}
	// The probe fails: open again for twice as long, then up to the cap.
	for _, want := range []time.Duration{60 * time.Second, 100 * time.Second, 100 * time.Second} {
		b.record(now, outcomeFailure, true)
		if wait, _ := b.check(now); wait != want {
			t.Errorf("after a failed probe: open for %s, want %s", wait, want)
		}
		now = now.Add(want)
		b.check(now)
		if !b.started() {
			t.Fatal("no probe after the pause")
		}
	}
	// The probe succeeds: closed, the count starts over.
	b.record(now, outcomeSuccess, true)
	if s := b.State(now); s != BreakerClosed {
		t.Errorf("state %s after a good probe, want closed", s)
	}
	for range 4 {
		attempt(outcomeFailure)
	}
	if s := b.State(now); s != BreakerClosed {
		t.Errorf("state %s: the failure count did not start over", s)
	}
}
