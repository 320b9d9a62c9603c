package store

// Dead letters, replay and retention: the delivery jobs as an operator sees
// them. Everything about River's jobs goes through River's client API
// (JobList, JobGet, JobRetry, JobDeleteMany) rather than SQL on river_job, so
// it works unchanged on every driver River supports; only our own tables
// (events, event_dedup, event_deliveries) are queried directly.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/herald-ci/herald/internal/notify"
)

// The states herald reports for a delivery, each a set of River job states.
const (
	// DeliveryPending: waiting for its first attempt or a retry, or being
	// attempted now (River: available, scheduled, retryable, running,
	// pending).
	DeliveryPending = "pending"
	// DeliveryDelivered: the platform accepted it (River: completed).
	DeliveryDelivered = "delivered"
	// DeliveryFailed: a final error (Slack's 400, an unknown destination,
	// still throttled at the maximum age); never retried on its own (River:
	// cancelled).
	DeliveryFailed = "failed"
	// DeliveryDead: every attempt failed (River: discarded).
	DeliveryDead = "dead"
)

// DeliveryStates lists the states in the order they are documented.
var DeliveryStates = []string{DeliveryPending, DeliveryDelivered, DeliveryFailed, DeliveryDead}

var riverStatesOf = map[string][]rivertype.JobState{
	DeliveryPending: {
		rivertype.JobStateAvailable, rivertype.JobStateScheduled, rivertype.JobStateRetryable,
		rivertype.JobStateRunning, rivertype.JobStatePending,
	},
	DeliveryDelivered: {rivertype.JobStateCompleted},
	DeliveryFailed:    {rivertype.JobStateCancelled},
	DeliveryDead:      {rivertype.JobStateDiscarded},
}

// DeliveryStateOf maps a River job state to herald's.
func DeliveryStateOf(s rivertype.JobState) string {
	for name, states := range riverStatesOf {
		if slices.Contains(states, s) {
			return name
		}
	}
	return string(s)
}

// Errors of the delivery inspection and replay methods.
var (
	ErrDeliveryNotFound = errors.New("delivery not found")
	ErrNotRetryable     = errors.New("delivery is not failed or dead")
	ErrBadCursor        = errors.New("invalid cursor")
)

// Limits of ListDeliveries.
const (
	DefaultDeliveryListLimit = 50
	MaxDeliveryListLimit     = 500
)

// DeliveryFilter selects deliveries for ListDeliveries and RetryDeliveries.
type DeliveryFilter struct {
	State       string // one of DeliveryStates; empty: all
	Destination string // configured destination name; empty: all
	Limit       int    // page size; 0: DefaultDeliveryListLimit
	Cursor      string // NextCursor of the previous page; empty: the first page
}

// DeliveryAttempt is one failed attempt as River recorded it.
type DeliveryAttempt struct {
	Attempt int
	At      time.Time
	// Error is the worker's error: status and a short body excerpt, never
	// the destination URL (adapters redact it).
	Error string
}

// DeliveryInfo is one delivery job. Newest first in lists.
type DeliveryInfo struct {
	ID          int64
	EventID     string
	Destination string
	State       string // herald's: DeliveryPending...
	RiverState  string
	Attempts    int
	MaxAttempts int
	CreatedAt   time.Time
	// LastAttemptAt is zero if never attempted.
	LastAttemptAt time.Time
	// NextAttemptAt is when a pending delivery is due; zero otherwise.
	NextAttemptAt time.Time
	// FinalizedAt is zero while pending.
	FinalizedAt time.Time
	LastError   string
	// Reason says why a failed or dead delivery stopped; empty otherwise.
	Reason string

	// Set by GetDelivery only.
	Errors  []DeliveryAttempt
	Payload notify.Payload
}

// DeliveryPage is one page of ListDeliveries.
type DeliveryPage struct {
	Deliveries []DeliveryInfo
	// NextCursor fetches the next page; empty when this page is the last.
	NextCursor string
}

// jobQueue is the part of River's client the delivery API needs beyond the
// store's queue. Every River client has it, whatever its driver: none of
// these methods depend on the driver's transaction type.
type jobQueue interface {
	JobGet(ctx context.Context, id int64) (*rivertype.JobRow, error)
	JobRetry(ctx context.Context, id int64) (*rivertype.JobRow, error)
	JobDeleteMany(ctx context.Context, params *river.JobDeleteManyParams) (*river.JobDeleteManyResult, error)
	PeriodicJobs() *river.PeriodicJobBundle
}

var _ jobQueue = (*river.Client[*sql.Tx])(nil)

func (s *Store) jobs() (jobQueue, error) {
	q, ok := s.client.(jobQueue)
	if !ok {
		return nil, fmt.Errorf("store: the queue (%T) cannot inspect or retry jobs", s.client)
	}
	return q, nil
}

func checkFilter(f DeliveryFilter) ([]rivertype.JobState, error) {
	if f.State == "" {
		return nil, nil
	}
	states, ok := riverStatesOf[f.State]
	if !ok {
		return nil, fmt.Errorf("state %q is not one of %s", f.State, strings.Join(DeliveryStates, ", "))
	}
	return states, nil
}

// deliveryListParams is the River query for f, newest first.
func deliveryListParams(f DeliveryFilter, limit int) (*river.JobListParams, error) {
	states, err := checkFilter(f)
	if err != nil {
		return nil, err
	}
	p := river.NewJobListParams().
		Kinds(DeliveryArgs{}.Kind()).
		OrderBy(river.JobListOrderByID, river.SortOrderDesc).
		First(limit)
	if len(states) > 0 {
		p = p.States(states...)
	}
	if f.Destination != "" {
		// ->> with a plain key is the same on SQLite (3.38+) and PostgreSQL;
		// the value is a bound parameter.
		p = p.Where("args ->> 'destination' = @destination", river.NamedArgs{"destination": f.Destination})
	}
	if f.Cursor != "" {
		var c river.JobListCursor
		if err := c.UnmarshalText([]byte(f.Cursor)); err != nil {
			return nil, ErrBadCursor
		}
		p = p.After(&c)
	}
	return p, nil
}

// ListDeliveries returns one page of delivery jobs matching f, newest first.
// River keeps delivered jobs for its completed-job retention (24 h by
// default) and failed and dead ones a week.
func (s *Store) ListDeliveries(ctx context.Context, f DeliveryFilter) (DeliveryPage, error) {
	limit := f.Limit
	switch {
	case limit == 0:
		limit = DefaultDeliveryListLimit
	case limit < 0 || limit > MaxDeliveryListLimit:
		return DeliveryPage{}, fmt.Errorf("limit %d is not between 1 and %d", limit, MaxDeliveryListLimit)
	}
	p, err := deliveryListParams(f, limit)
	if err != nil {
		return DeliveryPage{}, err
	}
	res, err := s.client.JobList(ctx, p)
	if err != nil {
		return DeliveryPage{}, fmt.Errorf("store: list deliveries: %w", err)
	}
	page := DeliveryPage{Deliveries: make([]DeliveryInfo, 0, len(res.Jobs))}
	for _, j := range res.Jobs {
		d, _ := deliveryInfo(j) // a row that fails to decode still lists, with what River knows
		page.Deliveries = append(page.Deliveries, d)
	}
	if len(res.Jobs) == limit && res.LastCursor != nil {
		b, err := res.LastCursor.MarshalText()
		if err != nil {
			return DeliveryPage{}, fmt.Errorf("store: list deliveries: cursor: %w", err)
		}
		page.NextCursor = string(b)
	}
	return page, nil
}

// GetDelivery returns one delivery job with every attempt's error and its
// payload. ErrDeliveryNotFound if there is no such delivery job (or River
// already cleaned it up).
func (s *Store) GetDelivery(ctx context.Context, id int64) (DeliveryInfo, error) {
	q, err := s.jobs()
	if err != nil {
		return DeliveryInfo{}, err
	}
	j, err := q.JobGet(ctx, id)
	if err != nil {
		if errors.Is(err, rivertype.ErrNotFound) {
			return DeliveryInfo{}, ErrDeliveryNotFound
		}
		return DeliveryInfo{}, fmt.Errorf("store: delivery %d: %w", id, err)
	}
	if j.Kind != (DeliveryArgs{}).Kind() {
		return DeliveryInfo{}, ErrDeliveryNotFound
	}
	d, err := deliveryInfo(j)
	if err != nil {
		return d, fmt.Errorf("store: delivery %d: %w", id, err)
	}
	d.Errors = make([]DeliveryAttempt, len(j.Errors))
	for i, e := range j.Errors {
		// Trace is left out: a panic's stack is for logs, not the API.
		d.Errors[i] = DeliveryAttempt{Attempt: e.Attempt, At: e.At, Error: attemptError(e)}
	}
	return d, nil
}

// deliveryInfo reads a job row. It returns what it could read even when the
// args don't decode.
func deliveryInfo(j *rivertype.JobRow) (DeliveryInfo, error) {
	d := DeliveryInfo{
		ID:          j.ID,
		State:       DeliveryStateOf(j.State),
		RiverState:  string(j.State),
		Attempts:    j.Attempt,
		MaxAttempts: j.MaxAttempts,
		CreatedAt:   j.CreatedAt,
	}
	if j.AttemptedAt != nil {
		d.LastAttemptAt = *j.AttemptedAt
	}
	if j.FinalizedAt != nil {
		d.FinalizedAt = *j.FinalizedAt
	}
	if d.State == DeliveryPending && j.State != rivertype.JobStateRunning {
		d.NextAttemptAt = j.ScheduledAt
	}
	if n := len(j.Errors); n > 0 {
		d.LastError = attemptError(j.Errors[n-1])
	}
	switch d.State {
	case DeliveryFailed:
		d.Reason = "final error: not retried"
		if strings.HasPrefix(d.LastError, "unknown destination") {
			d.Reason = "unknown destination"
		}
	case DeliveryDead:
		d.Reason = "attempts exhausted: " + strconv.Itoa(j.Attempt) + " of " + strconv.Itoa(j.MaxAttempts)
	}
	var args DeliveryArgs
	if err := json.Unmarshal(j.EncodedArgs, &args); err != nil {
		return d, fmt.Errorf("decode args: %w", err)
	}
	d.EventID, d.Destination, d.Payload = args.EventID, args.Destination, args.Payload
	return d, nil
}

// attemptError is the worker's error as River recorded it, without the
// "JobCancelError: " River puts before the error of a cancelled job.
func attemptError(e rivertype.AttemptError) string {
	return strings.TrimPrefix(e.Error, "JobCancelError: ")
}

// RetryDelivery makes a failed or dead delivery available again at once. A
// failed one keeps its attempt count and limit; River gives a dead one
// (attempts exhausted) one more attempt. ErrNotRetryable for a pending or
// delivered one, ErrDeliveryNotFound for an unknown id.
//
// The state check and River's JobRetry are two statements: two operators
// retrying the same delivery in the same instant could both pass the check,
// and if the first retry had already been delivered by then, the second
// would send it again. Doing both in one transaction needs River's
// JobGetTx/JobRetryTx on the store's transaction type (a hook in the
// backend's txn).
func (s *Store) RetryDelivery(ctx context.Context, id int64) (DeliveryInfo, error) {
	q, err := s.jobs()
	if err != nil {
		return DeliveryInfo{}, err
	}
	j, err := q.JobGet(ctx, id)
	switch {
	case errors.Is(err, rivertype.ErrNotFound):
		return DeliveryInfo{}, ErrDeliveryNotFound
	case err != nil:
		return DeliveryInfo{}, fmt.Errorf("store: retry delivery %d: %w", id, err)
	case j.Kind != (DeliveryArgs{}).Kind():
		return DeliveryInfo{}, ErrDeliveryNotFound
	}
	if st := DeliveryStateOf(j.State); st != DeliveryFailed && st != DeliveryDead {
		d, _ := deliveryInfo(j)
		return d, fmt.Errorf("%w: it is %s", ErrNotRetryable, st)
	}
	j, err = q.JobRetry(ctx, id)
	if err != nil {
		return DeliveryInfo{}, fmt.Errorf("store: retry delivery %d: %w", id, err)
	}
	d, _ := deliveryInfo(j)
	return d, nil
}

// RetryDeliveries requeues every failed and dead delivery to destination
// (only those in state, if given: DeliveryFailed or DeliveryDead) and
// returns their ids, ascending. Destination is required: replaying
// everything at once is rarely meant. On error, the ids returned are those
// already requeued.
func (s *Store) RetryDeliveries(ctx context.Context, destination, state string) ([]int64, error) {
	if destination == "" {
		return nil, errors.New("destination is required")
	}
	states := []string{DeliveryFailed, DeliveryDead}
	if state != "" {
		if state != DeliveryFailed && state != DeliveryDead {
			return nil, fmt.Errorf("state %q is not one of %s, %s", state, DeliveryFailed, DeliveryDead)
		}
		states = []string{state}
	}
	var rs []rivertype.JobState
	for _, st := range states {
		rs = append(rs, riverStatesOf[st]...)
	}
	q, err := s.jobs()
	if err != nil {
		return nil, err
	}

	// Collect first, then requeue: requeued jobs leave the listed states,
	// which would shift a cursor taken while changing them.
	const page = 1000
	var ids []int64
	p := river.NewJobListParams().Kinds(DeliveryArgs{}.Kind()).States(rs...).
		Where("args ->> 'destination' = @destination", river.NamedArgs{"destination": destination}).
		OrderBy(river.JobListOrderByID, river.SortOrderAsc).First(page)
	for {
		res, err := s.client.JobList(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("store: retry deliveries: %w", err)
		}
		for _, j := range res.Jobs {
			ids = append(ids, j.ID)
		}
		if len(res.Jobs) < page {
			break
		}
		p = p.After(res.LastCursor)
	}

	done := make([]int64, 0, len(ids))
	for _, id := range ids {
		_, err := q.JobRetry(ctx, id)
		switch {
		case errors.Is(err, rivertype.ErrNotFound):
			continue // cleaned up meanwhile
		case err != nil:
			return done, fmt.Errorf("store: retry delivery %d: %w", id, err)
		}
		done = append(done, id)
	}
	return done, nil
}

// PruneResult counts what Prune deleted.
type PruneResult struct {
	Jobs   int // delivered River jobs
	Events int // events, with their delivery links and dedup records
	Dedup  int // expired dedup records of events still kept
	// MessageDedup counts expired dedup_window records (rules).
	MessageDedup int
}

// pruneBatch bounds the rows one Prune step handles.
const pruneBatch = 500

// Prune deletes what is older than retention (at least the dedup window):
//
//   - delivered (completed) delivery jobs finalized before it. River's
//     cleaner deletes them too, after its CompletedJobRetentionPeriod (24 h
//     unless the store is configured otherwise): whichever is shorter wins.
//   - events received before it none of whose delivery jobs is still
//     pending, failed or dead (those stay until delivered, replayed or
//     cleaned up by River, so an operator can trace them), together with
//     their delivery links and dedup records (ON DELETE CASCADE).
//   - dedup records that have expired (they no longer deduplicate anything).
func (s *Store) Prune(ctx context.Context, retention time.Duration) (PruneResult, error) {
	if retention <= 0 {
		return PruneResult{}, fmt.Errorf("store: prune: retention %s must be positive", retention)
	}
	q, err := s.jobs()
	if err != nil {
		return PruneResult{}, err
	}
	var res PruneResult
	now := time.Now()
	cutoff := now.Add(-retention)

	// Delivered jobs: oldest first, by River's API.
	for {
		list, err := s.client.JobList(ctx, river.NewJobListParams().Kinds(DeliveryArgs{}.Kind()).
			States(rivertype.JobStateCompleted).
			OrderBy(river.JobListOrderByFinalizedAt, river.SortOrderAsc).First(pruneBatch))
		if err != nil {
			return res, fmt.Errorf("store: prune jobs: %w", err)
		}
		var ids []int64
		for _, j := range list.Jobs {
			if j.FinalizedAt == nil || !j.FinalizedAt.Before(cutoff) {
				break
			}
			ids = append(ids, j.ID)
		}
		if len(ids) == 0 {
			break
		}
		del, err := q.JobDeleteMany(ctx, river.NewJobDeleteManyParams().IDs(ids...).
			States(rivertype.JobStateCompleted).First(len(ids)))
		if err != nil {
			return res, fmt.Errorf("store: prune jobs: %w", err)
		}
		res.Jobs += len(del.Jobs)
		if len(ids) < pruneBatch || len(del.Jobs) == 0 {
			break
		}
	}

	// Events: candidates by age from our table, the jobs' states from River.
	// An event's dedup record goes with it: never before its window ends.
	eventCutoff := now.Add(-max(retention, s.cfg.DedupWindow))
	after := ""
	for {
		n, last, err := s.pruneEvents(ctx, eventCutoff, after)
		res.Events += n
		if err != nil {
			return res, err
		}
		if last == "" {
			break
		}
		after = last
	}

	n, err := s.db.exec(ctx, `DELETE FROM event_dedup WHERE expires_at <= $1`, s.db.timeArg(now))
	res.Dedup = int(n)
	if err != nil {
		return res, fmt.Errorf("store: prune dedup: %w", err)
	}
	res.MessageDedup, err = s.PruneMessageDedup(ctx)
	return res, err
}

// pruneEvents handles one batch of events received before cutoff with ids
// after after (event ids sort by time). It returns how many it deleted and
// the last id it looked at, empty when there are no more.
func (s *Store) pruneEvents(ctx context.Context, cutoff time.Time, after string) (int, string, error) {
	r, err := s.db.query(ctx, `
SELECT e.id, d.job_id FROM events e LEFT JOIN event_deliveries d ON d.event_id = e.id
WHERE e.id IN (SELECT id FROM events WHERE received_at < $1 AND id > $2 ORDER BY id LIMIT $3)
ORDER BY e.id`, s.db.timeArg(cutoff), after, pruneBatch)
	if err != nil {
		return 0, "", fmt.Errorf("store: prune events: %w", err)
	}
	var (
		candidates []string
		jobOf      = map[int64]string{}
		jobIDs     []int64
	)
	for r.Next() {
		var (
			id  string
			job sql.NullInt64
		)
		if err := r.Scan(&id, &job); err != nil {
			r.Close()
			return 0, "", fmt.Errorf("store: prune events: %w", err)
		}
		if len(candidates) == 0 || candidates[len(candidates)-1] != id {
			candidates = append(candidates, id)
		}
		if job.Valid {
			jobOf[job.Int64] = id
			jobIDs = append(jobIDs, job.Int64)
		}
	}
	r.Close()
	if err := r.Err(); err != nil {
		return 0, "", fmt.Errorf("store: prune events: %w", err)
	}
	if len(candidates) == 0 {
		return 0, "", nil
	}
	last := candidates[len(candidates)-1]

	// Keep the events with a job River still holds and hasn't delivered.
	keep := map[string]bool{}
	unfinished := slices.DeleteFunc(rivertype.JobStates(), func(s rivertype.JobState) bool {
		return s == rivertype.JobStateCompleted
	})
	for chunk := range slices.Chunk(jobIDs, pruneBatch) {
		list, err := s.client.JobList(ctx, river.NewJobListParams().IDs(chunk...).States(unfinished...).First(len(chunk)))
		if err != nil {
			return 0, "", fmt.Errorf("store: prune events: %w", err)
		}
		for _, j := range list.Jobs {
			keep[jobOf[j.ID]] = true
		}
	}
	deleted := 0
	for _, id := range candidates {
		if keep[id] {
			continue
		}
		n, err := s.db.exec(ctx, `DELETE FROM events WHERE id = $1`, id)
		if err != nil {
			return deleted, "", fmt.Errorf("store: prune event %s: %w", id, err)
		}
		deleted += int(n)
	}
	return deleted, last, nil
}

// PruneArgs is the periodic River job that runs Prune. Stored jobs carry its
// kind: never rename.
type PruneArgs struct {
	Retention time.Duration `json:"retention"`
}

// Kind is the River job kind.
func (PruneArgs) Kind() string { return "herald_prune" }

// Pruner is the River worker of PruneArgs. It is registered with the
// workers before Open (RegisterPruner) and bound to the store after it
// (SchedulePrune), since the store is built from the workers.
type Pruner struct {
	river.WorkerDefaults[PruneArgs]
	store atomic.Pointer[Store]
}

var _ river.Worker[PruneArgs] = (*Pruner)(nil)

// RegisterPruner adds a Pruner to workers, the bundle passed to Open.
func RegisterPruner(workers *river.Workers) (*Pruner, error) {
	p := &Pruner{}
	if err := river.AddWorkerSafely(workers, p); err != nil {
		return nil, fmt.Errorf("store: register pruner: %w", err)
	}
	return p, nil
}

// Work prunes. A job worked before SchedulePrune bound the store (it can't
// be: the job is only enqueued by SchedulePrune) is cancelled.
func (p *Pruner) Work(ctx context.Context, job *river.Job[PruneArgs]) error {
	s := p.store.Load()
	if s == nil {
		return river.JobCancel(errors.New("pruner is not bound to a store"))
	}
	res, err := s.Prune(ctx, job.Args.Retention)
	if err != nil {
		return err
	}
	s.log.Info().Int("jobs", res.Jobs).Int("events", res.Events).Int("dedup", res.Dedup).
		Dur("retention", job.Args.Retention).Msg("pruned")
	return nil
}

// pruneEvery is how often Prune runs: a quarter of the retention, between a
// minute and an hour.
func pruneEvery(retention time.Duration) time.Duration {
	return min(time.Hour, max(time.Minute, retention/4))
}

// SchedulePrune binds p to s and makes River run Prune with retention
// periodically, once at start and then every quarter of the retention (at
// most hourly). River owns the schedule: it runs on the elected leader while
// the store is started and stops with Stop or Close. The store must have
// been opened with the workers p was registered in.
func (s *Store) SchedulePrune(p *Pruner, retention time.Duration) error {
	if retention <= 0 {
		return fmt.Errorf("store: prune: retention %s must be positive", retention)
	}
	jobs, err := s.periodicJobs()
	if err != nil {
		return fmt.Errorf("store: prune: %w", err)
	}
	p.store.Store(s)
	_, err = jobs.AddSafely(river.NewPeriodicJob(
		river.PeriodicInterval(pruneEvery(retention)),
		func() (river.JobArgs, *river.InsertOpts) {
			return PruneArgs{Retention: retention}, &river.InsertOpts{MaxAttempts: 3}
		},
		&river.PeriodicJobOpts{ID: PruneArgs{}.Kind(), RunOnStart: true},
	))
	if err != nil {
		return fmt.Errorf("store: prune: %w", err)
	}
	return nil
}

// periodicJobs is River's periodic job bundle. River panics when asked for it
// on a client without workers; that is an error here.
func (s *Store) periodicJobs() (b *river.PeriodicJobBundle, err error) {
	q, err := s.jobs()
	if err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("the store was opened without workers")
		}
	}()
	return q.PeriodicJobs(), nil
}
