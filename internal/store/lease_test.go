package store

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/herald-ci/herald/internal/store/storetest"
)

// dispatcher collects the jobs a store leases to it, with room places.
type dispatcher struct {
	mu       sync.Mutex
	room     int
	reserved int
	jobs     []*river.Job[DeliveryArgs]
	spilled  []string
}

func (d *dispatcher) Reserve(string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.reserved >= d.room {
		return false
	}
	d.reserved++
	return true
}

func (d *dispatcher) Release(string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reserved--
}

func (d *dispatcher) Spill(destination string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.spilled = append(d.spilled, destination)
}

func (d *dispatcher) Dispatch(job *river.Job[DeliveryArgs]) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.jobs = append(d.jobs, job)
}

func (d *dispatcher) taken() []*river.Job[DeliveryArgs] {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*river.Job[DeliveryArgs](nil), d.jobs...)
}

// TestLeasedFirstAttempt: with a dispatcher and the workers running, the
// jobs Accept commits are leased to the dispatcher, not worked by River,
// and Finish records each outcome of their first attempt as River's
// executor would; River then works what the outcome leaves to it.
func TestLeasedFirstAttempt(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		rec := &recorder{}
		s := openStore(t, driverConfig(t, d), workersWith(t, rec))
		disp := &dispatcher{room: 6}
		s.DispatchTo(disp)
		ctx := t.Context()

		// Before Start nothing is leased: River has to work it.
		if _, err := s.Accept(ctx, sampleEvent("early"), sampleDeliveries("early")); err != nil {
			t.Fatal(err)
		}
		if n := len(disp.taken()); n != 0 {
			t.Fatalf("%d jobs leased before Start", n)
		}
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		eventually(t, "River works the job stored before Start", func() (bool, error) {
			return len(rec.delivered()) == 1, nil
		})

		acc, err := s.Accept(ctx, sampleEvent("k1"), sampleDeliveries("ok", "fails", "bad", "throttled", "stopped"))
		if err != nil {
			t.Fatal(err)
		}
		jobs := disp.taken()
		if len(jobs) != 5 {
			t.Fatalf("%d jobs leased, want 5", len(jobs))
		}
		for i, j := range jobs {
			if j.ID != acc.Deliveries[i].ID || j.Args.Destination != acc.Deliveries[i].Destination || !Leased(j) {
				t.Fatalf("leased job %d = %d %s (%s), want %+v", i, j.ID, j.Args.Destination, j.State, acc.Deliveries[i])
			}
			info, err := s.GetDelivery(ctx, j.ID)
			if err != nil || info.RiverState != "scheduled" || info.State != DeliveryPending || info.Attempts != 0 {
				t.Fatalf("leased job %d: %+v, %v", j.ID, info, err)
			}
		}

		next := time.Now().Add(time.Hour)
		for _, j := range jobs {
			j.Attempt = 1 // as the dispatcher does
		}
		if err := s.Complete(ctx, jobs[0]); err != nil {
			t.Fatalf("Complete: %v", err)
		}
		if err := s.Finish(ctx, jobs[1], errors.New("503 upstream down"), next); err != nil {
			t.Fatalf("Finish (retryable): %v", err)
		}
		if err := s.Finish(ctx, jobs[2], river.JobCancel(errors.New("400 invalid_blocks")), next); err != nil {
			t.Fatalf("Finish (cancel): %v", err)
		}
		if err := s.Finish(ctx, jobs[3], river.JobSnooze(time.Hour), next); err != nil {
			t.Fatalf("Finish (snooze): %v", err)
		}

		check := func(j *river.Job[DeliveryArgs], riverState string, attempts int, lastError string) DeliveryInfo {
			t.Helper()
			info, err := s.GetDelivery(ctx, j.ID)
			if err != nil {
				t.Fatal(err)
			}
			if info.RiverState != riverState || info.Attempts != attempts || info.LastError != lastError {
				t.Errorf("%s: river state %s, %d attempts, last error %q; want %s, %d, %q",
					j.Args.Destination, info.RiverState, info.Attempts, info.LastError, riverState, attempts, lastError)
			}
			return info
		}
		check(jobs[0], "completed", 1, "")
		if info := check(jobs[1], "retryable", 1, "503 upstream down"); info.NextAttemptAt.Sub(next).Abs() > time.Second {
			t.Errorf("retry due %s, want %s", info.NextAttemptAt, next)
		}
		if info := check(jobs[2], "cancelled", 1, "400 invalid_blocks"); info.State != DeliveryFailed {
			t.Errorf("cancelled first attempt is %s, want failed", info.State)
		}
		if info := check(jobs[3], "scheduled", 0, ""); info.NextAttemptAt.Before(time.Now().Add(50 * time.Minute)) {
			t.Errorf("snoozed job due %s, want in an hour", info.NextAttemptAt)
		}
		if row, err := s.client.JobGet(ctx, jobs[3].ID); err != nil || !strings.Contains(string(row.Metadata), `"herald_lease": false`) && !strings.Contains(string(row.Metadata), `"herald_lease":false`) {
			t.Errorf("a snoozed first attempt keeps its lease mark: %s (%v)", row.Metadata, err)
		}

		// Recorded once: the lease is gone, a second record is refused.
		if err := s.Complete(ctx, jobs[0]); !errors.Is(err, errLeaseLost) {
			t.Errorf("second Complete: %v, want errLeaseLost", err)
		}

		// Cut short by shutdown: available again, not counted; River works it.
		if err := s.Finish(ctx, jobs[4], context.Canceled, next); err != nil {
			t.Fatalf("Finish (interrupted): %v", err)
		}
		eventually(t, "River works the interrupted job", func() (bool, error) {
			for _, a := range rec.delivered() {
				if a.Destination == "stopped" {
					return true, nil
				}
			}
			return false, nil
		})
		for _, a := range rec.delivered() {
			if a.Destination != "early" && a.Destination != "stopped" {
				t.Errorf("River worked %s, which was leased", a.Destination)
			}
		}

		// No room left (6 - 5 taken): stored available, River works it.
		if _, err := s.Accept(ctx, sampleEvent("k2"), sampleDeliveries("r1", "r2")); err != nil {
			t.Fatal(err)
		}
		if n := len(disp.taken()); n != 6 {
			t.Fatalf("%d jobs leased, want 6 (room for one more)", n)
		}
		disp.mu.Lock()
		spilled := append([]string(nil), disp.spilled...)
		disp.mu.Unlock()
		if len(spilled) != 1 || spilled[0] != "r2" {
			t.Errorf("spilled %v, want [r2]", spilled)
		}
		eventually(t, "River works the job there was no room for", func() (bool, error) {
			for _, a := range rec.delivered() {
				if a.Destination == "r2" {
					return true, nil
				}
			}
			return false, nil
		})
	})
}

// TestLeasedJobsFreedAtOpen: jobs leased to a SQLite process that died
// are due at once when the next one opens the file, not when their lease
// runs out.
func TestLeasedJobsFreedAtOpen(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t.TempDir())
	s, err := Open(t.Context(), cfg, workersWith(t, &recorder{}), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	disp := &dispatcher{room: 10}
	s.DispatchTo(disp)
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Accept(t.Context(), sampleEvent("k"), sampleDeliveries("a", "b")); err != nil {
		t.Fatal(err)
	}
	if n := len(disp.taken()); n != 2 {
		t.Fatalf("%d jobs leased, want 2", n)
	}
	if err := s.Close(); err != nil { // as good as dead: nothing attempted
		t.Fatal(err)
	}

	rec := &recorder{}
	s = openStore(t, cfg, workersWith(t, rec))
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	// RescueAfter is 70 s: well past this wait.
	eventuallyWithin(t, 20*time.Second, "the leased jobs delivered after reopening", func() (bool, error) {
		return len(rec.delivered()) == 2, nil
	})
}

// TestBatchIndependence writes one batch of requests that succeed, repeat
// each other or fail, and checks each gets its own answer: a failing
// request stores nothing and takes nothing from the others.
func TestBatchIndependence(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		s := openStore(t, driverConfig(t, d), nil)
		ctx := t.Context()
		before, err := s.Accept(ctx, sampleEvent("k0"), sampleDeliveries("x"))
		if err != nil {
			t.Fatal(err)
		}
		first := &OutcomeUpdate{Key: lineKey, Expected: 0, Record: true, New: Outcome{Status: "failed", Number: "1"}}
		if _, err := s.Accept(ctx, outcomeEvent("o1", first), nil); err != nil {
			t.Fatal(err)
		}
		events0, jobs0, _, _ := counts(t, s)

		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		stale := &OutcomeUpdate{Key: lineKey, Expected: 0, Record: true, New: Outcome{Status: "succeeded", Number: "2"}}
		req := func(ctx context.Context, ev EventRecord, ds []Delivery) *writeReq {
			return &writeReq{ctx: ctx, accept: &acceptReq{ev: ev, deliveries: ds}, done: make(chan writeRes, 1)}
		}
		batch := []*writeReq{
			req(ctx, sampleEvent("k1"), sampleDeliveries("a", "b")),
			req(ctx, sampleEvent("k1"), sampleDeliveries("a", "b")), // repeats the one above
			req(ctx, sampleEvent("k0"), sampleDeliveries("x")),      // repeats one stored before
			req(ctx, outcomeEvent("k3", stale), sampleDeliveries("c")),
			req(cancelled, sampleEvent("k4"), sampleDeliveries("d")),
			req(ctx, sampleEvent("k5"), sampleDeliveries("e")),
		}
		s.writeBatch(batch)
		res := make([]writeRes, len(batch))
		for i, r := range batch {
			res[i] = <-r.done
		}

		if res[0].err != nil || res[0].acc.Duplicate || len(res[0].acc.Deliveries) != 2 {
			t.Errorf("new event: %+v, %v", res[0].acc, res[0].err)
		}
		if r := res[1]; r.err != nil || !r.acc.Duplicate || r.acc.EventID != res[0].acc.EventID ||
			len(r.acc.Deliveries) != 2 || r.acc.Deliveries[1] != res[0].acc.Deliveries[1] {
			t.Errorf("repeat within the batch: %+v, %v; want the first's %+v", r.acc, r.err, res[0].acc)
		}
		if r := res[2]; r.err != nil || !r.acc.Duplicate || r.acc.EventID != before.EventID || len(r.acc.Deliveries) != 1 || r.acc.Deliveries[0] != before.Deliveries[0] {
			t.Errorf("repeat of an earlier event: %+v, %v; want %+v", r.acc, r.err, before)
		}
		if !errors.Is(res[3].err, ErrOutcomeChanged) {
			t.Errorf("stale outcome: %v, want ErrOutcomeChanged", res[3].err)
		}
		if !errors.Is(res[4].err, context.Canceled) {
			t.Errorf("cancelled request: %v, want context.Canceled", res[4].err)
		}
		if res[5].err != nil || res[5].acc.Duplicate || len(res[5].acc.Deliveries) != 1 {
			t.Errorf("new event after failures: %+v, %v", res[5].acc, res[5].err)
		}
		if events, jobs, _, links := counts(t, s); events != events0+2 || jobs != jobs0+3 || links != jobs {
			t.Errorf("after the batch: %d events, %d jobs, %d links; want %d, %d, %d", events, jobs, links, events0+2, jobs0+3, jobs0+3)
		}
		// The failed requests' dedup keys were not kept.
		for _, k := range []string{"k3", "k4"} {
			if acc, err := s.Accept(ctx, sampleEvent(k), sampleDeliveries("z")); err != nil || acc.Duplicate {
				t.Errorf("%s after its failure: %+v, %v; want a new event", k, acc, err)
			}
		}

		// A failure of the batch itself fails every request, storing nothing.
		events1, jobs1, _, _ := counts(t, s)
		s.beforeCommit = func() error { return errors.New("disk on fire") }
		batch = []*writeReq{req(ctx, sampleEvent("k6"), sampleDeliveries("a")), req(ctx, sampleEvent("k7"), sampleDeliveries("b"))}
		s.writeBatch(batch)
		for i, r := range batch {
			if got := <-r.done; got.err == nil {
				t.Errorf("request %d of a failed batch succeeded: %+v", i, got.acc)
			}
		}
		s.beforeCommit = nil
		if events, jobs, _, _ := counts(t, s); events != events1 || jobs != jobs1 {
			t.Errorf("a failed batch stored %d events and %d jobs", events-events1, jobs-jobs1)
		}
	})
}

// TestWaitedJobsFetchedFirst: a job that waited (Prioritize) is fetched
// before jobs that arrived after it, even when they became due earlier,
// as a new job is due at its insert and an old one at the end of its
// snooze.
func TestWaitedJobsFetchedFirst(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		rec := &recorder{}
		cfg := driverConfig(t, d)
		cfg.MaxWorkers = 1 // one fetch, one job at a time: the order shows
		s := openStore(t, cfg, workersWith(t, rec))
		ctx := t.Context()
		acc, err := s.Accept(ctx, sampleEvent("old"), sampleDeliveries("old"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Accept(ctx, sampleEvent("new"), sampleDeliveries("new1", "new2")); err != nil {
			t.Fatal(err)
		}
		old := acc.Deliveries[0].ID
		now := time.Now()
		// The old job snoozed: due a moment after the new ones.
		if _, err := s.db.exec(ctx, `UPDATE river_job SET scheduled_at = $1 WHERE id = $2`, s.db.timeArg(now.Add(-time.Second)), old); err != nil {
			t.Fatal(err)
		}
		if _, err := s.db.exec(ctx, `UPDATE river_job SET scheduled_at = $1 WHERE id <> $2`, s.db.timeArg(now.Add(-2*time.Second)), old); err != nil {
			t.Fatal(err)
		}
		if err := s.Prioritize(ctx, old); err != nil {
			t.Fatal(err)
		}
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		eventually(t, "all three delivered", func() (bool, error) { return len(rec.delivered()) == 3, nil })
		if got := rec.delivered()[0].Destination; got != "old" {
			t.Errorf("first worked: %s, want the job that waited", got)
		}
	})
}
