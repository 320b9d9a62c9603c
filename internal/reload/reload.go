// Package reload replaces herald's configuration while it runs: on SIGHUP,
// when the config file or a templates directory changes (watch.go), or on
// POST /-/reload (http.go).
//
// A new configuration is loaded and validated, its adapters are built, and
// every destination's templates are rendered against the sample events
// (check.go) before it replaces the running one in a single atomic swap of
// the server's runtime, which the delivery workers read for every job. On
// any error the running configuration stays: the error is logged, counted
// (herald_config_reloads_total{result="failure"},
// herald_config_last_reload_successful 0) and returned to whoever asked.
// Reloads run one at a time.
//
// It must not touch queued deliveries: each was rendered when its event was
// accepted and keeps its payload. What a reload changes for them is who
// sends them (the destination's URL and client) and how (its rate limit,
// breaker and retry policy); a destination removed from the config gets
// its pending deliveries cancelled as "unknown destination" when their turn
// comes.
//
// Some settings are fixed when serve starts (the listener, the store, the
// queue's limits): a reload that changes them applies the rest and warns
// that they need a restart, except a destination timeout longer than the
// queue was started with, which is refused (see compare).
package reload

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters"
	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/delivery"
	"github.com/herald-ci/herald/internal/metrics"
	"github.com/herald-ci/herald/internal/server"
)

// Triggers, the "trigger" field of the reload's log lines.
const (
	TriggerSignal = "sighup"
	TriggerWatch  = "watch"
	TriggerHTTP   = "http"
)

// Target holds the running configuration: the server.
type Target interface {
	Runtime() *server.Runtime
	Swap(rt *server.Runtime)
}

var _ Target = (*server.Server)(nil)

// Options wire a Reloader.
type Options struct {
	// Load reads the configuration afresh, with the command line's
	// overrides applied (serve's --listen).
	Load func() (*config.Config, error)
	// NewSet builds a configuration's adapters, logging to log
	// (adapters.NewSet with serve's HTTP client).
	NewSet func(c *config.Config, log zerolog.Logger) (*adapters.Set, error)
	Target Target
	// Metrics counts reloads and template fallbacks; nil: none.
	Metrics *metrics.Metrics
	Log     zerolog.Logger

	// JobTimeout is the queue's job timeout, fixed when the store was
	// opened; a destination timeout above it is refused (0: not checked).
	JobTimeout time.Duration
	// JobMaxAttempts is the attempt limit the store puts on new delivery
	// jobs, fixed when it was opened; a destination allowing more gets a
	// warning (0: not checked).
	JobMaxAttempts int
}

// Reloader reloads the configuration of a running herald.
type Reloader struct {
	o   Options
	log zerolog.Logger

	mu sync.Mutex // one reload at a time
}

// New returns a Reloader.
func New(o Options) *Reloader {
	return &Reloader{o: o, log: o.Log.With().Str("component", "reload").Logger()}
}

// Result describes a reload that took effect.
type Result struct {
	Destinations int `json:"destinations"`
	// Warnings name what the reload could not apply: settings that keep
	// their old value until herald restarts, and destinations whose queued
	// deliveries were built for another type.
	Warnings []string `json:"warnings,omitempty"`
}

// Reload loads, checks and installs the configuration. On error the
// running configuration stays and the error says why.
func (r *Reloader) Reload(trigger string) (Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	log := r.log.With().Str("trigger", trigger).Logger()
	rt, res, err := r.prepare()
	if err != nil {
		if m := r.o.Metrics; m != nil {
			m.ConfigReloadFailed()
		}
		log.Error().Err(err).Msg("config reload failed; the running configuration stays")
		return Result{}, err
	}
	r.o.Target.Swap(rt)
	if m := r.o.Metrics; m != nil {
		m.ConfigLoaded(time.Now(), true)
	}
	ev := log.Info()
	if len(res.Warnings) > 0 {
		ev = log.Warn().Strs("warnings", res.Warnings)
	}
	ev.Int("destinations", res.Destinations).Msg("config reloaded")
	return res, nil
}

// prepare builds the new runtime and checks it; nothing changes yet.
func (r *Reloader) prepare() (*server.Runtime, Result, error) {
	c, err := r.o.Load()
	if err != nil {
		return nil, Result{}, err
	}
	old := r.o.Target.Runtime().Config
	warnings, err := r.compare(old, c)
	if err != nil {
		return nil, Result{}, err
	}
	// The adapters log each template fallback; while Check renders the
	// samples those would be noise (nothing is sent), so they are dropped
	// until the set goes live. Check's error says it all.
	var checking atomic.Bool
	checking.Store(true)
	quiet := r.o.Log.Hook(zerolog.HookFunc(func(e *zerolog.Event, _ zerolog.Level, _ string) {
		if checking.Load() {
			e.Discard()
		}
	}))
	set, err := r.o.NewSet(c, quiet)
	if err != nil {
		return nil, Result{}, err
	}
	if err := Check(c, set); err != nil {
		return nil, Result{}, err
	}
	checking.Store(false)
	if m := r.o.Metrics; m != nil {
		set.OnFallback(m.TemplateFallback)
	}
	return &server.Runtime{Config: c, Adapters: set}, Result{Destinations: len(c.Destinations), Warnings: warnings}, nil
}

// compare checks the new config against what serve fixed at start. It
// returns warnings for what needs a restart to change, and an error for a
// change that is unsafe to half-apply: a destination timeout above the
// queue's job timeout would let River's rescuer hand a delivery that is
// still being sent to another worker (a duplicate message).
func (r *Reloader) compare(old, c *config.Config) ([]string, error) {
	var warn []string
	restart := func(what string) { warn = append(warn, what+": needs a restart to change") }
	if old.Listen != c.Listen {
		restart("listen")
	}
	if old.Store.Driver != c.Store.Driver || old.Store.DSN.Value() != c.Store.DSN.Value() {
		restart("store")
	}
	if old.Delivery.Retention != c.Delivery.Retention {
		restart("delivery.retention")
	}
	if old.Delivery.FirstAttemptFromMemory != c.Delivery.FirstAttemptFromMemory {
		restart("delivery.first_attempt_from_memory")
	}
	if n := r.o.JobMaxAttempts; n > 0 && delivery.JobMaxAttempts(c) > n {
		restart(fmt.Sprintf("max_attempts above %d", n))
	}
	for _, d := range c.Destinations {
		i := slices.IndexFunc(old.Destinations, func(o config.Destination) bool { return o.Name == d.Name })
		if i >= 0 && (old.Destinations[i].Type != d.Type || old.Destinations[i].Format != d.Format) {
			warn = append(warn, fmt.Sprintf("destination %q: its deliveries already queued keep the payload built for its old type or format", d.Name))
		}
	}
	if t := r.o.JobTimeout; t > 0 && c.LongestTimeout() > t {
		return warn, fmt.Errorf("a destination timeout of %s exceeds the %s the queue was started with; restart herald to raise it", c.LongestTimeout(), t)
	}
	return warn, nil
}
