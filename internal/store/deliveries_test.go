package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/herald-ci/herald/internal/store/storetest"
)

// scripted answers by destination: "ok" delivers, "bad" fails for good
// (until fixed), "flaky" fails retryably (dead at once with MaxAttempts 1),
// "later" waits an hour (pending).
func scripted(fixed *atomic.Bool) *recorder {
	return &recorder{work: func(_ context.Context, job *river.Job[DeliveryArgs]) error {
		if fixed.Load() {
			return nil
		}
		switch job.Args.Destination {
		case "bad":
			return river.JobCancel(errors.New("http 400 invalid_blocks"))
		case "flaky":
			return errors.New("http 503 upstream unavailable")
		case "later":
			return river.JobSnooze(time.Hour)
		}
		return nil
	}}
}

// settledStore accepts one event per destination and waits until each job
// left River's queue for its outcome.
func settledStore(t *testing.T, d storetest.Driver, dests ...string) (*Store, *atomic.Bool, map[string]int64) {
	t.Helper()
	fixed := new(atomic.Bool)
	cfg := driverConfig(t, d)
	cfg.MaxAttempts = 1
	s := openStore(t, cfg, workersWith(t, scripted(fixed)))
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	for i, d := range dests {
		key := d
		if i > 0 && slices.Contains(dests[:i], d) {
			key = fmt.Sprintf("%s-%d", d, i)
		}
		acc, err := s.Accept(t.Context(), sampleEvent(key), sampleDeliveries(d))
		if err != nil {
			t.Fatal(err)
		}
		ids[d] = acc.Deliveries[0].ID
	}
	eventually(t, "jobs settled", func() (bool, error) {
		n, err := s.CountJobs(t.Context(), "available", "running", "retryable")
		return n == 0, err
	})
	return s, fixed, ids
}

func TestDeliveryStateMapping(t *testing.T) {
	t.Parallel()
	for rs, want := range map[string]string{
		"available": DeliveryPending, "scheduled": DeliveryPending, "retryable": DeliveryPending,
		"running": DeliveryPending, "pending": DeliveryPending, "completed": DeliveryDelivered,
		"cancelled": DeliveryFailed, "discarded": DeliveryDead,
	} {
		if got := DeliveryStateOf(rivertype.JobState(rs)); got != want {
			t.Errorf("DeliveryStateOf(%s) = %s, want %s", rs, got, want)
		}
	}
}

func TestListAndGetDeliveries(t *testing.T) {
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		s, _, ids := settledStore(t, d, "ok", "bad", "flaky", "later")
		ctx := t.Context()

		for _, tc := range []struct {
			filter DeliveryFilter
			want   []string
		}{
			{DeliveryFilter{}, []string{"later", "flaky", "bad", "ok"}},
			{DeliveryFilter{State: DeliveryPending}, []string{"later"}},
			{DeliveryFilter{State: DeliveryDelivered}, []string{"ok"}},
			{DeliveryFilter{State: DeliveryFailed}, []string{"bad"}},
			{DeliveryFilter{State: DeliveryDead}, []string{"flaky"}},
			{DeliveryFilter{Destination: "bad"}, []string{"bad"}},
			{DeliveryFilter{Destination: "bad", State: DeliveryDead}, nil},
			{DeliveryFilter{Destination: "nope"}, nil},
		} {
			page, err := s.ListDeliveries(ctx, tc.filter)
			if err != nil {
				t.Fatalf("%+v: %v", tc.filter, err)
			}
			var got []string
			for _, d := range page.Deliveries {
				got = append(got, d.Destination)
			}
			if !slices.Equal(got, tc.want) || page.NextCursor != "" {
				t.Errorf("%+v: got %v (cursor %q), want %v", tc.filter, got, page.NextCursor, tc.want)
			}
		}

		// Pages of one, following the cursor.
		var got []string
		f := DeliveryFilter{Limit: 1}
		for range 10 {
			page, err := s.ListDeliveries(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range page.Deliveries {
				got = append(got, d.Destination)
			}
			if page.NextCursor == "" {
				break
			}
			f.Cursor = page.NextCursor
		}
		if want := []string{"later", "flaky", "bad", "ok"}; !slices.Equal(got, want) {
			t.Errorf("paged = %v, want %v", got, want)
		}

		for _, f := range []DeliveryFilter{{State: "lost"}, {Limit: -1}, {Limit: MaxDeliveryListLimit + 1}, {Cursor: "%%%"}} {
			if _, err := s.ListDeliveries(ctx, f); err == nil {
				t.Errorf("%+v: no error", f)
			}
		}

		bad, err := s.GetDelivery(ctx, ids["bad"])
		if err != nil {
			t.Fatal(err)
		}
		if bad.State != DeliveryFailed || bad.Attempts != 1 || bad.LastError != "http 400 invalid_blocks" ||
			len(bad.Errors) != 1 || bad.Errors[0].Error != "http 400 invalid_blocks" || bad.Errors[0].Attempt != 1 ||
			string(bad.Payload.Body) != `{"text":"bad"}` || bad.EventID == "" || bad.Reason == "" || bad.LastAttemptAt.IsZero() {
			t.Errorf("GetDelivery(bad) = %+v", bad)
		}
		dead, err := s.GetDelivery(ctx, ids["flaky"])
		if err != nil {
			t.Fatal(err)
		}
		if dead.State != DeliveryDead || dead.Reason != "attempts exhausted: 1 of 1" || dead.LastError != "http 503 upstream unavailable" {
			t.Errorf("GetDelivery(flaky) = %+v", dead)
		}
		later, err := s.GetDelivery(ctx, ids["later"])
		if err != nil {
			t.Fatal(err)
		}
		if later.State != DeliveryPending || time.Until(later.NextAttemptAt) < 50*time.Minute {
			t.Errorf("GetDelivery(later) = %+v", later)
		}
		if _, err := s.GetDelivery(ctx, 999999); !errors.Is(err, ErrDeliveryNotFound) {
			t.Errorf("GetDelivery(unknown) = %v", err)
		}
	})
}

func TestRetryDelivery(t *testing.T) {
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		s, fixed, ids := settledStore(t, d, "ok", "bad", "flaky", "later")
		ctx := t.Context()

		for _, d := range []string{"ok", "later"} {
			if _, err := s.RetryDelivery(ctx, ids[d]); !errors.Is(err, ErrNotRetryable) {
				t.Errorf("RetryDelivery(%s) = %v, want ErrNotRetryable", d, err)
			}
		}
		if _, err := s.RetryDelivery(ctx, 999999); !errors.Is(err, ErrDeliveryNotFound) {
			t.Errorf("RetryDelivery(unknown) = %v", err)
		}

		fixed.Store(true)
		for _, d := range []string{"bad", "flaky"} {
			got, err := s.RetryDelivery(ctx, ids[d])
			if err != nil {
				t.Fatalf("RetryDelivery(%s): %v", d, err)
			}
			if got.State != DeliveryPending {
				t.Errorf("RetryDelivery(%s) state %s", d, got.State)
			}
		}
		eventually(t, "replayed deliveries delivered", func() (bool, error) {
			page, err := s.ListDeliveries(ctx, DeliveryFilter{State: DeliveryDelivered})
			return len(page.Deliveries) == 3, err
		})
		// The dead one got one more attempt; its history is kept.
		got, err := s.GetDelivery(ctx, ids["flaky"])
		if err != nil {
			t.Fatal(err)
		}
		if got.Attempts != 2 || got.MaxAttempts != 2 || len(got.Errors) != 1 {
			t.Errorf("replayed dead delivery = %+v", got)
		}
	})
}

func TestRetryDeliveries(t *testing.T) {
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		s, fixed, _ := settledStore(t, d, "bad", "bad", "bad", "flaky", "later")
		ctx := t.Context()

		if _, err := s.RetryDeliveries(ctx, "", ""); err == nil {
			t.Error("no destination: no error")
		}
		if _, err := s.RetryDeliveries(ctx, "bad", DeliveryPending); err == nil {
			t.Error("state pending: no error")
		}
		ids, err := s.RetryDeliveries(ctx, "later", "")
		if err != nil || len(ids) != 0 {
			t.Errorf("retry pending destination = %v, %v", ids, err)
		}
		ids, err = s.RetryDeliveries(ctx, "bad", DeliveryDead)
		if err != nil || len(ids) != 0 {
			t.Errorf("retry dead of bad = %v, %v", ids, err)
		}
		fixed.Store(true)
		ids, err = s.RetryDeliveries(ctx, "bad", "")
		if err != nil || len(ids) != 3 || !slices.IsSorted(ids) {
			t.Fatalf("retry bad = %v, %v", ids, err)
		}
		eventually(t, "bad delivered", func() (bool, error) {
			page, err := s.ListDeliveries(ctx, DeliveryFilter{State: DeliveryDelivered, Destination: "bad"})
			return len(page.Deliveries) == 3, err
		})
		page, err := s.ListDeliveries(ctx, DeliveryFilter{State: DeliveryDead})
		if err != nil || len(page.Deliveries) != 1 {
			t.Errorf("dead after replaying bad = %+v, %v", page, err)
		}
	})
}

func TestPrune(t *testing.T) {
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		s, _, _ := settledStore(t, d, "ok", "bad", "later")
		ctx := t.Context()
		// One more event, with no deliveries, and an expired dedup record.
		if _, err := s.Accept(ctx, sampleEvent("none"), nil); err != nil {
			t.Fatal(err)
		}
		past := func(d time.Duration) any { return s.db.timeArg(time.Now().Add(-d)) }
		if _, err := s.db.exec(ctx, `UPDATE event_dedup SET expires_at = $1 WHERE dedup_key = 'later'`, past(time.Second)); err != nil {
			t.Fatal(err)
		}

		// Nothing is old enough yet, except the expired dedup record.
		res, err := s.Prune(ctx, time.Hour)
		if err != nil || res != (PruneResult{Dedup: 1}) {
			t.Fatalf("Prune(1h) = %+v, %v", res, err)
		}
		if _, err := s.Prune(ctx, 0); err == nil {
			t.Error("Prune(0): no error")
		}

		// Two hours later (for the events): ok (delivered) and none go, with
		// their dedup records; bad (failed) and later (pending) stay, and
		// bad's expired dedup record goes.
		if _, err := s.db.exec(ctx, `UPDATE events SET received_at = $1`, past(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.db.exec(ctx, `UPDATE event_dedup SET expires_at = $1`, past(time.Hour)); err != nil {
			t.Fatal(err)
		}
		res, err = s.Prune(ctx, time.Hour)
		if err != nil || res != (PruneResult{Events: 2, Dedup: 1}) {
			t.Errorf("Prune(1h) two hours later = %+v, %v", res, err)
		}
		for key, want := range map[string]int{"ok": 0, "none": 0, "bad": 1, "later": 1} {
			if n, err := s.CountEvents(ctx, "teamcity", key); err != nil || n != want {
				t.Errorf("events %s = %d, %v; want %d", key, n, err, want)
			}
		}

		// The delivered job goes once it is older than the retention.
		time.Sleep(10 * time.Millisecond)
		res, err = s.Prune(ctx, time.Millisecond)
		if err != nil || res != (PruneResult{Jobs: 1}) {
			t.Errorf("Prune(1ms) = %+v, %v", res, err)
		}
		if events, jobs, dedup, links := counts(t, s); events != 2 || jobs != 2 || dedup != 0 || links != 2 {
			t.Errorf("counts = %d events, %d jobs, %d dedup, %d links; want 2, 2, 0, 2", events, jobs, dedup, links)
		}
	})
}

func TestSchedulePrune(t *testing.T) {
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		workers := workersWith(t, &recorder{})
		p, err := RegisterPruner(workers)
		if err != nil {
			t.Fatal(err)
		}
		cfg := driverConfig(t, d)
		cfg.DedupWindow = time.Millisecond
		s := openStore(t, cfg, workers)
		if err := s.SchedulePrune(p, 0); err == nil {
			t.Error("SchedulePrune(0): no error")
		}
		if err := s.SchedulePrune(p, time.Millisecond); err != nil {
			t.Fatal(err)
		}
		acc, err := s.Accept(t.Context(), sampleEvent("k"), nil)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
		if err := s.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		// RunOnStart: the first prune runs once this store is River's leader.
		eventually(t, "event pruned", func() (bool, error) {
			n, err := s.CountEvents(t.Context(), "", "")
			return n == 0, err
		})
		if _, err := s.GetEvent(t.Context(), acc.EventID); err == nil {
			t.Error("event still there")
		}

		bare := openStore(t, driverConfig(t, d), nil)
		if err := bare.SchedulePrune(&Pruner{}, time.Hour); err == nil {
			t.Error("SchedulePrune without workers: no error")
		}
	})
}
