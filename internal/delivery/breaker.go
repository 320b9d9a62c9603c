package delivery

import "time"

// BreakerState is the state of a destination's circuit breaker.
type BreakerState int

// Breaker states.
const (
	// BreakerClosed: attempts go through.
	BreakerClosed BreakerState = iota
	// BreakerOpen: the destination failed too often in a row; no attempt
	// is made until the pause ends. Jobs wait (snoozed, no attempt counted).
	BreakerOpen
	// BreakerHalfOpen: the pause is over; one probe goes, the rest wait
	// for its outcome.
	BreakerHalfOpen
)

func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half_open"
	}
	return "unknown"
}

// BreakerConfig tunes a circuit breaker. Zero Failures disables it.
type BreakerConfig struct {
	Failures   int           // consecutive retryable failures that open it
	OpenFor    time.Duration // first pause
	MaxOpenFor time.Duration // a failed probe doubles the pause up to this
}

// outcome is what an attempt tells the breaker.
type outcome int

const (
	// outcomeSuccess: delivered, or a final answer (400, 404...): the
	// destination is up and answering, so it closes the breaker.
	outcomeSuccess outcome = iota
	// outcomeFailure: a retryable failure (timeout, network error, 5xx).
	outcomeFailure
	// outcomeNeutral: says nothing about health (429 throttling, which
	// pauses the gate by itself; shutdown cutting the attempt short).
	outcomeNeutral
)

// breaker is a consecutive-failure circuit breaker. Not safe for
// concurrent use: a gate owns it under its lock.
type breaker struct {
	cfg      BreakerConfig
	state    BreakerState
	failures int           // consecutive retryable failures
	pause    time.Duration // the current (last) pause
	until    time.Time     // open until
	probing  bool          // half open and the probe is in flight
}

// check says whether an attempt may start at now: wait > 0 means not
// before then; busy means a probe is out and its outcome decides.
func (b *breaker) check(now time.Time) (wait time.Duration, busy bool) {
	if b.state == BreakerOpen {
		if now.Before(b.until) {
			return b.until.Sub(now), false
		}
		b.state = BreakerHalfOpen
	}
	if b.state == BreakerHalfOpen && b.probing {
		return 0, true
	}
	return 0, false
}

// started is called when an attempt starts, right after check allowed it.
// It reports whether the attempt is the half-open probe.
func (b *breaker) started() (probe bool) {
	if b.state == BreakerHalfOpen {
		b.probing = true
		return true
	}
	return false
}

// record takes an attempt's outcome. Failures of attempts that started
// before the breaker opened don't extend the pause.
func (b *breaker) record(now time.Time, o outcome, probe bool) {
	if probe {
		b.probing = false
	}
	switch o {
	case outcomeSuccess:
		b.state, b.failures, b.pause = BreakerClosed, 0, 0
	case outcomeFailure:
		b.failures++
		switch {
		case b.cfg.Failures <= 0:
		case probe:
			b.open(now, min(2*b.pause, max(b.cfg.MaxOpenFor, b.cfg.OpenFor)))
		case b.state == BreakerClosed && b.failures >= b.cfg.Failures:
			b.open(now, b.cfg.OpenFor)
		}
	}
}

func (b *breaker) open(now time.Time, pause time.Duration) {
	if pause <= 0 {
		pause = b.cfg.OpenFor
	}
	b.state, b.pause, b.until = BreakerOpen, pause, now.Add(pause)
}

// State is the breaker's state at now.
func (b *breaker) State(now time.Time) BreakerState {
	if b.state == BreakerOpen && !now.Before(b.until) {
		return BreakerHalfOpen
	}
	return b.state
}
