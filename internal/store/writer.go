package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
)

// The writer: group commit.
//
// Every write on the hot path (Accept, and the record of a delivery's
// outcome: Complete, Finish) goes through one goroutine owned by the
// Store. It takes whatever requests are waiting, up to maxBatch, and writes
// them in one transaction: one commit, one fsync, however many requests.
// Each caller is answered only after that commit, so "Accept returned
// means committed" holds as before; while a commit is on its way to disk
// the next requests queue up and become the next batch, so the batch grows
// with the load and nobody waits for a timer.
//
// Requests in one batch are independent: each Accept runs inside its own
// savepoint (when the batch has more than one request), so one that fails
// (ErrOutcomeChanged, a bad delivery) rolls back alone and the others
// commit. What can only fail for the whole batch (the River insert, the
// commit itself) fails every request of it, with nothing stored.
//
// After the commit the writer hands the jobs it leased (lease.go) to the
// Dispatcher for their first attempt from memory.

// maxBatch bounds one transaction: past a few hundred requests a batch
// saves nothing more and only delays its first caller.
const maxBatch = 256

// writeTimeout bounds one batch's work in the database.
const writeTimeout = 30 * time.Second

// errStoreClosed answers writes after Close.
var errStoreClosed = errors.New("store: closed")

// writeReq is one request to the writer: exactly one of accept, finish.
type writeReq struct {
	ctx    context.Context
	accept *acceptReq
	finish *finishReq
	done   chan writeRes // buffered: the writer never waits for its caller
}

type acceptReq struct {
	ev         EventRecord
	deliveries []Delivery
}

// finishReq records the end of a delivery attempt: the job's new state as
// River's own executor would set it.
type finishReq struct {
	id     int64
	leased bool // scheduled, attempted from memory; else running in a River worker
	params *riverdriver.JobSetStateIfRunningParams
}

type writeRes struct {
	acc Accepted
	err error
}

// write hands r to the writer and waits for its answer. Once the writer
// has taken r it always answers, after its batch committed or failed, so
// an error means r changed nothing, whatever ctx did meanwhile.
func (s *Store) write(ctx context.Context, r *writeReq) writeRes {
	r.ctx = ctx
	r.done = make(chan writeRes, 1)
	select {
	case s.writes <- r:
	case <-s.writerQuit:
		return writeRes{err: errStoreClosed}
	case <-ctx.Done():
		return writeRes{err: ctx.Err()}
	}
	return <-r.done
}

// startWriter starts the writer goroutine; stopWriter ends it after the
// batch in progress.
func (s *Store) startWriter() {
	s.writes = make(chan *writeReq)
	s.writerQuit = make(chan struct{})
	s.writerDone = make(chan struct{})
	go s.writer()
}

func (s *Store) stopWriter() {
	close(s.writerQuit)
	<-s.writerDone
}

func (s *Store) writer() {
	defer close(s.writerDone)
	batch := make([]*writeReq, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case r := <-s.writes:
			batch = append(batch, r)
		case <-s.writerQuit:
			return
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-s.writes:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.writeBatch(batch)
		clear(batch) // drop references to payloads until the next batch
	}
}

// writeBatch commits batch in one transaction and answers every request.
func (s *Store) writeBatch(batch []*writeReq) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	res := make([]writeRes, len(batch))
	leased, err := s.commitBatch(ctx, batch, res)
	for tries := 1; errors.Is(err, errCancelled) && tries < len(batch); tries++ {
		// A caller gave up while its request was being written: do the
		// batch again without it (commitBatch skips a request whose
		// context is done), so that a failed Accept never stored anything.
		clear(res)
		leased, err = s.commitBatch(ctx, batch, res)
	}
	if err == nil {
		// Before answering: once every caller has its answer, no dispatch
		// is still on its way (the server's shutdown relies on it).
		for _, job := range leased {
			s.dispatcher.Dispatch(job)
		}
	}
	for i, r := range batch {
		if err != nil && res[i].err == nil {
			res[i] = writeRes{err: err}
		}
		switch {
		case res[i].err == nil:
		case r.accept != nil:
			res[i].err = fmt.Errorf("store: accept: %w", res[i].err)
		default:
			res[i].err = fmt.Errorf("store: record job %d: %w", r.finish.id, res[i].err)
		}
		r.done <- res[i]
	}
}

// stagedAccept is an Accept written in the batch's transaction, waiting
// for its delivery jobs.
type stagedAccept struct {
	id         string
	requestID  string
	sending    []Delivery
	refs       []DeliveryRef
	suppressed []string
	// dup: the event repeats one stored before this batch (id and refs
	// are that event's). dupOf: it repeats the event of that request in
	// this batch; else -1.
	dup   bool
	dupOf int
}

// commitBatch writes every request of batch in one transaction. A
// request's own failure is in res; the error returned is the batch's.
func (s *Store) commitBatch(ctx context.Context, batch []*writeReq, res []writeRes) ([]*river.Job[DeliveryArgs], error) {
	tx, err := s.db.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.rollback(ctx) }() // no-op after a commit

	now := time.Now()
	savepoints := len(batch) > 1
	staged := make([]*stagedAccept, len(batch))
	inBatch := map[string]int{} // event id → index of the request that stored it
	var finishes []int
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			res[i].err = err
			continue
		}
		if r.finish != nil {
			finishes = append(finishes, i)
			continue
		}
		st, err := s.stageAccept(ctx, tx, r.accept, now, savepoints, inBatch)
		if errors.Is(err, errBatch) || (err != nil && !savepoints) {
			// Without a savepoint the request's writes can only be undone
			// with the transaction; it is alone in it.
			return nil, err
		}
		if err != nil {
			res[i].err = err
			continue
		}
		switch {
		case st.dup:
			res[i].acc = Accepted{EventID: st.id, Duplicate: true, Deliveries: st.refs}
		case st.dupOf < 0:
			inBatch[st.id] = i
			staged[i] = st
		default:
			staged[i] = st
		}
	}

	leased, err := s.insertDeliveries(ctx, tx, batch, staged, res, now)
	if err != nil {
		return nil, err
	}
	if err := s.finishJobs(ctx, tx, batch, finishes, res, now); err != nil {
		return nil, err
	}
	if s.beforeCommit != nil {
		if err := s.beforeCommit(); err != nil {
			return nil, err
		}
	}
	for i, r := range batch {
		if res[i].err == nil && r.ctx.Err() != nil {
			if len(batch) == 1 {
				return nil, r.ctx.Err()
			}
			return nil, errCancelled
		}
	}
	if err := tx.commit(ctx); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return leased, nil
}

// errCancelled: a request's caller gave up before the commit; the batch
// is written again without it.
var errCancelled = errors.New("a request was cancelled")

// errBatch marks an error that leaves the transaction unusable: the whole
// batch fails.
var errBatch = errors.New("batch failed")

// stageAccept writes one Accept's event, dedup claim, outcome and message
// claims, inside a savepoint when others share the transaction.
func (s *Store) stageAccept(ctx context.Context, tx txn, a *acceptReq, now time.Time, savepoint bool, inBatch map[string]int) (*stagedAccept, error) {
	if savepoint {
		if _, err := tx.exec(ctx, `SAVEPOINT accept`); err != nil {
			return nil, fmt.Errorf("%w: savepoint: %w", errBatch, err)
		}
	}
	st, err := s.stage(ctx, tx, a, now, inBatch)
	if !savepoint {
		return st, err
	}
	if err != nil {
		if _, rerr := tx.exec(ctx, `ROLLBACK TO SAVEPOINT accept`); rerr != nil {
			return nil, fmt.Errorf("%w: rollback to savepoint: %w (after %w)", errBatch, rerr, err)
		}
	}
	if _, rerr := tx.exec(ctx, `RELEASE SAVEPOINT accept`); rerr != nil {
		return nil, fmt.Errorf("%w: release savepoint: %w", errBatch, rerr)
	}
	return st, err
}

// stage is Accept's work up to its delivery jobs. A duplicate of an event
// stored earlier comes back with its refs set (and nothing written); one
// of an event earlier in this batch with dupOf set.
func (s *Store) stage(ctx context.Context, tx txn, a *acceptReq, now time.Time, inBatch map[string]int) (*stagedAccept, error) {
	ev := a.ev
	id, err := newEventID()
	if err != nil {
		return nil, err
	}
	st := &stagedAccept{id: id, requestID: ev.RequestID, dupOf: -1}
	if ev.DedupKey != "" {
		owner, dup, err := s.claimDedupKey(ctx, tx, ev, id, now)
		if err != nil {
			return nil, err
		}
		if dup {
			if i, ok := inBatch[owner]; ok {
				return &stagedAccept{id: owner, dupOf: i}, nil
			}
			refs, err := deliveriesOf(ctx, tx, owner)
			if err != nil {
				return nil, err
			}
			return &stagedAccept{id: owner, refs: refs, dup: true, dupOf: -1}, nil
		}
	}
	if err := s.insertEvent(ctx, tx, ev, id, now); err != nil {
		return nil, err
	}
	if ev.Outcome != nil {
		if err := s.applyOutcome(ctx, tx, ev.Outcome, id, now); err != nil {
			return nil, err
		}
	}
	keep, err := s.claimMessages(ctx, tx, a.deliveries, now)
	if err != nil {
		return nil, err
	}
	st.sending = make([]Delivery, 0, len(a.deliveries))
	for i, d := range a.deliveries {
		if keep[i] {
			st.sending = append(st.sending, d)
		} else {
			st.suppressed = append(st.suppressed, d.Destination)
		}
	}
	return st, nil
}

// insertDeliveries inserts the delivery jobs of every staged Accept with
// one River insert, records which event each belongs to, and fills in the
// answers. Jobs the dispatcher has room for are leased to it.
func (s *Store) insertDeliveries(ctx context.Context, tx txn, batch []*writeReq, staged []*stagedAccept, res []writeRes, now time.Time) ([]*river.Job[DeliveryArgs], error) {
	var params []river.InsertManyParams
	var owners []int // request index of each job
	room := 0
	if s.dispatcher != nil && s.working.Load() {
		room = s.dispatcher.Room()
	}
	for i, st := range staged {
		if st == nil || st.dupOf >= 0 {
			continue
		}
		for _, d := range st.sending {
			p := river.InsertManyParams{Args: DeliveryArgs{EventID: st.id, Destination: d.Destination, Payload: d.Payload, MaxAttempts: d.MaxAttempts, RequestID: st.requestID}}
			opts := &river.InsertOpts{MaxAttempts: d.MaxAttempts}
			if len(owners) < room {
				opts.ScheduledAt = now.Add(s.cfg.RescueAfter)
				opts.Metadata = leaseMetadata
			}
			if opts.MaxAttempts > 0 || !opts.ScheduledAt.IsZero() {
				p.InsertOpts = opts
			}
			params = append(params, p)
			owners = append(owners, i)
		}
	}
	var leased []*river.Job[DeliveryArgs]
	if len(params) > 0 {
		results, err := tx.insertJobs(ctx, params)
		if err != nil {
			return nil, fmt.Errorf("enqueue deliveries: %w", err)
		}
		if len(results) != len(params) {
			return nil, fmt.Errorf("enqueued %d of %d deliveries", len(results), len(params))
		}
		for k, r := range results {
			st := staged[owners[k]]
			st.refs = append(st.refs, DeliveryRef{ID: r.Job.ID, Destination: st.sending[len(st.refs)].Destination})
			if k < room {
				leased = append(leased, &river.Job[DeliveryArgs]{JobRow: r.Job, Args: params[k].Args.(DeliveryArgs)})
			}
		}
		if err := recordDeliveries(ctx, tx, staged); err != nil {
			return nil, err
		}
	}
	for i, st := range staged {
		if st == nil {
			continue
		}
		if st.dupOf >= 0 {
			owner := staged[st.dupOf]
			res[i].acc = Accepted{EventID: owner.id, Duplicate: true, Deliveries: nonNilRefs(owner.refs)}
			continue
		}
		res[i].acc = Accepted{EventID: st.id, Deliveries: nonNilRefs(st.refs), Suppressed: st.suppressed}
	}
	return leased, nil
}

func nonNilRefs(r []DeliveryRef) []DeliveryRef {
	if r == nil {
		return []DeliveryRef{}
	}
	return r
}

// recordDeliveries writes the event → job rows of every staged Accept, a
// few hundred rows per statement.
func recordDeliveries(ctx context.Context, tx txn, staged []*stagedAccept) error {
	const perStatement = 200 // 800 arguments: far below either database's limit
	var (
		sb   strings.Builder
		args []any
	)
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		if _, err := tx.exec(ctx, `INSERT INTO event_deliveries (event_id, position, job_id, destination) VALUES `+sb.String(), args...); err != nil {
			return fmt.Errorf("record delivery: %w", err)
		}
		sb.Reset()
		args = args[:0]
		return nil
	}
	for _, st := range staged {
		if st == nil || st.dupOf >= 0 {
			continue
		}
		for pos, ref := range st.refs {
			if len(args) > 0 {
				sb.WriteString(", ")
			}
			n := len(args)
			fmt.Fprintf(&sb, "($%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4)
			args = append(args, st.id, pos, ref.ID, ref.Destination)
			if len(args) >= 4*perStatement {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	return flush()
}

// finishJobs records the outcome of the attempts in finishes: jobs
// attempted from memory are first marked running, as River marks a job it
// fetches, then every job gets its new state through River's driver, in
// one statement.
func (s *Store) finishJobs(ctx context.Context, tx txn, batch []*writeReq, finishes []int, res []writeRes, now time.Time) error {
	if len(finishes) == 0 {
		return nil
	}
	var leasedIDs []int64
	for _, i := range finishes {
		if f := batch[i].finish; f.leased {
			leasedIDs = append(leasedIDs, f.id)
		}
	}
	taken := map[int64]bool{}
	if len(leasedIDs) > 0 {
		ids, err := takeLeased(ctx, tx, s.db.timeArg(now), leasedIDs)
		if err != nil {
			return err
		}
		for _, id := range ids {
			taken[id] = true
		}
	}
	var params []*riverdriver.JobSetStateIfRunningParams
	for _, i := range finishes {
		f := batch[i].finish
		if f.leased && !taken[f.id] {
			res[i].err = errLeaseLost
			continue
		}
		params = append(params, f.params)
	}
	if len(params) == 0 {
		return nil
	}
	rows, err := tx.setStates(ctx, params, now)
	if err != nil {
		return fmt.Errorf("set job states: %w", err)
	}
	set := make(map[int64]bool, len(rows))
	for _, r := range rows {
		set[r.ID] = true
	}
	for _, i := range finishes {
		if f := batch[i].finish; res[i].err == nil && !set[f.id] {
			res[i].err = errNotRunning
		}
	}
	return nil
}

var (
	errLeaseLost  = errors.New("job no longer leased to this process")
	errNotRunning = errors.New("job not running")
)

// takeLeased marks the leased jobs of ids running (attempt 1), as River
// does when it fetches a job, and returns those it found still leased.
func takeLeased(ctx context.Context, tx txn, now any, ids []int64) ([]int64, error) {
	var sb strings.Builder
	args := make([]any, 0, len(ids)+1)
	args = append(args, now)
	for i, id := range ids {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "$%d", i+2)
		args = append(args, id)
	}
	rows, err := tx.query(ctx, `
UPDATE river_job SET state = 'running', attempt = attempt + 1, attempted_at = $1
WHERE state = 'scheduled' AND id IN (`+sb.String()+`)
RETURNING id`, args...)
	if err != nil {
		return nil, fmt.Errorf("take leased jobs: %w", err)
	}
	defer rows.Close()
	var got []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("take leased jobs: %w", err)
		}
		got = append(got, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("take leased jobs: %w", err)
	}
	return got, nil
}

// setStateMany is River's JobSetStateIfRunningMany for params.
func setStateMany(params []*riverdriver.JobSetStateIfRunningParams, schema string, now time.Time) *riverdriver.JobSetStateIfRunningManyParams {
	m := &riverdriver.JobSetStateIfRunningManyParams{Now: &now, Schema: schema}
	for _, p := range params {
		m.ID = append(m.ID, p.ID)
		m.Attempt = append(m.Attempt, p.Attempt)
		m.ErrData = append(m.ErrData, p.ErrData)
		m.FinalizedAt = append(m.FinalizedAt, p.FinalizedAt)
		m.MetadataDoMerge = append(m.MetadataDoMerge, p.MetadataDoMerge)
		m.MetadataUpdates = append(m.MetadataUpdates, p.MetadataUpdates)
		m.ScheduledAt = append(m.ScheduledAt, p.ScheduledAt)
		m.State = append(m.State, p.State)
	}
	return m
}
