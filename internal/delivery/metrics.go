package delivery

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/metrics"
	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/internal/store"
)

// The worker's metrics (Config.Metrics): one herald_delivery_attempts_total
// and one herald_delivery_attempt_duration_seconds sample per send, one
// herald_deliveries_total per delivery that ends, and its latency from the
// event's acceptance (the job's creation, in the same transaction) when
// the platform took it. Snoozes for a turn, waits and shutdowns count
// nothing; each process counts its own sends (PostgreSQL replicas too).

// formatter is a Sender that names its payload format (the Teams adapter).
// A Teams Workflows trigger answers 202 and runs its flow later: what it
// takes is "accepted", not known to be posted.
type formatter interface{ Format() string }

// result names a send's outcome for herald_delivery_attempts_total.
func result(s Sender, err error, retry bool) string {
	var ne *notify.Error
	errors.As(err, &ne)
	switch {
	case err == nil:
		if f, ok := s.(formatter); ok && f.Format() == config.FormatWorkflows {
			return metrics.AttemptAccepted
		}
		return metrics.AttemptDelivered
	case ne != nil && ne.TooLarge:
		return metrics.AttemptTooLarge
	case !retry:
		return metrics.AttemptFailed
	case ne != nil && (ne.Status == http.StatusTooManyRequests || ne.RetryAfter > 0):
		return metrics.AttemptThrottled
	}
	return metrics.AttemptRetry
}

func (w *Worker) sent(destination, result string, took time.Duration) {
	if m := w.cfg.Metrics; m != nil {
		m.Attempt(destination, result, took)
	}
}

func (w *Worker) delivered(destination string, latency time.Duration) {
	if m := w.cfg.Metrics; m != nil {
		m.Delivered(destination, latency)
	}
}

func (w *Worker) ended(destination, outcome string) {
	if m := w.cfg.Metrics; m != nil {
		m.Ended(destination, outcome)
	}
}

// QueueReader is what the queue gauges need of the store.
type QueueReader interface {
	PendingByDestination(ctx context.Context) ([]store.QueueStat, error)
}

var _ QueueReader = (*store.Store)(nil)

// Gauges answers herald's scrape-time metrics (metrics.Destinations): the
// current configuration's destinations, the worker's circuit breakers and
// the store's queue.
type Gauges struct {
	Worker *Worker
	Store  QueueReader
	// Config returns the configuration in force (it changes on reload).
	Config func() *config.Config
}

var _ metrics.Destinations = Gauges{}

// Names lists the configured destinations.
func (g Gauges) Names() []string {
	c := g.Config()
	names := make([]string, len(c.Destinations))
	for i, d := range c.Destinations {
		names[i] = d.Name
	}
	return names
}

// BreakerState is 0 closed, 1 open, 2 half-open (BreakerState's values).
func (g Gauges) BreakerState(destination string) int {
	return int(g.Worker.BreakerState(destination))
}

// Queue counts each destination's pending deliveries and their oldest's age.
func (g Gauges) Queue(ctx context.Context) (map[string]metrics.QueueStat, error) {
	stats, err := g.Store.PendingByDestination(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make(map[string]metrics.QueueStat, len(stats))
	for _, s := range stats {
		out[s.Destination] = metrics.QueueStat{Depth: s.Pending, Oldest: now.Sub(s.OldestCreatedAt)}
	}
	return out, nil
}
