// Package delivery works the delivery jobs the store enqueued: it sends each
// stored payload through its destination's adapter, one attempt per job run,
// and turns the adapter's answer into River's next step. Retries, backoff and
// Retry-After live here, once, for every adapter.
//
// It must not build payloads, render templates or know any platform: the
// payload was built before the job was stored, and an adapter's Send says
// whether a failure is worth another attempt.
//
// # Outcomes
//
//   - delivered: the job completes.
//   - unknown destination (removed from the config since the event was
//     accepted): the job is cancelled with that reason; it never retries.
//   - final failure (Send says no retry: 400, 403, 404, 410...): the job is
//     cancelled after this one attempt.
//   - Retry-After (a *notify.Error with RetryAfter > 0, e.g. Slack's 429):
//     the job is snoozed with river.JobSnooze for exactly that long. River
//     does not count a snooze as an attempt (it decrements Attempt again and
//     counts snoozes in the job's metadata), so a throttling platform can't
//     exhaust the retries. To keep that from going on forever, a Retry-After
//     that would carry the job past MaxAge (24 h after it was accepted)
//     cancels it instead. A snooze shorter than River's scheduler interval
//     (5 s) makes the job available at once with a future due time; a longer
//     one waits in state scheduled until River's scheduler frees it.
//   - other retryable failures: the error is returned, River records it and
//     retries at NextRetry, until the job's MaxAttempts, then discards it.
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
// Each attempt gets Timeout (10 s) to finish.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river"
	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/internal/store"
)

// Defaults for Config.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultBackoffBase = time.Second
	DefaultBackoffCap  = 10 * time.Minute
	DefaultMaxAge      = 24 * time.Hour
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
	// MaxAge bounds how long a job keeps snoozing for Retry-After: a
	// Retry-After that would end past it cancels the job.
	MaxAge time.Duration
}

// Worker delivers store.DeliveryArgs jobs.
type Worker struct {
	river.WorkerDefaults[store.DeliveryArgs]

	senders Senders
	cfg     Config
	log     zerolog.Logger
}

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
	return &Worker{senders: senders, cfg: cfg, log: log.With().Str("component", "delivery").Logger()}
}

// Register adds w to workers, the bundle passed to store.Open.
func Register(workers *river.Workers, w *Worker) error {
	if err := river.AddWorkerSafely(workers, w); err != nil {
		return fmt.Errorf("delivery: register worker: %w", err)
	}
	return nil
}

// Timeout is the limit of one attempt.
func (w *Worker) Timeout(*river.Job[store.DeliveryArgs]) time.Duration { return w.cfg.Timeout }

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
	a := job.Args
	log := w.log.With().
		Str("event_id", a.EventID).
		Str("destination", a.Destination).
		Int64("job_id", job.ID).
		Int("attempt", job.Attempt).
		Logger()

	sender, ok := w.senders.Sender(a.Destination)
	if !ok {
		log.Error().Str("reason", "unknown destination").Msg("delivery cancelled")
		return river.JobCancel(fmt.Errorf("unknown destination %q: not in the current configuration", a.Destination))
	}

	start := time.Now()
	retry, err := sender.Send(ctx, a.Payload)
	took := time.Since(start)
	if err == nil {
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
		log.Error().Msg("delivery failed permanently")
		return river.JobCancel(err)
	}

	var ne *notify.Error
	if errors.As(err, &ne) && ne.RetryAfter > 0 {
		if age := time.Since(job.CreatedAt); age+ne.RetryAfter > w.cfg.MaxAge {
			log.Error().Int64("retry_after_ms", ne.RetryAfter.Milliseconds()).Msg("delivery given up: still throttled at max age")
			return river.JobCancel(fmt.Errorf("%s: still throttled after %s", reason, age.Round(time.Second)))
		}
		log.Warn().Int64("retry_after_ms", ne.RetryAfter.Milliseconds()).Msg("delivery snoozed")
		return river.JobSnooze(ne.RetryAfter)
	}

	if job.Attempt >= job.MaxAttempts {
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
