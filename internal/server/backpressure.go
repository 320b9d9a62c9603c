package server

import (
	"context"
	"sync"
	"time"
)

// pendingStates are River's states of a delivery not yet done.
var pendingStates = []string{"available", "scheduled", "retryable", "running", "pending"}

// jobCounter is what the queue limit needs of the store.
type jobCounter interface {
	CountJobs(ctx context.Context, states ...string) (int, error)
}

// queueGauge caches the number of waiting deliveries for queueCacheFor, so
// that ingest under load costs one count a second, not one per request.
type queueGauge struct {
	mu    sync.Mutex
	depth int
	at    time.Time
}

// queueCacheFor is how stale the queue depth may be.
const queueCacheFor = time.Second

// queueFull reports whether more deliveries wait than the config allows.
// A store that cannot count, or a count that fails, does not block ingest:
// the commit itself reports a store that is down.
func (s *Server) queueFull(ctx context.Context, rt *Runtime) bool {
	limit := rt.Config.Limits.MaxQueueDepth
	jc, ok := s.store.(jobCounter)
	if limit <= 0 || !ok {
		return false
	}
	g := &s.queue
	g.mu.Lock()
	defer g.mu.Unlock()
	if time.Since(g.at) >= queueCacheFor {
		n, err := jc.CountJobs(ctx, pendingStates...)
		if err != nil {
			return false
		}
		g.depth, g.at = n, time.Now()
	}
	return int64(g.depth) > limit
}
