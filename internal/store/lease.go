package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
)

// First attempts from memory.
//
// River finds new work by polling and notifications and records each
// result in a transaction of its own, which costs several writes and up to
// a fetch interval per message. A delivery job this process has just
// committed does not need to be found: its payload is in memory. So when a
// Dispatcher is set and the workers run, Accept stores each job *leased*:
// state scheduled, due RescueAfter from now (the time River would also
// leave a running job alone), with leaseMetadata. Right after the commit
// the writer hands the job to the Dispatcher, which makes the first attempt
// and reports it with Finish (or Complete on success): the job is marked
// running and then given its state exactly as River's executor would
// (completed, retryable with the worker's backoff, snoozed, cancelled,
// discarded), batched with the other writes. River remains the safety net
// and the retry engine:
//
//   - the process dies with a job leased: on SQLite the next Open makes
//     leased jobs available at once (reclaimOrphans); on PostgreSQL another
//     replica's River takes it when the lease runs out, as it would take a
//     job stuck running;
//   - the first attempt fails: the job is retryable like any other and
//     River makes the next attempt;
//   - the dispatcher has no place for the job (a burst, or a destination
//     slower than its queue: Reserve): the job is stored available, for
//     River's workers, as without a dispatcher, and the destination's
//     later jobs follow it there until River has made their first
//     attempts (Spill), so that they are not sent before it.
//
// A duplicate is possible in the same window as before: the platform
// answered and the process died before the batch recording it committed.

// leaseMetadata marks a job stored leased. Finish clears it (false), so a
// leased job's later snoozes and retries are River's like any other's.
var (
	leaseMetadata      = []byte(`{"herald_lease":true}`)
	leaseEndedMetadata = []byte(`{"herald_lease":false}`)
)

// Dispatcher takes jobs just committed for their first attempt.
type Dispatcher interface {
	// Reserve claims a place for a first attempt of a job for the
	// destination, before the job is stored; false: the job goes to
	// River's workers instead (the pool is full, or the destination has
	// as many jobs waiting in memory as can start soon, or jobs in
	// River's queue that must go first).
	Reserve(destination string) bool
	// Release gives back a place reserved for a job that was not stored
	// after all (its batch failed).
	Release(destination string)
	// Dispatch hands over a committed job whose place was reserved. It
	// must not block.
	Dispatch(job *river.Job[DeliveryArgs])
	// Spill tells of a committed job for the destination that went to
	// River's workers: the destination's next jobs must not overtake it.
	Spill(destination string)
}

// DispatchTo makes Accept lease jobs to d while the workers run (between
// Start and Stop). Call it before Start.
func (s *Store) DispatchTo(d Dispatcher) { s.dispatcher = d }

// Leased reports whether job was handed to the Dispatcher rather than
// fetched by River.
func Leased(job *river.Job[DeliveryArgs]) bool {
	return job.State == rivertype.JobStateScheduled
}

// Complete records a delivery job as completed, in the writer's next batch
// (writer.go), before returning. River would otherwise record it later,
// in a batch of its own: a crash in between would make herald send every
// message of that batch again. This keeps the promise that only a message
// whose platform answer arrived and whose record had not committed yet can
// be sent twice. A job run by River's worker is completed as River's
// JobCompleteTx does; River's own completion afterwards changes nothing. A
// leased job (Leased) is completed as Finish(nil) would.
func (s *Store) Complete(ctx context.Context, job *river.Job[DeliveryArgs]) error {
	if Leased(job) {
		return s.Finish(ctx, job, nil, time.Time{})
	}
	// Run by River's worker: its own small transaction, as River's
	// JobCompleteTx, which also spares River's executor recording it again.
	tx, err := s.db.begin(ctx)
	if err != nil {
		return fmt.Errorf("store: complete job %d: %w", job.ID, err)
	}
	defer func() { _ = tx.rollback(ctx) }()
	if err := tx.completeDelivery(ctx, job); err != nil {
		return fmt.Errorf("store: complete job %d: %w", job.ID, err)
	}
	if err := tx.commit(ctx); err != nil {
		return fmt.Errorf("store: complete job %d: %w", job.ID, err)
	}
	return nil
}

// Finish records the outcome of a leased job's first attempt: err is what
// the worker returned (nil, river.JobSnooze, river.JobCancel, a shutdown's
// context error, any other error) and nextRetry when a retryable error's
// next attempt is due. A job River runs is River's to record (Complete
// for its successes).
func (s *Store) Finish(ctx context.Context, job *river.Job[DeliveryArgs], err error, nextRetry time.Time) error {
	if !Leased(job) {
		return errors.New("store: finish: a job River runs is River's to record")
	}
	f := &finishReq{id: job.ID}
	if err != nil {
		params, perr := finishParams(job, err, nextRetry, time.Now())
		if perr != nil {
			return fmt.Errorf("store: record job %d: %w", job.ID, perr)
		}
		f.params = params
	}
	return s.write(ctx, &writeReq{finish: f}).err
}

// River fetches due jobs by priority, then due time, then id. A delivery
// is stored at deliveryPriority; one that has already waited (snoozed for
// its turn, or failed and waiting for its retry) is moved to
// waitedPriority, so that when it is due it is fetched before the jobs
// that arrived after it. Without this, under a backlog at a slow
// destination, River fetched the newer jobs first (due at their insert,
// earlier than the end of an older job's snooze); they could only snooze
// behind the older job, which came back late and held up its URL
// (bench/README.md).
const (
	waitedPriority   = 1
	deliveryPriority = 2
)

// Prioritize moves a job that waited (it snoozed or failed and will be
// attempted again) ahead of the jobs that arrived after it in River's
// fetch order.
func (s *Store) Prioritize(ctx context.Context, id int64) error {
	return s.write(ctx, &writeReq{prioritize: id}).err
}

// riverSchedulerInterval is River's scheduler interval (its default): a
// job due sooner is made available at once, as River's executor does.
const riverSchedulerInterval = 5 * time.Second

// finishParams is the state River's executor would give job for err
// (not nil: a delivery is completed by finishJobs itself).
func finishParams(job *river.Job[DeliveryArgs], err error, nextRetry, now time.Time) (*riverdriver.JobSetStateIfRunningParams, error) {
	var (
		snooze *rivertype.JobSnoozeError
		cancel *rivertype.JobCancelError
	)
	attempt := max(job.Attempt, 1)
	switch {
	case errors.As(err, &snooze):
		var meta map[string]any
		if len(job.Metadata) > 0 {
			_ = json.Unmarshal(job.Metadata, &meta)
		}
		n, _ := meta["snoozes"].(float64)
		upd, merr := json.Marshal(map[string]any{"snoozes": int(n) + 1, "herald_lease": false})
		if merr != nil {
			return nil, merr
		}
		at := now.Add(snooze.Duration)
		if snooze.Duration <= riverSchedulerInterval {
			return riverdriver.JobSetStateSnoozedAvailable(job.ID, at, attempt-1, upd), nil
		}
		return riverdriver.JobSetStateSnoozed(job.ID, at, attempt-1, upd), nil
	case errors.Is(err, context.Canceled):
		// Cut short by shutdown: available again, the attempt not counted.
		return riverdriver.JobSetStateInterrupted(job.ID, now, attempt-1, leaseEndedMetadata), nil
	}
	errData, merr := json.Marshal(rivertype.AttemptError{At: now, Attempt: attempt, Error: err.Error()})
	if merr != nil {
		return nil, merr
	}
	switch {
	case errors.As(err, &cancel):
		return riverdriver.JobSetStateCancelled(job.ID, now, errData, leaseEndedMetadata), nil
	case attempt >= job.MaxAttempts:
		return riverdriver.JobSetStateDiscarded(job.ID, now, errData, leaseEndedMetadata), nil
	case nextRetry.Sub(now) <= riverSchedulerInterval:
		return riverdriver.JobSetStateErrorAvailable(job.ID, nextRetry, errData, leaseEndedMetadata), nil
	}
	return riverdriver.JobSetStateErrorRetryable(job.ID, nextRetry, errData, leaseEndedMetadata), nil
}
