package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/herald-ci/herald/internal/store/storetest"
)

// TestPendingByDestination: only deliveries not yet done count (running,
// retrying and waiting ones do; delivered and failed ones don't), grouped
// by destination, with the oldest one's enqueue time.
func TestPendingByDestination(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		release := make(chan struct{})
		w := &recorder{work: func(ctx context.Context, job *river.Job[DeliveryArgs]) error {
			switch job.Args.Destination {
			case "final":
				return river.JobCancel(errors.New("http 400"))
			case "retrying":
				return errors.New("http 503") // retryable, due again in about a second
			case "hung":
				select { // running until the test ends
				case <-ctx.Done():
					return ctx.Err()
				case <-release:
					return nil
				}
			}
			return nil
		}}
		s := openStore(t, driverConfig(t, d), workersWith(t, w))
		t.Cleanup(func() { close(release) }) // runs before the store's Close

		empty, err := s.PendingByDestination(t.Context())
		if err != nil || len(empty) != 0 {
			t.Fatalf("empty store: %v, %v; want nothing pending", empty, err)
		}

		before := time.Now()
		if _, err := s.Accept(t.Context(), sampleEvent("a"), sampleDeliveries("done", "final", "retrying", "hung")); err != nil {
			t.Fatal(err)
		}
		after := time.Now()
		// The second event comes clearly later, so its jobs can't pass for
		// the oldest (River keeps SQLite times to the millisecond).
		for time.Since(after) < 5*time.Millisecond {
			time.Sleep(time.Millisecond)
		}
		if _, err := s.Accept(t.Context(), sampleEvent("b"), sampleDeliveries("done", "hung")); err != nil {
			t.Fatal(err)
		}
		if err := s.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		eventually(t, "done and final finished, retrying retried, hung running", func() (bool, error) {
			for state, want := range map[string]int{"completed": 2, "cancelled": 1, "retryable": 1, "running": 2} {
				if n, err := s.CountJobs(t.Context(), state); err != nil || n != want {
					return false, err
				}
			}
			return true, nil
		})

		got, err := s.PendingByDestination(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(got, func(a, b QueueStat) int { return compareStrings(a.Destination, b.Destination) })
		if len(got) != 2 || got[0].Destination != "hung" || got[0].Pending != 2 || got[1].Destination != "retrying" || got[1].Pending != 1 {
			t.Fatalf("pending = %+v, want hung: 2 and retrying: 1 (done and final are finished)", got)
		}
		// The oldest "hung" job came with the first event. River keeps
		// times to the microsecond (SQLite: millisecond), so allow that.
		oldest := got[0].OldestCreatedAt
		if oldest.Before(before.Add(-time.Millisecond)) || oldest.After(after.Add(time.Millisecond)) {
			t.Errorf("oldest pending hung delivery created at %s, want within the first Accept [%s, %s]", oldest, before, after)
		}
	})
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
