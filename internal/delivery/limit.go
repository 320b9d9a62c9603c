package delivery

import (
	"math"
	"time"
)

// Limit is the client-side rate limit of one webhook URL: a token bucket
// (PerSecond, Burst) and a sliding window (at most Window sends in any
// Period). Zero PerSecond or Window leaves that part out; the zero Limit
// allows everything.
//
// Two mechanisms because one is not enough for Teams' "4 per second and 60
// per 30 seconds": a bucket at 2/s with burst 1 stays under 60 in any 30 s,
// but a bucket at 4/s can't also be held to 60 in every sliding 30 s, while
// a log of the last Window send times can, exactly.
type Limit struct {
	PerSecond float64
	Burst     int
	Window    int
	Period    time.Duration
}

// step is the long-run time between sends: what a queue of n waiting sends
// takes, n·step, once any burst is spent.
func (l Limit) step() time.Duration {
	var d time.Duration
	if l.PerSecond > 0 {
		d = time.Duration(float64(time.Second) / l.PerSecond)
	}
	if l.Window > 0 && l.Period > 0 {
		d = max(d, l.Period/time.Duration(l.Window))
	}
	return d
}

// limiter enforces a Limit on the send starts it is told about. Not safe
// for concurrent use: a gate owns it under its lock. Times are passed in so
// tests can drive it with a fake clock.
type limiter struct {
	cfg    Limit
	tokens float64   // in the bucket at last
	last   time.Time // zero before the first use: the bucket starts full
	sends  []time.Time
}

func newLimiter(l Limit) *limiter {
	if l.PerSecond > 0 && l.Burst < 1 {
		l.Burst = 1
	}
	return &limiter{cfg: l, tokens: float64(l.Burst)}
}

// Config is the limit in force.
func (l *limiter) Config() Limit { return l.cfg }

// reconfigure applies a new limit (a config reload), keeping what was sent.
func (l *limiter) reconfigure(c Limit) {
	if c == l.cfg {
		return
	}
	n := newLimiter(c)
	n.tokens = min(l.tokens, float64(n.cfg.Burst))
	n.last = l.last
	n.sends = l.sends
	if k := len(n.sends) - n.cfg.Window; k > 0 {
		n.sends = append([]time.Time(nil), n.sends[k:]...)
	}
	*l = *n
}

func (l *limiter) tokensAt(now time.Time) float64 {
	if l.last.IsZero() || !now.After(l.last) {
		return l.tokens
	}
	return min(float64(l.cfg.Burst), l.tokens+now.Sub(l.last).Seconds()*l.cfg.PerSecond)
}

// delay is how long after now one more send is allowed (0: now).
func (l *limiter) delay(now time.Time) time.Duration {
	var d time.Duration
	if l.cfg.PerSecond > 0 {
		if t := l.tokensAt(now); t < 1 {
			d = time.Duration(math.Ceil((1 - t) / l.cfg.PerSecond * float64(time.Second)))
		}
	}
	// The window allows a send at now when the Window-th latest send is at
	// least Period old: then (now-Period, now] holds at most Window sends.
	if l.cfg.Window > 0 && len(l.sends) >= l.cfg.Window {
		d = max(d, l.sends[len(l.sends)-l.cfg.Window].Add(l.cfg.Period).Sub(now))
	}
	return max(d, 0)
}

// paced spends any burst saved up: used while a backlog is waiting, so a
// queue is sent at the steady rate and only an idle destination bursts.
func (l *limiter) paced(now time.Time) {
	if l.cfg.PerSecond > 0 {
		l.tokens = min(l.tokensAt(now), 1)
		if l.last.IsZero() || now.After(l.last) {
			l.last = now
		}
	}
}

// take records a send at now; the caller checked delay(now) == 0.
func (l *limiter) take(now time.Time) {
	if l.cfg.PerSecond > 0 {
		l.tokens = l.tokensAt(now) - 1
		if l.last.IsZero() || now.After(l.last) {
			l.last = now
		}
	}
	if l.cfg.Window > 0 {
		// Keep the last Window sends. Slicing off the front and appending
		// reallocates (copying Window times) only when capacity runs out.
		if len(l.sends) >= l.cfg.Window {
			l.sends = l.sends[len(l.sends)-l.cfg.Window+1:]
		}
		l.sends = append(l.sends, now)
	}
}
