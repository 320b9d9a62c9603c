package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/herald-ci/herald/internal/store/storetest"
)

var lineKey = OutcomeKey{Source: "teamcity", Project: "P", BuildConfig: "P_Build", Branch: "main"}

func outcomeEvent(key string, u *OutcomeUpdate) EventRecord {
	ev := sampleEvent(key)
	ev.Outcome = u
	return ev
}

// TestOutcomeState walks a build line through Accept: the first outcome is
// created, later ones replace it only from the version read, a stale
// version changes nothing and stores nothing, and a check without a record
// leaves the row as it was.
func TestOutcomeState(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		s := openStore(t, driverConfig(t, d), nil)
		ctx := t.Context()

		if o, err := s.LastOutcome(ctx, lineKey); err != nil || o != (Outcome{}) {
			t.Fatalf("LastOutcome of a new line = %+v, %v", o, err)
		}
		finished := time.Date(2025, 8, 12, 3, 34, 11, 123456789, time.UTC)
		first := &OutcomeUpdate{Key: lineKey, Expected: 0, Record: true, New: Outcome{Status: "failed", Number: "10", FinishedAt: finished}}
		if _, err := s.Accept(ctx, outcomeEvent("a", first), sampleDeliveries("chat")); err != nil {
			t.Fatalf("first outcome: %v", err)
		}
		o, err := s.LastOutcome(ctx, lineKey)
		if err != nil || o.Status != "failed" || o.Number != "10" || !o.FinishedAt.Equal(finished) || o.Version != 1 {
			t.Fatalf("after the first outcome: %+v, %v (finish time must keep its nanoseconds)", o, err)
		}

		// Another line is independent.
		other := lineKey
		other.Branch = "feature/x"
		if o, _ := s.LastOutcome(ctx, other); o.Version != 0 {
			t.Errorf("another branch shares the state: %+v", o)
		}

		// Routed with version 0 while 1 is recorded: refused, nothing stored.
		events, jobs, _, _ := counts(t, s)
		stale := &OutcomeUpdate{Key: lineKey, Expected: 0, Record: true, New: Outcome{Status: "succeeded", Number: "11"}}
		if _, err := s.Accept(ctx, outcomeEvent("b", stale), sampleDeliveries("chat")); !errors.Is(err, ErrOutcomeChanged) {
			t.Fatalf("stale expected version: err = %v, want ErrOutcomeChanged", err)
		}
		if e, j, _, _ := counts(t, s); e != events || j != jobs {
			t.Errorf("a refused Accept stored %d events and %d jobs", e-events, j-jobs)
		}
		// Its dedup key was not kept either: the retry goes through.
		next := &OutcomeUpdate{Key: lineKey, Expected: 1, Record: true, New: Outcome{Status: "succeeded", Number: "11"}}
		acc, err := s.Accept(ctx, outcomeEvent("b", next), sampleDeliveries("chat"))
		if err != nil || acc.Duplicate || len(acc.Deliveries) != 1 {
			t.Fatalf("retry with the right version: %+v, %v", acc, err)
		}
		if o, _ := s.LastOutcome(ctx, lineKey); o.Status != "succeeded" || o.Number != "11" || !o.FinishedAt.IsZero() || o.Version != 2 {
			t.Errorf("after the second outcome: %+v", o)
		}

		// A late older build is checked but not recorded.
		late := &OutcomeUpdate{Key: lineKey, Expected: 2, Record: false, New: Outcome{Status: "failed", Number: "9"}}
		if _, err := s.Accept(ctx, outcomeEvent("c", late), nil); err != nil {
			t.Fatalf("late build: %v", err)
		}
		if o, _ := s.LastOutcome(ctx, lineKey); o.Number != "11" || o.Version != 2 {
			t.Errorf("a build that was not to be recorded changed the state: %+v", o)
		}
		// Even a check alone is refused on a version that moved on.
		late.Expected = 1
		if _, err := s.Accept(ctx, outcomeEvent("d", late), nil); !errors.Is(err, ErrOutcomeChanged) {
			t.Errorf("check on an old version: err = %v, want ErrOutcomeChanged", err)
		}
		// A duplicate post changes nothing and is not refused.
		acc, err = s.Accept(ctx, outcomeEvent("b", next), sampleDeliveries("chat"))
		if err != nil || !acc.Duplicate {
			t.Errorf("duplicate: %+v, %v", acc, err)
		}
	})
}

// TestOutcomeConcurrent races Accepts routed from the same state, on one
// store and on two replicas of one database: exactly one records its
// outcome, every other gets ErrOutcomeChanged and stores nothing.
func TestOutcomeConcurrent(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		cfg := driverConfig(t, d)
		stores := []*Store{openStore(t, cfg, nil)}
		if d.Name == "postgres" {
			stores = append(stores, openStore(t, cfg, nil))
		}
		ctx := t.Context()
		for round, expected := range []int64{0, 1} {
			const n = 8
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					u := &OutcomeUpdate{Key: lineKey, Expected: expected, Record: true, New: Outcome{Status: "failed", Number: fmt.Sprint(10*round + i)}}
					_, errs[i] = stores[i%len(stores)].Accept(ctx, outcomeEvent(fmt.Sprintf("r%d-%d", round, i), u), sampleDeliveries("chat"))
				})
			}
			wg.Wait()
			won := 0
			for _, err := range errs {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, ErrOutcomeChanged):
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if won != 1 {
				t.Fatalf("round %d: %d Accepts recorded an outcome from version %d, want 1", round, won, expected)
			}
			if o, _ := stores[0].LastOutcome(ctx, lineKey); o.Version != expected+1 {
				t.Fatalf("round %d: version %d, want %d", round, o.Version, expected+1)
			}
		}
		if events, jobs, _, _ := counts(t, stores[0]); events != 2 || jobs != 2 {
			t.Errorf("stored %d events and %d jobs, want 2 and 2 (one per round)", events, jobs)
		}
	})
}

// TestMessageDedup: an identical message to the same destination within its
// window is enqueued once; another destination, another payload, a delivery
// without a window, or the same message after the window, go out.
func TestMessageDedup(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		s := openStore(t, driverConfig(t, d), nil)
		ctx := t.Context()
		msg := func(dest, body string, window time.Duration) Delivery {
			dl := sampleDeliveries(dest)[0]
			dl.Payload.Body = []byte(body)
			dl.DedupWindow = window
			return dl
		}
		accept := func(key string, ds ...Delivery) Accepted {
			t.Helper()
			acc, err := s.Accept(ctx, sampleEvent(key), ds)
			if err != nil {
				t.Fatal(err)
			}
			return acc
		}
		dests := func(acc Accepted) string {
			var out []string
			for _, r := range acc.Deliveries {
				out = append(out, r.Destination)
			}
			return fmt.Sprint(out, acc.Suppressed)
		}

		if got := dests(accept("1", msg("a", "x", time.Hour), msg("b", "x", time.Hour), msg("c", "x", 0))); got != "[a b c] []" {
			t.Errorf("first: %s", got)
		}
		if got := dests(accept("2", msg("a", "x", time.Hour), msg("b", "y", time.Hour), msg("c", "x", 0))); got != "[b c] [a]" {
			t.Errorf("second (a's message repeats, b's differs, c has no window): %s", got)
		}
		if got := dests(accept("3", msg("a", "x", time.Hour), msg("b", "x", time.Hour))); got != "[] [a b]" {
			t.Errorf("third: %s", got)
		}

		// A short window expires.
		if got := dests(accept("4", msg("e", "z", 50*time.Millisecond))); got != "[e] []" {
			t.Errorf("short window, first: %s", got)
		}
		if got := dests(accept("5", msg("e", "z", 50*time.Millisecond))); got != "[] [e]" {
			t.Errorf("short window, within: %s", got)
		}
		time.Sleep(60 * time.Millisecond)
		if got := dests(accept("6", msg("e", "z", 50*time.Millisecond))); got != "[e] []" {
			t.Errorf("short window, after: %s", got)
		}

		// A rolled-back Accept keeps no claim.
		boom := errors.New("boom")
		s.beforeCommit = func() error { return boom }
		if _, err := s.Accept(ctx, sampleEvent("7"), []Delivery{msg("f", "w", time.Hour)}); !errors.Is(err, boom) {
			t.Fatalf("rollback: %v", err)
		}
		s.beforeCommit = nil
		if got := dests(accept("8", msg("f", "w", time.Hour))); got != "[f] []" {
			t.Errorf("after a rollback: %s", got)
		}

		time.Sleep(60 * time.Millisecond)
		if n, err := s.PruneMessageDedup(ctx); err != nil || n != 1 {
			t.Errorf("PruneMessageDedup = %d, %v; want the one expired record", n, err)
		}
	})
}

// TestJobMaxAttempts: a delivery's own attempt limit is the job's.
func TestJobMaxAttempts(t *testing.T) {
	t.Parallel()
	s := openStore(t, testConfig(t.TempDir()), nil)
	ds := sampleDeliveries("a", "b")
	ds[0].MaxAttempts = 3
	acc, err := s.Accept(t.Context(), sampleEvent("k"), ds)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{3, DefaultMaxAttempts} {
		j, err := s.client.JobGet(t.Context(), acc.Deliveries[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		if j.MaxAttempts != want {
			t.Errorf("job %d: max attempts %d, want %d", i, j.MaxAttempts, want)
		}
		var args DeliveryArgs
		if err := json.Unmarshal(j.EncodedArgs, &args); err != nil {
			t.Fatal(err)
		}
		if want := ds[i].MaxAttempts; args.MaxAttempts != want {
			t.Errorf("job %d: args max_attempts %d, want %d", i, args.MaxAttempts, want)
		}
	}
}
