// Package delivery works the delivery jobs the store enqueued: it sends each
// stored payload through its destination's adapter, one attempt per job run,
// and turns the adapter's answer into River's next step. Retries, backoff and
// Retry-After live here, once, for every adapter.
//
// It must not build payloads, render templates or know any platform: the
// payload was built before the job was stored, and an adapter's Send says
// whether a failure is worth another attempt.
//
// # Turns, rate limits, isolation (gate.go)
//
// Before its attempt a job passes its destination URL's gate: a queue in
// job id order (acceptance order) where only the head may start, and only
// when the URL's rate limit (token bucket + sliding window, limit.go), its
// in-flight bound, its circuit breaker (breaker.go) and any Retry-After
// pause allow. A job whose turn is near waits inside its worker (at most
// MaxWait, at most MaxWaiting such jobs per URL); any other snoozes, keeping
// its place, and comes back SnoozeLead before its estimated turn. Snoozes
// don't count as attempts. So first attempts start in acceptance order, a
// queue is sent at the steady rate (the burst is for an idle URL), and one
// URL holds at most max_in_flight + MaxWaiting workers however broken it is.
// Destinations that share a URL share its gate. Gates live in memory: with
// several processes (PostgreSQL) each enforces its limits on its own.
//
// Per destination (Policy, from the config): max_attempts (or retry_count),
// max_age, and the attempt timeout. River's MaxAttempts is fixed per job at
// insert; the store uses the largest any destination allows, and a job that
// reaches its destination's lower limit is cancelled (a dead letter, like a
// discarded one).
//
// # Outcomes
//
//   - delivered: the job completes.
//   - unknown destination (removed from the config since the event was
//     accepted): the job is cancelled with that reason; it never retries.
//   - final failure (Send says no retry: 400, 403, 404, 410...): the job is
//     cancelled after this one attempt.
//   - Retry-After (a *notify.Error with RetryAfter > 0, e.g. Slack's 429):
//     the whole URL pauses, and the job is snoozed with river.JobSnooze for
//     exactly that long, keeping its place in the queue. River
//     does not count a snooze as an attempt (it decrements Attempt again and
//     counts snoozes in the job's metadata), so a throttling platform can't
//     exhaust the retries. To keep that from going on forever, a Retry-After
//     that would carry the job past its max age (24 h after it was
//     accepted by default) cancels it instead. A snooze shorter than River's scheduler interval
//     (5 s) makes the job available at once with a future due time; a longer
//     one waits in state scheduled until River's scheduler frees it.
//   - other retryable failures: the error is returned, River records it and
//     retries at NextRetry, until the job's MaxAttempts, then discards it;
//     the destination's own lower max_attempts, or its max age, cancels it.
//     They count towards the circuit breaker; 429s and final errors don't.
//   - shutdown: a send cut short by the store's Stop returns the context's
//     cancellation, which River records as interrupted: the job is available
//     again and the attempt is not counted.
//
// # Backoff
//
// NextRetry is exponential with full jitter: after attempt n the wait is
// uniform in [0, min(Cap, Base·2^(n-1))). With Base 1 s and Cap 10 min the
// bound doubles from 1 s to 512 s over attempts 1-10 and is 600 s from
// attempt 11 on. A wait averages half its bound, so the first 10 waits add up
// to about 1023/2 ≈ 512 s and each later one to about 300 s. A day (86 400 s)
// is then about 10 + (86 400 - 512) / 300 ≈ 296 waits, so
// store.DefaultMaxAttempts is 300 attempts (299 waits): 512 s + 289 × 300 s ≈
// 24 h 13 min on average, give or take about 50 min (the standard deviation of
// 289 uniform waits of up to 600 s), after which River discards the job.
// TestMaxAttemptsLastAboutADay keeps the two numbers in step.
//
// Each attempt gets its destination's timeout (default Timeout, 10 s).
//
// # Metrics (metrics.go)
//
// With Config.Metrics set, every send to a platform counts once in
// herald_delivery_attempts_total by its result (delivered, accepted for
// Teams Workflows' 202, retry, throttled, failed, too_large) and is timed;
// every delivery that ends counts once in herald_deliveries_total
// (delivered, failed, dead), and a delivered one records its latency from
// the job's creation, which is when its event was accepted. Gauges serves
// the scrape-time breaker and queue gauges.
package delivery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/metrics"
	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/internal/store"
)

// Defaults for Config.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultBackoffBase = time.Second
	DefaultBackoffCap  = 10 * time.Minute
	DefaultMaxAge      = 24 * time.Hour

	// DefaultMaxWait is the longest a job waits inside its worker for its
	// turn at a destination; a longer wait snoozes the job instead.
	DefaultMaxWait = 2 * time.Second
	// DefaultMaxWaiting is how many jobs of one destination may wait inside
	// workers at once (besides those sending): with max_in_flight, what one
	// destination can hold of the store's MaxWorkers (20). Fewer wait for a
	// slow rate: as many as start within SnoozeLead, plus one (Slack at 1/s:
	// 2; Teams, 60 per 30 s: 3).
	DefaultMaxWaiting = 4
	// DefaultSettle lets the jobs of one River fetch, started on separate
	// goroutines, line up in id order before the first of them is sent.
	DefaultSettle = 25 * time.Millisecond
	// DefaultSnoozeLead brings a snoozed job back this long before its
	// estimated turn: River's default fetch poll interval (1 s), the most
	// a due job waits to be fetched.
	DefaultSnoozeLead = time.Second
	// DefaultSnoozeGrace is how long past its snooze a job may take to come
	// back before the jobs behind it stop waiting for it: River's scheduler
	// interval (5 s) plus its poll interval, doubled.
	DefaultSnoozeGrace = 12 * time.Second
	// defaultMaxInFlight is for destinations without a policy.
	defaultMaxInFlight = 2
)

// Sender makes one delivery attempt (an adapter's Send). Errors never
// contain the destination URL.
type Sender interface {
	Send(ctx context.Context, p notify.Payload) (retry bool, err error)
}

// Senders finds the sender of a configured destination by name. The config
// owns the adapters and may swap them on reload, so the worker looks one up
// for every job.
type Senders interface {
	Sender(destination string) (Sender, bool)
}

// SendersFunc adapts a function to Senders.
type SendersFunc func(destination string) (Sender, bool)

// Sender calls f.
func (f SendersFunc) Sender(destination string) (Sender, bool) { return f(destination) }

// Config tunes the worker. Zero fields take the defaults above.
type Config struct {
	Timeout     time.Duration // per attempt
	BackoffBase time.Duration
	BackoffCap  time.Duration
	// MaxAge bounds how long after its creation a job is still attempted
	// (a destination's Policy.MaxAge replaces it).
	MaxAge time.Duration

	// Policies gives each destination's rate limit, concurrency, breaker
	// and retry limits (see PolicyOf). Nil, or a destination it doesn't
	// know: no rate limit, defaultMaxInFlight, the default breaker, the
	// job's own attempt limit.
	Policies func(destination string) (Policy, bool)

	// Waiting for a turn at a destination (see gate); zero takes the
	// Default* value.
	MaxWait     time.Duration
	MaxWaiting  int
	Settle      time.Duration
	SnoozeLead  time.Duration
	SnoozeGrace time.Duration

	// Metrics receives every send's result and every delivery's outcome
	// (metrics.go); nil: not instrumented.
	Metrics *metrics.Metrics

	// MemoryWorkers and MemoryQueue size the pool that makes first
	// attempts from memory (memory.go); zero takes the Default* value.
	MemoryWorkers int
	MemoryQueue   int
}

// Worker delivers store.DeliveryArgs jobs.
type Worker struct {
	river.WorkerDefaults[store.DeliveryArgs]

	senders Senders
	cfg     Config
	opts    gateOptions
	log     zerolog.Logger

	mu    sync.Mutex
	gates map[string]*gate // by Policy.Key (a URL): never log the keys

	completer Completer // nil: River's batched completion only
	mem       *memory   // nil until StartMemory
}

// Shrinker is a Sender that can re-render a payload its platform refused
// as too large into a smaller one (the Teams adapter).
type Shrinker interface {
	Shrink(p notify.Payload) (notify.Payload, error)
}

// Completer records a delivered job at once (store.Store does).
type Completer interface {
	Complete(ctx context.Context, job *river.Job[store.DeliveryArgs]) error
}

// CompleteWith makes w record every successful delivery through c before
// Work returns, so a crash right after a send does not resend a batch of
// messages River had not recorded yet. Call it before the store starts.
func (w *Worker) CompleteWith(c Completer) { w.completer = c }

// completeTimeout bounds recording a delivery; past it River's own
// completion still records it, a little later.
const completeTimeout = 5 * time.Second

var _ river.Worker[store.DeliveryArgs] = (*Worker)(nil)

// New returns a Worker sending through senders.
func New(senders Senders, cfg Config, log zerolog.Logger) *Worker {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = DefaultBackoffBase
	}
	if cfg.BackoffCap <= 0 {
		cfg.BackoffCap = DefaultBackoffCap
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	cfg.MemoryWorkers = cmp.Or(cfg.MemoryWorkers, DefaultMemoryWorkers)
	cfg.MemoryQueue = cmp.Or(cfg.MemoryQueue, DefaultMemoryQueue)
	opts := gateOptions{
		maxWait:    cmp.Or(cfg.MaxWait, DefaultMaxWait),
		maxWaiting: cmp.Or(cfg.MaxWaiting, DefaultMaxWaiting),
		settle:     cmp.Or(cfg.Settle, DefaultSettle),
		lead:       cmp.Or(cfg.SnoozeLead, DefaultSnoozeLead),
		grace:      cmp.Or(cfg.SnoozeGrace, DefaultSnoozeGrace),
	}
	return &Worker{
		senders: senders, cfg: cfg, opts: opts,
		log:   log.With().Str("component", "delivery").Logger(),
		gates: map[string]*gate{},
	}
}

// policy is the destination's policy with the worker's defaults filled in.
func (w *Worker) policy(destination string) Policy {
	var p Policy
	ok := false
	if w.cfg.Policies != nil {
		p, ok = w.cfg.Policies(destination)
	}
	if !ok {
		p = Policy{MaxInFlight: defaultMaxInFlight, Breaker: BreakerConfig{
			Failures: config.DefaultBreakerFailures, OpenFor: config.DefaultBreakerOpenFor, MaxOpenFor: config.DefaultBreakerMaxOpenFor,
		}}
	}
	if p.Key == "" {
		p.Key = "destination\x00" + destination
	}
	p.Timeout = cmp.Or(p.Timeout, w.cfg.Timeout)
	p.MaxAge = cmp.Or(p.MaxAge, w.cfg.MaxAge)
	return p
}

// gate returns the gate of the policy's key, configured by it.
func (w *Worker) gate(p Policy) *gate {
	w.mu.Lock()
	defer w.mu.Unlock()
	g, ok := w.gates[p.Key]
	if !ok {
		g = newGate(p)
		w.gates[p.Key] = g
		return g
	}
	g.mu.Lock()
	g.configure(p)
	g.mu.Unlock()
	return g
}

// BreakerState is the state of the circuit breaker in front of the
// destination's URL (closed for one that was never attempted), for metrics.
func (w *Worker) BreakerState(destination string) BreakerState {
	p := w.policy(destination)
	w.mu.Lock()
	g, ok := w.gates[p.Key]
	w.mu.Unlock()
	if !ok {
		return BreakerClosed
	}
	return g.breakerState()
}

// Register adds w to workers, the bundle passed to store.Open.
func Register(workers *river.Workers, w *Worker) error {
	if err := river.AddWorkerSafely(workers, w); err != nil {
		return fmt.Errorf("delivery: register worker: %w", err)
	}
	return nil
}

// Timeout is River's limit on one run of Work: the destination's attempt
// timeout (applied to Send itself) plus the longest wait for its turn.
func (w *Worker) Timeout(job *river.Job[store.DeliveryArgs]) time.Duration {
	return w.policy(job.Args.Destination).Timeout + w.opts.maxWait + w.opts.settle + time.Second
}

// NextRetry is exponential backoff with full jitter (see the package doc).
func (w *Worker) NextRetry(job *river.Job[store.DeliveryArgs]) time.Time {
	return time.Now().Add(backoff(job.Attempt, w.cfg.BackoffBase, w.cfg.BackoffCap, rand.Float64()))
}

// backoff is the wait after attempt n (1-based) for a uniform u in [0, 1).
func backoff(n int, base, limit time.Duration, u float64) time.Duration {
	bound := limit
	if n < 1 {
		n = 1
	}
	// base·2^(n-1), without overflowing: stop doubling once over the cap.
	if n-1 < 62 {
		if b := base << (n - 1); b > 0 && b < limit && b>>(n-1) == base {
			bound = b
		}
	}
	return time.Duration(u * float64(bound))
}

// Work makes one delivery attempt and decides what River does next.
func (w *Worker) Work(ctx context.Context, job *river.Job[store.DeliveryArgs]) error {
	err := w.work(ctx, job, w.opts)
	w.spillEnded(job, err)
	w.waited(ctx, job, err)
	return err
}

// Prioritizer moves a job that waited ahead of later ones in River's fetch
// order (store.Store.Prioritize).
type Prioritizer interface {
	Prioritize(ctx context.Context, id int64) error
}

// waited moves a job River will run again (snoozed, or failed with a
// retry to come) ahead of the jobs that arrived after it, once.
func (w *Worker) waited(ctx context.Context, job *river.Job[store.DeliveryArgs], err error) {
	p, ok := w.completer.(Prioritizer)
	var cancel *rivertype.JobCancelError
	if !ok || err == nil || errors.As(err, &cancel) || job.Priority <= 1 || job.Attempt >= job.MaxAttempts {
		return
	}
	pctx, stop := context.WithTimeout(context.WithoutCancel(ctx), completeTimeout)
	defer stop()
	if perr := p.Prioritize(pctx, job.ID); perr != nil {
		w.log.Warn().Err(perr).Int64("job_id", job.ID).Msg("could not move a waiting delivery ahead of later ones")
	}
}

// work is Work with the gate's waiting rules o (memory.go uses its own).
func (w *Worker) work(ctx context.Context, job *river.Job[store.DeliveryArgs], o gateOptions) error {
	a := job.Args
	lc := w.log.With().
		Str("event_id", a.EventID).
		Str("destination", a.Destination).
		Int64("job_id", job.ID).
		Int("attempt", job.Attempt)
	if a.RequestID != "" { // jobs stored before request ids have none
		lc = lc.Str("request_id", a.RequestID)
	}
	log := lc.Logger()

	sender, ok := w.senders.Sender(a.Destination)
	if !ok {
		w.ended(a.Destination, metrics.DeliveryFailed)
		log.Error().Str("reason", "unknown destination").Msg("delivery cancelled")
		return river.JobCancel(fmt.Errorf("unknown destination %q: not in the current configuration", a.Destination))
	}

	pol := w.policy(a.Destination)
	if a.MaxAttempts > 0 {
		// The event's project set its own limit (retry_count): it replaces
		// the destination's, up or down; River's limit for the job is the same.
		pol.MaxAttempts = a.MaxAttempts
	}
	if age := time.Since(job.CreatedAt); age > pol.MaxAge {
		log.Error().Str("reason", "max age").Msg("delivery given up: too old")
		w.gate(pol).forget(job.ID)
		w.ended(a.Destination, metrics.DeliveryDead)
		return river.JobCancel(fmt.Errorf("not delivered within max age %s", pol.MaxAge))
	}
	if pol.MaxAttempts > 0 && job.Attempt > pol.MaxAttempts {
		// The destination's limit was lowered since the last attempt.
		log.Error().Int("max_attempts", pol.MaxAttempts).Msg("delivery given up: attempts exhausted")
		w.gate(pol).forget(job.ID)
		w.ended(a.Destination, metrics.DeliveryDead)
		return river.JobCancel(fmt.Errorf("attempts exhausted (max_attempts %d)", pol.MaxAttempts))
	}

	// Wait for this job's turn at the destination's URL, or snooze.
	g := w.gate(pol)
	permit, started, snooze, err := g.acquire(ctx, job.ID, o)
	if err != nil {
		log.Info().Msg("delivery interrupted")
		return fmt.Errorf("waiting for its turn: %w", err)
	}
	if !started {
		if age := time.Since(job.CreatedAt); age+snooze > pol.MaxAge {
			g.forget(job.ID)
			w.ended(a.Destination, metrics.DeliveryDead)
			log.Error().Str("reason", "max age").Msg("delivery given up: still waiting at max age")
			return river.JobCancel(fmt.Errorf("still waiting for its turn after %s", age.Round(time.Second)))
		}
		log.Debug().Int64("snooze_ms", snooze.Milliseconds()).Msg("delivery waiting for its turn")
		return river.JobSnooze(snooze)
	}

	sctx, cancel := context.WithTimeout(ctx, pol.Timeout)
	start := time.Now()
	sendStart := start
	retry, err := sender.Send(sctx, a.Payload)
	var ne *notify.Error
	if err != nil && errors.As(err, &ne) && ne.TooLarge {
		// The platform refused the size (Teams' connector says 413 in a
		// 200): the same bytes can never pass, a smaller rendering may.
		// One more try within this attempt; the stored payload is kept.
		if sh, ok := sender.(Shrinker); ok {
			if smaller, serr := sh.Shrink(a.Payload); serr == nil {
				w.sent(a.Destination, metrics.AttemptTooLarge, time.Since(sendStart))
				log.Warn().Int("bytes", len(a.Payload.Body)).Int("smaller_bytes", len(smaller.Body)).
					Msg("payload too large; sending it re-rendered smaller")
				sendStart = time.Now()
				retry, err = sender.Send(sctx, smaller)
			}
		}
	}
	took := time.Since(start)
	cancel()

	if !errors.Is(ctx.Err(), context.Canceled) { // a send cut short by shutdown is not counted
		w.sent(a.Destination, result(sender, err, retry), time.Since(sendStart))
	}
	ne = nil
	var retryAfter time.Duration
	if err != nil && retry && errors.As(err, &ne) {
		retryAfter = ne.RetryAfter
	}
	g.done(job.ID, permit, classify(ctx, err, retry, ne), retryAfter, o.grace)
	if o.sent != nil {
		o.sent()
	}

	if err == nil {
		w.delivered(a.Destination, time.Since(job.CreatedAt))
		if w.completer != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), completeTimeout)
			if cerr := w.completer.Complete(cctx, job); cerr != nil {
				log.Warn().Err(cerr).Msg("recording the delivery failed; River will record it, or send it again")
			}
			cancel()
		}
		log.Info().Int64("duration_ms", took.Milliseconds()).Msg("delivered")
		return nil
	}
	reason := err.Error()
	log = log.With().Str("reason", reason).Int64("duration_ms", took.Milliseconds()).Logger()

	// Stopped by shutdown rather than by the attempt's own timeout: hand
	// River the cancellation so it puts the job back without counting the
	// attempt.
	if errors.Is(ctx.Err(), context.Canceled) {
		log.Info().Msg("delivery interrupted")
		return fmt.Errorf("%s: %w", reason, ctx.Err())
	}

	if !retry {
		w.ended(a.Destination, metrics.DeliveryFailed)
		log.Error().Msg("delivery failed permanently")
		return river.JobCancel(err)
	}

	if retryAfter > 0 {
		if age := time.Since(job.CreatedAt); age+retryAfter > pol.MaxAge {
			g.forget(job.ID)
			w.ended(a.Destination, metrics.DeliveryDead)
			log.Error().Int64("retry_after_ms", retryAfter.Milliseconds()).Msg("delivery given up: still throttled at max age")
			return river.JobCancel(fmt.Errorf("%s: still throttled after %s", reason, age.Round(time.Second)))
		}
		log.Warn().Int64("retry_after_ms", retryAfter.Milliseconds()).Msg("delivery snoozed")
		return river.JobSnooze(retryAfter)
	}

	if age := time.Since(job.CreatedAt); age >= pol.MaxAge {
		w.ended(a.Destination, metrics.DeliveryDead)
		log.Error().Msg("delivery given up: max age reached")
		return river.JobCancel(fmt.Errorf("%s: not delivered within max age %s", reason, pol.MaxAge))
	}
	if pol.MaxAttempts > 0 && pol.MaxAttempts < job.MaxAttempts && job.Attempt >= pol.MaxAttempts {
		w.ended(a.Destination, metrics.DeliveryDead)
		log.Error().Int("max_attempts", pol.MaxAttempts).Msg("delivery given up: attempts exhausted")
		return river.JobCancel(fmt.Errorf("%s: attempts exhausted (max_attempts %d)", reason, pol.MaxAttempts))
	}
	if job.Attempt >= job.MaxAttempts {
		w.ended(a.Destination, metrics.DeliveryDead) // River discards it
		log.Error().Int("max_attempts", job.MaxAttempts).Msg("delivery given up: attempts exhausted")
		return err
	}
	// Log a retry loudly when its reason changes, quietly while it repeats.
	ev := log.Warn()
	if n := len(job.Errors); n > 0 && job.Errors[n-1].Error == reason {
		ev = log.Debug()
	}
	ev.Msg("delivery failed, will retry")
	return err
}

// classify turns an attempt's result into what the circuit breaker learns.
func classify(ctx context.Context, err error, retry bool, ne *notify.Error) outcome {
	switch {
	case err == nil:
		return outcomeSuccess
	case ctx.Err() != nil:
		return outcomeNeutral // shutdown, not the destination's fault
	case !retry:
		if ne != nil && ne.Status > 0 {
			return outcomeSuccess // a final answer: the destination is up
		}
		return outcomeNeutral
	case ne != nil && ne.Status == http.StatusTooManyRequests:
		return outcomeNeutral // throttled: Retry-After pauses the gate
	}
	return outcomeFailure
}
