package delivery

import (
	"cmp"
	"time"

	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/store"
)

// Policy is how one destination is delivered to. The config owns the
// values and their per-type defaults (config.Destination); PolicyFor
// carries them over.
type Policy struct {
	// Key names the gate (rate limit, in-flight bound, breaker) the
	// destination goes through: its webhook URL, so destinations sharing a
	// URL share one platform budget. It is a secret: never logged.
	Key         string
	Limit       Limit
	MaxInFlight int
	Breaker     BreakerConfig
	// MaxAttempts bounds the attempts of one job; 0 leaves the job's own
	// (River's MaxAttempts, set by the store at insert time). A job stopped
	// by a lower limit than its own is cancelled, not discarded: both are
	// dead letters.
	MaxAttempts int
	// MaxAge gives a job up this long after it was created (0: Config.MaxAge).
	MaxAge time.Duration
	// Timeout bounds one attempt (0: Config.Timeout).
	Timeout time.Duration
}

// PolicyFor is the policy of a loaded (defaulted) destination under the
// config's delivery section.
func PolicyFor(d config.Destination, g config.Delivery) Policy {
	p := Policy{
		Key:         d.URL.Value(),
		MaxInFlight: d.MaxInFlight,
		MaxAttempts: cmp.Or(d.Attempts(), g.MaxAttempts, store.DefaultMaxAttempts),
		MaxAge:      d.MaxAge,
		Timeout:     cmp.Or(d.Timeout, g.Timeout),
	}
	if p.Key == "" {
		p.Key = "destination\x00" + d.Name // console: nothing shared
	}
	if rl := d.RateLimit; rl != nil {
		p.Limit.PerSecond, p.Limit.Burst = rl.PerSecond, rl.Burst
		if w := rl.Window; w != nil {
			p.Limit.Window, p.Limit.Period = w.Limit, w.Period
		}
	}
	if cb := d.CircuitBreaker; cb != nil {
		p.Breaker = BreakerConfig{Failures: cb.Failures, OpenFor: cb.OpenFor, MaxOpenFor: cb.MaxOpenFor}
	}
	return p
}

// PolicyOf finds a destination of c by name and returns its policy.
func PolicyOf(c *config.Config, destination string) (Policy, bool) {
	for _, d := range c.Destinations {
		if d.Name == destination {
			return PolicyFor(d, c.Delivery), true
		}
	}
	return Policy{}, false
}

// JobMaxAttempts is the attempt limit to store on every delivery job: the
// largest any destination of c allows. River's limit is per job and fixed
// at insert time, so it must cover every destination; the worker stops a
// destination with a lower limit itself (Policy.MaxAttempts).
func JobMaxAttempts(c *config.Config) int {
	n := cmp.Or(c.Delivery.MaxAttempts, store.DefaultMaxAttempts)
	for _, d := range c.Destinations {
		n = max(n, d.Attempts())
	}
	return n
}
