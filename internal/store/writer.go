package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
)

// The writer: group commit.
//
// Every write on the hot path (Accept, and the record of a delivery's
// outcome: Complete, Finish) goes through the writer goroutines owned by
// the Store (one on SQLite, a few on PostgreSQL: backend.writers). Each
// takes whatever requests are waiting, up to maxBatch, and writes them in
// one transaction: one commit, one fsync, however many requests.
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

// maxBatchRetries bounds how often one batch is written again (see
// writeBatch).
const maxBatchRetries = 5

// writeTimeout bounds one batch's work in the database.
const writeTimeout = 30 * time.Second

// errStoreClosed answers writes after Close.
var errStoreClosed = errors.New("store: closed")

// writeReq is one request to the writer: exactly one of accept, finish,
// prioritize.
type writeReq struct {
	ctx        context.Context
	accept     *acceptReq
	finish     *finishReq
	prioritize int64         // a job id (Prioritize)
	done       chan writeRes // buffered: the writer never waits for its caller
}

type acceptReq struct {
	ev         EventRecord
	deliveries []Delivery
}

// finishReq records the end of a leased job's first attempt (lease.go):
// completed, or (params) the job's new state as River's own executor
// would set it.
type finishReq struct {
	id     int64
	params *riverdriver.JobSetStateIfRunningParams // nil: delivered
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
	for range s.db.writers() {
		s.writerWG.Add(1)
		go s.writer()
	}
}

func (s *Store) stopWriter() {
	close(s.writerQuit)
	s.writerWG.Wait()
}

func (s *Store) writer() {
	defer s.writerWG.Done()
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
	for tries := 1; tries <= maxBatchRetries && (errors.Is(err, errCancelled) || s.db.conflict(err)); tries++ {
		// A caller gave up while its request was being written: do the
		// batch again without it (commitBatch skips a request whose
		// context is done), so that a failed Accept never stored anything.
		// Or the database chose this batch to break a deadlock with
		// another writer's: do it again as it was.
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
	var prioritized []int64
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			res[i].err = err
			continue
		}
		if r.finish != nil {
			finishes = append(finishes, i)
			continue
		}
		if r.prioritize != 0 {
			prioritized = append(prioritized, r.prioritize)
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

	leased, spilled, err := s.insertDeliveries(ctx, tx, batch, staged, res, now)
	if err != nil {
		return nil, err
	}
	committed := false
	defer func() {
		if !committed {
			for _, j := range leased {
				s.dispatcher.Release(j.Args.Destination)
			}
		}
	}()
	if err := s.finishJobs(ctx, tx, batch, finishes, res, now); err != nil {
		return nil, err
	}
	if len(prioritized) > 0 {
		in := make([]string, len(prioritized))
		args := make([]any, len(prioritized))
		for i, id := range prioritized {
			in[i], args[i] = fmt.Sprintf("$%d", i+1), id
		}
		if _, err := tx.exec(ctx, fmt.Sprintf(`UPDATE river_job SET priority = %d WHERE id IN (%s)`, waitedPriority, strings.Join(in, ", ")), args...); err != nil {
			return nil, fmt.Errorf("prioritize jobs: %w", err)
		}
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
	committed = true
	for _, d := range spilled {
		s.dispatcher.Spill(d)
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

// insertDeliveries inserts the delivery jobs of every staged Accept,
// records which event each belongs to, and fills in the answers. Jobs the
// dispatcher reserves a place for are leased to it (insertLeased); the
// others go through River's insert, for River's workers, as without a
// dispatcher. Once a destination's job goes to River, its later jobs in
// the batch do too: leased jobs get the smaller ids, and ids are the order
// of first attempts.
func (s *Store) insertDeliveries(ctx context.Context, tx txn, batch []*writeReq, staged []*stagedAccept, res []writeRes, now time.Time) (leased []*river.Job[DeliveryArgs], spilled []string, err error) {
	var toLease, toRiver []newJob
	n := 0
	canLease := s.dispatcher != nil && s.working.Load()
	full := map[string]bool{}
	for i, st := range staged {
		if st == nil || st.dupOf >= 0 {
			continue
		}
		for _, d := range st.sending {
			j := newJob{owner: i, pos: n, args: DeliveryArgs{
				EventID: st.id, Destination: d.Destination, Payload: d.Payload, MaxAttempts: d.MaxAttempts, RequestID: st.requestID,
			}}
			n++
			if canLease && !full[d.Destination] && s.dispatcher.Reserve(d.Destination) {
				toLease = append(toLease, j)
				continue
			}
			full[d.Destination] = true
			toRiver = append(toRiver, j)
		}
	}
	defer func() {
		if err != nil {
			for _, j := range toLease {
				s.dispatcher.Release(j.args.Destination)
			}
		}
	}()
	leased, err = s.insertLeased(ctx, tx, toLease, now)
	if err != nil {
		return nil, nil, err
	}
	ids := make([]int64, n)
	for k, j := range leased {
		ids[toLease[k].pos] = j.ID
	}
	if len(toRiver) > 0 {
		params := make([]river.InsertManyParams, len(toRiver))
		for k, j := range toRiver {
			params[k] = river.InsertManyParams{Args: j.args, InsertOpts: &river.InsertOpts{MaxAttempts: j.args.MaxAttempts, Priority: deliveryPriority}}
		}
		results, err := tx.insertJobs(ctx, params)
		if err != nil {
			return nil, nil, fmt.Errorf("enqueue deliveries: %w", err)
		}
		if len(results) != len(params) {
			return nil, nil, fmt.Errorf("enqueued %d of %d deliveries", len(results), len(params))
		}
		for k, r := range results {
			ids[toRiver[k].pos] = r.Job.ID
			if canLease {
				spilled = append(spilled, toRiver[k].args.Destination)
			}
		}
	}
	pos := 0
	for i, st := range staged {
		if st == nil || st.dupOf >= 0 {
			continue
		}
		for _, d := range st.sending {
			staged[i].refs = append(staged[i].refs, DeliveryRef{ID: ids[pos], Destination: d.Destination})
			pos++
		}
	}
	if err := recordDeliveries(ctx, tx, staged); err != nil {
		return nil, nil, err
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
	return leased, spilled, nil
}

// newJob is a delivery job to insert, and the index in the batch of the
// request it belongs to.
type newJob struct {
	owner int
	pos   int // in the batch's jobs, in order
	args  DeliveryArgs
}

// insertLeased inserts leased jobs (lease.go) with a multi-row insert of
// our own rather than River's: River's checks and notifications are for
// jobs its workers should find, and these are due only when their lease
// runs out. The row is what River's insert would write (its defaults for
// queue, priority and tags) in state scheduled, with the lease mark.
func (s *Store) insertLeased(ctx context.Context, tx txn, jobs []newJob, now time.Time) ([]*river.Job[DeliveryArgs], error) {
	const perStatement = 100 // 500 arguments
	due := now.Add(s.cfg.RescueAfter)
	out := make([]*river.Job[DeliveryArgs], 0, len(jobs))
	var sb strings.Builder
	for len(jobs) > 0 {
		chunk := jobs[:min(perStatement, len(jobs))]
		jobs = jobs[len(chunk):]
		sb.Reset()
		args := make([]any, 0, 3+2*len(chunk))
		args = append(args, string(leaseMetadata), s.db.timeArg(due), s.db.timeArg(now))
		rows := make([]*rivertype.JobRow, len(chunk))
		for k, j := range chunk {
			encoded, err := json.Marshal(j.args)
			if err != nil {
				return nil, fmt.Errorf("encode delivery job: %w", err)
			}
			maxAttempts := cmp.Or(j.args.MaxAttempts, s.cfg.MaxAttempts)
			if k > 0 {
				sb.WriteString(", ")
			}
			n := len(args)
			fmt.Fprintf(&sb, "(%s, 'delivery', $%d, %s, %d, 'scheduled', $2, $3)", jsonParam(s.db.dialect(), n+1), n+2, jsonParam(s.db.dialect(), 1), deliveryPriority)
			args = append(args, string(encoded), maxAttempts)
			rows[k] = &rivertype.JobRow{
				EncodedArgs: encoded, Kind: DeliveryArgs{}.Kind(), MaxAttempts: maxAttempts,
				Metadata: leaseMetadata, Priority: deliveryPriority, Queue: river.QueueDefault,
				State: rivertype.JobStateScheduled, CreatedAt: now, ScheduledAt: due,
			}
		}
		ids, err := queryIDs(ctx, tx, `
INSERT INTO river_job (args, kind, max_attempts, metadata, priority, state, scheduled_at, created_at)
VALUES `+sb.String()+` RETURNING id`, args...)
		if err != nil {
			return nil, fmt.Errorf("enqueue deliveries: %w", err)
		}
		if len(ids) != len(chunk) {
			return nil, fmt.Errorf("enqueued %d of %d deliveries", len(ids), len(chunk))
		}
		// One statement's rows take increasing ids in the order of its
		// VALUES (SQLite's AUTOINCREMENT, PostgreSQL's sequence called row
		// by row); RETURNING promises no order.
		slices.Sort(ids)
		for k, r := range rows {
			r.ID = ids[k]
			out = append(out, &river.Job[DeliveryArgs]{JobRow: r, Args: chunk[k].args})
		}
	}
	return out, nil
}

// queryIDs runs a statement returning one id column.
func queryIDs(ctx context.Context, tx txn, q string, args ...any) ([]int64, error) {
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
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

// finishJobs records the outcome of the leased jobs' attempts in
// finishes. Deliveries (the common case) are completed with one statement,
// as River's JobCompleteTx would complete each. Failures are first marked
// running, as River marks a job it fetches, then given their new state by
// River's driver.
func (s *Store) finishJobs(ctx context.Context, tx txn, batch []*writeReq, finishes []int, res []writeRes, now time.Time) error {
	if len(finishes) == 0 {
		return nil
	}
	ts := s.db.timeArg(now)
	var done, failed []int64
	for _, i := range finishes {
		if f := batch[i].finish; f.params != nil {
			failed = append(failed, f.id)
		} else {
			done = append(done, f.id)
		}
	}
	updated := map[int64]bool{}
	for _, u := range []struct {
		ids       []int64
		set, from string
	}{
		{done, `state = 'completed', attempt = attempt + 1, attempted_at = $1, finalized_at = $1`, "scheduled"},
		{failed, fmt.Sprintf(`state = 'running', attempt = attempt + 1, attempted_at = $1, priority = %d`, waitedPriority), "scheduled"},
	} {
		if err := updateJobs(ctx, tx, u.set, u.from, ts, u.ids, updated); err != nil {
			return err
		}
	}
	var params []*riverdriver.JobSetStateIfRunningParams
	for _, i := range finishes {
		f := batch[i].finish
		switch {
		case !updated[f.id]:
			res[i].err = errLeaseLost
		case f.params != nil:
			params = append(params, f.params)
		}
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
		if f := batch[i].finish; f.params != nil && res[i].err == nil && !set[f.id] {
			res[i].err = errNotRunning
		}
	}
	return nil
}

var (
	errLeaseLost  = errors.New("job no longer leased to this process")
	errNotRunning = errors.New("job not running")
)

// updateJobs applies set ($1 is now) to the jobs of ids that are in state
// from, and marks in updated those it changed.
func updateJobs(ctx context.Context, tx txn, set, from string, now any, ids []int64, updated map[int64]bool) error {
	if len(ids) == 0 {
		return nil
	}
	var sb strings.Builder
	args := make([]any, 0, len(ids)+2)
	args = append(args, now, from)
	for i, id := range ids {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "$%d", i+3)
		args = append(args, id)
	}
	ids, err := queryIDs(ctx, tx, `UPDATE river_job SET `+set+` WHERE state = $2 AND id IN (`+sb.String()+`) RETURNING id`, args...)
	if err != nil {
		return fmt.Errorf("update %s jobs: %w", from, err)
	}
	for _, id := range ids {
		updated[id] = true
	}
	return nil
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
