package delivery

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"

	"github.com/herald-ci/herald/internal/store"
)

// First attempts from memory.
//
// The store leases the delivery jobs it has just committed to the worker
// (store/lease.go): they reach it through Dispatch, straight from the
// store's writer, instead of through River's polling. A fixed pool of
// goroutines (Config.MemoryWorkers) takes them in acceptance order and
// makes each one's first attempt with the same code River's worker runs
// (the gate, its rate limits and breaker, Send, the metrics), then records
// the result through the store's Finish, batched with every other write.
// A failed first attempt leaves the job to River, with its error recorded
// and its retry due as for any other.
//
// The queue (Config.MemoryQueue) bounds what waits in memory; the store
// leases no more than its Room, so a burst past it goes to River's workers
// as before. What is queued when the process dies is not lost: the jobs are
// in the database, leased, and come back (store/lease.go).

// Defaults for the memory path.
const (
	DefaultMemoryWorkers = 32
	DefaultMemoryQueue   = 1024
	// memorySettle replaces DefaultSettle for jobs from memory: they arrive
	// in id order from one channel, so only the pool's goroutines can put
	// two of them out of order, by a scheduling hiccup.
	memorySettle = time.Millisecond
)

// Finisher records attempts (store.Store): Complete for a success,
// Finish for a leased job's failure.
type Finisher interface {
	Completer
	Finish(ctx context.Context, job *river.Job[store.DeliveryArgs], err error, nextRetry time.Time) error
}

// memory is the pool making first attempts.
type memory struct {
	jobs   chan *river.Job[store.DeliveryArgs]
	rec    Finisher
	opts   gateOptions
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool

	attempted atomic.Int64 // jobs taken from the queue (tests)
}

var _ store.Dispatcher = (*Worker)(nil)

// StartMemory starts the pool that makes first attempts of the jobs the
// store dispatches (store.Store.DispatchTo), recording them with rec. Call
// it once, before the store starts; StopMemory ends it.
func (w *Worker) StartMemory(rec Finisher) {
	ctx, cancel := context.WithCancel(context.Background())
	opts := w.opts
	opts.settle = memorySettle
	m := &memory{
		jobs:   make(chan *river.Job[store.DeliveryArgs], max(w.cfg.MemoryQueue, 1)),
		rec:    rec,
		opts:   opts,
		cancel: cancel,
	}
	w.completer = rec
	w.mem = m
	for range max(w.cfg.MemoryWorkers, 1) {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			for job := range m.jobs {
				w.attempt(ctx, job)
			}
		}()
	}
}

// StopMemory stops taking jobs and lets the queued ones be attempted until
// ctx is done; then the attempts still running are cut short and every job
// left is recorded as interrupted: available again, for River here or on
// another replica, its attempt not counted.
func (w *Worker) StopMemory(ctx context.Context) {
	m := w.mem
	if m == nil {
		return
	}
	m.mu.Lock()
	if !m.closed {
		m.closed = true
		close(m.jobs)
	}
	m.mu.Unlock()
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		m.cancel()
		<-done
	}
	m.cancel()
}

// Room is how many more jobs Dispatch takes (store.Dispatcher).
func (w *Worker) Room() int {
	m := w.mem
	if m == nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0
	}
	return cap(m.jobs) - len(m.jobs)
}

// Dispatch queues a leased job for its first attempt (store.Dispatcher).
// It never blocks: a job that finds no room stays leased in the database
// and River takes it when the lease runs out.
func (w *Worker) Dispatch(job *river.Job[store.DeliveryArgs]) {
	m := w.mem
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	select {
	case m.jobs <- job:
	default:
		w.log.Warn().Int64("job_id", job.ID).Msg("no room for a first attempt from memory; River takes the job when its lease runs out")
	}
}

// attempt makes a leased job's first attempt and records a failure (a
// success is recorded by work itself, through the completer).
func (w *Worker) attempt(ctx context.Context, job *river.Job[store.DeliveryArgs]) {
	w.mem.attempted.Add(1)
	now := time.Now()
	job.Attempt, job.AttemptedAt = 1, &now // as River's fetch would
	var err error
	if ctx.Err() != nil {
		err = ctx.Err() // stopping: not attempted
	} else {
		jctx, cancel := context.WithTimeout(ctx, w.Timeout(job))
		err = w.work(jctx, job, w.mem.opts)
		cancel()
		if err == nil {
			return
		}
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), completeTimeout)
	defer cancel()
	if ferr := w.mem.rec.Finish(fctx, job, err, w.NextRetry(job)); ferr != nil && !errors.Is(ferr, context.Canceled) {
		w.log.Warn().Err(ferr).Int64("job_id", job.ID).Str("destination", job.Args.Destination).
			Msg("recording a first attempt failed; River takes the job when its lease runs out")
	}
}
