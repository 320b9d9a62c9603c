package delivery

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

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
// The queue (Config.MemoryQueue) bounds what waits in memory, and each
// destination holds no more jobs than can start soon (Reserve); the store
// stores any other job for River's workers, as before, and the
// destination's next jobs follow it there until River has attempted it. What is queued when the process dies is not lost: the jobs are
// in the database, leased, and come back (store/lease.go).

// Defaults for the memory path.
const (
	DefaultMemoryWorkers = 128
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
	queued int            // places reserved: queued, dispatched or being attempted
	held   map[string]int // the same, by destination
	// spilled counts, by destination, jobs that went to River's workers
	// and whose first attempt has not ended: while there are any, the
	// destination's new jobs go there too, behind them (Spill).
	spilled map[string]int

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
	// A job from memory that snoozes costs two writes and comes back
	// through River's polling: let more of them wait their turn inside
	// the pool, still few enough that a slow destination holds at most a
	// quarter of it (plus its max_in_flight).
	opts.maxWaiting = max(opts.maxWaiting, w.cfg.MemoryWorkers/4)
	m := &memory{
		jobs:   make(chan *river.Job[store.DeliveryArgs], max(w.cfg.MemoryQueue, 1)),
		rec:    rec,
		opts:   opts,
		cancel: cancel,
		held:   map[string]int{},

		spilled: map[string]int{},
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

// Reserve takes a place for a first attempt from memory of a job for the
// destination (store.Dispatcher). There is one while the pool's queue has
// room, the destination has no job in River's queue to wait for (Spill),
// and fewer of its jobs are held than can start soon: its max_in_flight
// and the jobs its gate lets wait (waitingPlaces). A job past those would
// only snooze, to River's queue, which keeps them in order better.
func (w *Worker) Reserve(destination string) bool {
	m := w.mem
	if m == nil {
		return false
	}
	g := w.gate(w.policy(destination))
	places := g.places(m.opts)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.queued >= cap(m.jobs) || m.spilled[destination] > 0 || m.held[destination] >= places {
		return false
	}
	m.queued++
	m.held[destination]++
	return true
}

// Release gives back a place (store.Dispatcher; and when an attempt ends).
func (w *Worker) Release(destination string) {
	m := w.mem
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.queued--
	if m.held[destination]--; m.held[destination] <= 0 {
		delete(m.held, destination)
	}
}

// Spill counts a job for the destination that went to River's workers
// (store.Dispatcher); its first attempt's end uncounts it (spillEnded).
func (w *Worker) Spill(destination string) {
	if m := w.mem; m != nil {
		m.mu.Lock()
		m.spilled[destination]++
		m.mu.Unlock()
	}
}

// spillEnded uncounts a spilled job whose first attempt River has run:
// one River inserted itself (not leased, never was), on its first attempt,
// which ended otherwise than by a snooze.
func (w *Worker) spillEnded(job *river.Job[store.DeliveryArgs], err error) {
	m := w.mem
	if m == nil || store.Leased(job) || job.Attempt != 1 || bytes.Contains(job.Metadata, []byte(`"herald_lease"`)) {
		return
	}
	var snooze *rivertype.JobSnoozeError
	if errors.As(err, &snooze) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// May go below zero for a moment: River can finish a job before the
	// store's writer has called Spill for it.
	if m.spilled[job.Args.Destination]--; m.spilled[job.Args.Destination] == 0 {
		delete(m.spilled, job.Args.Destination)
	}
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
	case m.jobs <- job: // always room: Reserve counted it
	default:
		w.log.Warn().Int64("job_id", job.ID).Msg("no room for a first attempt from memory; River takes the job when its lease runs out")
	}
}

// attempt makes a leased job's first attempt and records a failure (a
// success is recorded by work itself, through the completer).
func (w *Worker) attempt(ctx context.Context, job *river.Job[store.DeliveryArgs]) {
	w.mem.attempted.Add(1)
	// The job's place is free once its send is over: recording the result
	// takes a commit, and the destination's next jobs need not wait for it.
	var release sync.Once
	free := func() { release.Do(func() { w.Release(job.Args.Destination) }) }
	defer free()
	now := time.Now()
	job.Attempt, job.AttemptedAt = 1, &now // as River's fetch would
	var err error
	if ctx.Err() != nil {
		err = ctx.Err() // stopping: not attempted
	} else {
		jctx, cancel := context.WithTimeout(ctx, w.Timeout(job))
		opts := w.mem.opts
		opts.sent = free
		err = w.work(jctx, job, opts)
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
