package metrics

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// QueueTimeout bounds the store query of one scrape. A store slower than
// that leaves the queue gauges out of the scrape (absent, not 0), and the
// rest of /metrics is served as usual.
const QueueTimeout = 2 * time.Second

// QueueStat is the pending deliveries of one destination.
type QueueStat struct {
	Depth  int           // deliveries not yet done (waiting, scheduled, retrying or being sent)
	Oldest time.Duration // since the oldest of them was accepted; 0 when there are none
}

// Destinations is what the per-destination gauges read at scrape time.
type Destinations interface {
	// Names lists the configured destinations (the current configuration's).
	Names() []string
	// BreakerState is the circuit breaker in front of the destination's
	// URL: 0 closed, 1 open, 2 half-open.
	BreakerState(destination string) int
	// Queue returns the pending deliveries by destination; destinations
	// with none may be left out.
	Queue(ctx context.Context) (map[string]QueueStat, error)
}

// WatchDestinations registers the gauges that d answers at each scrape:
// herald_circuit_breaker_state, herald_queue_depth and
// herald_queue_oldest_pending_seconds. Call it once.
func (m *Metrics) WatchDestinations(d Destinations) {
	m.reg.MustRegister(&destinationCollector{d: d})
}

var (
	breakerDesc = prometheus.NewDesc("herald_circuit_breaker_state",
		"Circuit breaker in front of the destination's URL: 0 closed, 1 open, 2 half-open.",
		[]string{"destination"}, nil)
	queueDepthDesc = prometheus.NewDesc("herald_queue_depth",
		"Deliveries not yet done (waiting, scheduled, retrying or being sent), by destination.",
		[]string{"destination"}, nil)
	queueOldestDesc = prometheus.NewDesc("herald_queue_oldest_pending_seconds",
		"Age of the oldest delivery not yet done (since its event was accepted); 0 when there is none.",
		[]string{"destination"}, nil)
)

// destinationCollector asks d at scrape time. One scrape queries the store
// at a time; concurrent scrapes wait for it, so the store's cost is bounded
// by the scrapes themselves.
type destinationCollector struct {
	d  Destinations
	mu sync.Mutex
}

func (c *destinationCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- breakerDesc
	ch <- queueDepthDesc
	ch <- queueOldestDesc
}

func (c *destinationCollector) Collect(ch chan<- prometheus.Metric) {
	names := c.d.Names()
	for _, n := range names {
		ch <- prometheus.MustNewConstMetric(breakerDesc, prometheus.GaugeValue, float64(c.d.BreakerState(n)), n)
	}

	c.mu.Lock()
	ctx, cancel := context.WithTimeout(context.Background(), QueueTimeout)
	q, err := c.d.Queue(ctx)
	cancel()
	c.mu.Unlock()
	if err != nil {
		return
	}
	// Every configured destination, with 0 when nothing waits; and the
	// destinations removed from the config that still have deliveries
	// pending (they will be cancelled as unknown when their turn comes).
	all := slices.Clone(names)
	for n := range q {
		if !slices.Contains(all, n) {
			all = append(all, n)
		}
	}
	for _, n := range all {
		s := q[n]
		ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(s.Depth), n)
		ch <- prometheus.MustNewConstMetric(queueOldestDesc, prometheus.GaugeValue, max(s.Oldest, 0).Seconds(), n)
	}
}
