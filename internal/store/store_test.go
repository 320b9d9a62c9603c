package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/internal/store/storetest"
)

// testConfig is a SQLite store in dir, with River's polling kept short so
// tests run quickly.
func testConfig(dir string) Config {
	return Config{
		DSN:           filepath.Join(dir, "herald.db"),
		PollInterval:  50 * time.Millisecond,
		FetchCooldown: 10 * time.Millisecond,
	}
}

// driverConfig is a fresh, empty database of driver d, polled like
// testConfig's. Opening the same config again reopens that database.
func driverConfig(t *testing.T, d storetest.Driver) Config {
	t.Helper()
	return Config{
		Driver:        d.Name,
		DSN:           d.DSN(t),
		PollInterval:  50 * time.Millisecond,
		FetchCooldown: 10 * time.Millisecond,
	}
}

func testLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
}

func openStore(t *testing.T, cfg Config, workers *river.Workers) *Store {
	t.Helper()
	s, err := Open(t.Context(), cfg, workers, testLogger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// recorder is a River worker for DeliveryArgs that records what it worked
// and can be told to fail or block.
type recorder struct {
	river.WorkerDefaults[DeliveryArgs]
	mu   sync.Mutex
	done []DeliveryArgs
	work func(ctx context.Context, job *river.Job[DeliveryArgs]) error
}

func (r *recorder) Work(ctx context.Context, job *river.Job[DeliveryArgs]) error {
	if r.work != nil {
		if err := r.work(ctx, job); err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.done = append(r.done, job.Args)
	r.mu.Unlock()
	return nil
}

func (r *recorder) delivered() []DeliveryArgs {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]DeliveryArgs(nil), r.done...)
}

func workersWith(t *testing.T, w river.Worker[DeliveryArgs]) *river.Workers {
	t.Helper()
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, w); err != nil {
		t.Fatal(err)
	}
	return workers
}

func sampleEvent(key string) EventRecord {
	return EventRecord{
		Source: "teamcity", Type: "BUILD_FINISHED", Kind: "build", Status: "failed",
		DedupKey: key, Raw: []byte(`{"buildId":42}`),
	}
}

func sampleDeliveries(dests ...string) []Delivery {
	out := make([]Delivery, len(dests))
	for i, d := range dests {
		out[i] = Delivery{Destination: d, Payload: notify.Payload{Body: []byte(`{"text":"` + d + `"}`), ContentType: "application/json"}}
	}
	return out
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	eventuallyWithin(t, 30*time.Second, what, cond)
}

func eventuallyWithin(t *testing.T, limit time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func counts(t *testing.T, s *Store) (events, jobs, dedup, links int) {
	t.Helper()
	ctx := t.Context()
	var err error
	if events, err = s.CountEvents(ctx, "", ""); err != nil {
		t.Fatal(err)
	}
	if jobs, err = s.CountJobs(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.db.queryRow(ctx, `SELECT count(*) FROM event_dedup`).Scan(&dedup); err != nil {
		t.Fatal(err)
	}
	if err := s.db.queryRow(ctx, `SELECT count(*) FROM event_deliveries`).Scan(&links); err != nil {
		t.Fatal(err)
	}
	return events, jobs, dedup, links
}

func TestAcceptStoresEventAndJobs(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		s := openStore(t, driverConfig(t, d), nil)
		ctx := t.Context()

		ev := sampleEvent("build-42")
		acc, err := s.Accept(ctx, ev, sampleDeliveries("slack-ci", "teams-ops"))
		if err != nil {
			t.Fatal(err)
		}
		if acc.Duplicate || !strings.HasPrefix(acc.EventID, "evt_") || len(acc.Deliveries) != 2 {
			t.Fatalf("Accept = %+v", acc)
		}
		if acc.Deliveries[0].Destination != "slack-ci" || acc.Deliveries[1].Destination != "teams-ops" {
			t.Errorf("deliveries out of order: %+v", acc.Deliveries)
		}

		got, err := s.GetEvent(ctx, acc.EventID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Record.Source != ev.Source || got.Record.Type != ev.Type || got.Record.Kind != ev.Kind ||
			got.Record.Status != ev.Status || got.Record.DedupKey != ev.DedupKey || string(got.Record.Raw) != string(ev.Raw) {
			t.Errorf("GetEvent = %+v, want %+v", got.Record, ev)
		}
		if time.Since(got.ReceivedAt) > time.Hour || time.Until(got.ReceivedAt) > time.Minute {
			t.Errorf("ReceivedAt = %v", got.ReceivedAt)
		}

		st, err := s.Deliveries(ctx, acc.EventID)
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range st {
			if d.ID != acc.Deliveries[i].ID || d.Destination != acc.Deliveries[i].Destination || d.State != "available" ||
				d.MaxAttempts != DefaultMaxAttempts {
				t.Errorf("delivery %d = %+v", i, d)
			}
		}
		if events, jobs, dedup, links := counts(t, s); events != 1 || jobs != 2 || dedup != 1 || links != 2 {
			t.Errorf("counts = %d events, %d jobs, %d dedup, %d links; want 1, 2, 1, 2", events, jobs, dedup, links)
		}
	})
}

func TestAcceptIsAtomic(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		cases := []struct {
			name       string
			deliveries []Delivery
			prepare    func(s *Store) context.Context
		}{
			{
				name:       "invalid second delivery",
				deliveries: append(sampleDeliveries("slack-ci"), Delivery{Destination: " "}),
				prepare:    func(*Store) context.Context { return context.Background() },
			},
			{
				name:       "failure just before commit",
				deliveries: sampleDeliveries("slack-ci", "teams-ops"),
				prepare: func(s *Store) context.Context {
					s.beforeCommit = func() error { return errors.New("injected") }
					return context.Background()
				},
			},
			{
				name:       "context cancelled mid-way",
				deliveries: sampleDeliveries("slack-ci", "teams-ops"),
				prepare: func(s *Store) context.Context {
					ctx, cancel := context.WithCancel(context.Background())
					s.beforeCommit = func() error { cancel(); return nil }
					return ctx
				},
			},
			{
				name:       "context cancelled before",
				deliveries: sampleDeliveries("slack-ci"),
				prepare: func(*Store) context.Context {
					ctx, cancel := context.WithCancel(context.Background())
					cancel()
					return ctx
				},
			},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				s := openStore(t, driverConfig(t, d), nil)
				ctx := tc.prepare(s)
				if acc, err := s.Accept(ctx, sampleEvent("k1"), tc.deliveries); err == nil {
					t.Fatalf("Accept succeeded: %+v", acc)
				}
				s.beforeCommit = nil
				if events, jobs, dedup, links := counts(t, s); events+jobs+dedup+links != 0 {
					t.Fatalf("after a failed Accept: %d events, %d jobs, %d dedup, %d links; want none", events, jobs, dedup, links)
				}
				// The failed attempt claimed no dedup key: the retry is new.
				acc, err := s.Accept(t.Context(), sampleEvent("k1"), sampleDeliveries("slack-ci"))
				if err != nil || acc.Duplicate {
					t.Fatalf("Accept after failure = %+v, %v; want a new event", acc, err)
				}
			})
		}
	})
}

func TestAcceptDuplicateWithinWindow(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		s := openStore(t, driverConfig(t, d), nil)
		ctx := t.Context()

		first, err := s.Accept(ctx, sampleEvent("build-42"), sampleDeliveries("slack-ci", "teams-ops"))
		if err != nil {
			t.Fatal(err)
		}
		// The repeat may even be routed differently now; the original stands.
		again, err := s.Accept(ctx, sampleEvent("build-42"), sampleDeliveries("slack-ci"))
		if err != nil {
			t.Fatal(err)
		}
		if !again.Duplicate || again.EventID != first.EventID || fmt.Sprint(again.Deliveries) != fmt.Sprint(first.Deliveries) {
			t.Fatalf("repeat = %+v, want duplicate of %+v", again, first)
		}
		if events, jobs, _, _ := counts(t, s); events != 1 || jobs != 2 {
			t.Fatalf("after repeat: %d events, %d jobs; want 1, 2", events, jobs)
		}

		// Same key from another source, or no key at all: not duplicates.
		other := sampleEvent("build-42")
		other.Source = "appcenter"
		if acc, err := s.Accept(ctx, other, nil); err != nil || acc.Duplicate {
			t.Fatalf("other source = %+v, %v", acc, err)
		}
		for range 2 {
			if acc, err := s.Accept(ctx, sampleEvent(""), sampleDeliveries("slack-ci")); err != nil || acc.Duplicate {
				t.Fatalf("no dedup key = %+v, %v", acc, err)
			}
		}
		if events, jobs, _, _ := counts(t, s); events != 4 || jobs != 4 {
			t.Fatalf("%d events, %d jobs; want 4, 4", events, jobs)
		}
	})
}

func TestAcceptAfterWindowIsNew(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		cfg := driverConfig(t, d)
		cfg.DedupWindow = 50 * time.Millisecond
		s := openStore(t, cfg, nil)
		ctx := t.Context()

		first, err := s.Accept(ctx, sampleEvent("build-42"), sampleDeliveries("slack-ci"))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * cfg.DedupWindow) // let the window pass; nothing is timed
		second, err := s.Accept(ctx, sampleEvent("build-42"), sampleDeliveries("slack-ci"))
		if err != nil {
			t.Fatal(err)
		}
		if second.Duplicate || second.EventID == first.EventID || second.Deliveries[0].ID == first.Deliveries[0].ID {
			t.Fatalf("after the window: %+v, first %+v; want a new event", second, first)
		}
		// The key now belongs to the second event.
		var owner string
		if err := s.db.queryRow(ctx, `SELECT event_id FROM event_dedup WHERE dedup_key = 'build-42'`).Scan(&owner); err != nil {
			t.Fatal(err)
		}
		if owner != second.EventID {
			t.Errorf("dedup owner = %s, want %s", owner, second.EventID)
		}
		if events, jobs, _, _ := counts(t, s); events != 2 || jobs != 2 {
			t.Fatalf("%d events, %d jobs; want 2, 2", events, jobs)
		}
	})
}

func TestAcceptConcurrentIdentical(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		s := openStore(t, driverConfig(t, d), nil)
		ctx := t.Context()

		const n = 20
		results := make([]Accepted, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				results[i], errs[i] = s.Accept(ctx, sampleEvent("build-42"), sampleDeliveries("slack-ci", "teams-ops"))
			})
		}
		close(start)
		wg.Wait()

		originals := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("Accept %d: %v", i, errs[i])
			}
			if !results[i].Duplicate {
				originals++
			}
			if results[i].EventID != results[0].EventID || fmt.Sprint(results[i].Deliveries) != fmt.Sprint(results[0].Deliveries) {
				t.Errorf("Accept %d = %+v, Accept 0 = %+v", i, results[i], results[0])
			}
		}
		if originals != 1 {
			t.Errorf("%d non-duplicate results, want 1", originals)
		}
		if events, jobs, dedup, links := counts(t, s); events != 1 || jobs != 2 || dedup != 1 || links != 2 {
			t.Errorf("counts = %d events, %d jobs, %d dedup, %d links; want 1, 2, 1, 2", events, jobs, dedup, links)
		}
	})
}

func TestAcceptedSurvivesRestart(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		cfg := driverConfig(t, d)

		s, err := Open(t.Context(), cfg, nil, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		acc, err := s.Accept(t.Context(), sampleEvent("build-42"), sampleDeliveries("slack-ci", "teams-ops"))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil { // never started: nothing was worked
			t.Fatal(err)
		}

		rec := &recorder{}
		s = openStore(t, cfg, workersWith(t, rec))
		if err := s.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		waitStates(t, s, acc.EventID, "completed")
		got := rec.delivered()
		if len(got) != 2 || got[0].EventID != acc.EventID || got[1].EventID != acc.EventID {
			t.Fatalf("delivered %+v", got)
		}
		if string(got[0].Payload.Body) != `{"text":"`+got[0].Destination+`"}` {
			t.Errorf("payload changed in the store: %q", got[0].Payload.Body)
		}
	})
}

func waitStates(t *testing.T, s *Store, eventID string, want string) []DeliveryStatus {
	t.Helper()
	return waitStatesWithin(t, 30*time.Second, s, eventID, want)
}

func waitStatesWithin(t *testing.T, limit time.Duration, s *Store, eventID string, want string) []DeliveryStatus {
	t.Helper()
	var st []DeliveryStatus
	eventuallyWithin(t, limit, "deliveries of "+eventID+" "+want, func() (bool, error) {
		var err error
		st, err = s.Deliveries(t.Context(), eventID)
		if err != nil {
			return false, err
		}
		for _, d := range st {
			if d.State != want {
				return false, nil
			}
		}
		return len(st) > 0, nil
	})
	return st
}

// TestOrphanRedelivered kills (SIGKILL) a process in the middle of a
// delivery and checks that the next process sends it again. With SQLite
// that happens at once, not after River's rescue delay (set to an hour here
// to make the point). With PostgreSQL a running job may belong to a live
// replica, so River's rescuer frees it once RescueAfter has passed, after
// the dead process's leadership lease expired (about 15 s).
func TestOrphanRedelivered(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		cfg := driverConfig(t, d)
		eventID := runDyingProcess(t, cfg)

		limit := 30 * time.Second
		switch d.Name {
		case "sqlite":
			cfg.RescueAfter = time.Hour
		case "postgres":
			cfg.JobTimeout, cfg.RescueAfter = time.Second, 2*time.Second
			limit = 90 * time.Second
		}
		s := openStore(t, cfg, workersWith(t, &recorder{}))
		if d.Name == "sqlite" {
			// Before the workers start, the orphan is already available again.
			st, err := s.Deliveries(t.Context(), eventID)
			if err != nil {
				t.Fatal(err)
			}
			if len(st) != 1 || st[0].State != "available" || st[0].Attempt != 1 || !strings.Contains(st[0].LastError, "orphaned") {
				t.Fatalf("after restart, before start: %+v", st)
			}
		}
		start := time.Now()
		if err := s.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		st := waitStatesWithin(t, limit, s, eventID, "completed")
		t.Logf("redelivered %s after start", time.Since(start).Round(time.Millisecond))
		if st[0].Attempt != 2 {
			t.Errorf("attempt = %d, want 2 (the interrupted one counts)", st[0].Attempt)
		}
	})
}

// runDyingProcess starts TestHelperDyingProcess on cfg's database, waits
// until it is in the middle of a delivery, kills it and returns the event.
func runDyingProcess(t *testing.T, cfg Config) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperDyingProcess$")
	cmd.Env = append(os.Environ(), "HERALD_STORE_HELPER_DRIVER="+cfg.Driver, "HERALD_STORE_HELPER_DSN="+cfg.DSN)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var eventID string
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if id, ok := strings.CutPrefix(lines.Text(), "working "); ok {
			eventID = id
			break
		}
	}
	if eventID == "" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("helper process never started working")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	return eventID
}

// TestHelperDyingProcess is the process TestOrphanRedelivered kills.
func TestHelperDyingProcess(t *testing.T) {
	dsn := os.Getenv("HERALD_STORE_HELPER_DSN")
	if dsn == "" {
		t.Skip("helper process for TestOrphanRedelivered")
	}
	working := make(chan string, 1)
	rec := &recorder{work: func(ctx context.Context, job *river.Job[DeliveryArgs]) error {
		working <- job.Args.EventID
		<-ctx.Done() // mid-delivery until killed
		return ctx.Err()
	}}
	cfg := Config{
		Driver: os.Getenv("HERALD_STORE_HELPER_DRIVER"), DSN: dsn,
		PollInterval: 50 * time.Millisecond, FetchCooldown: 10 * time.Millisecond,
	}
	s, err := Open(context.Background(), cfg, workersWith(t, rec), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Accept(context.Background(), sampleEvent("build-42"), sampleDeliveries("slack-ci")); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("working %s\n", <-working)
	time.Sleep(2 * time.Minute) // until SIGKILL; exit anyway if the parent is gone
	os.Exit(3)
}

// TestOrphansOnTheirLastAttemptOrCancelled: like River's rescuer, the
// interrupted attempt counts, so an orphan on its last attempt is discarded,
// and one whose cancellation was requested is cancelled. SQLite frees them
// at Open; PostgreSQL leaves them to the rescuer.
func TestOrphansOnTheirLastAttemptOrCancelled(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		cfg := driverConfig(t, d)
		s, err := Open(t.Context(), cfg, nil, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		acc, err := s.Accept(t.Context(), sampleEvent(""), sampleDeliveries("slack-ci", "teams-ops", "webhook"))
		if err != nil {
			t.Fatal(err)
		}
		// Simulate a process killed an hour ago while working all three: the
		// second on its last attempt, the third with a cancellation requested.
		simulate := map[string]string{
			"sqlite": `
UPDATE river_job SET state = 'running', attempted_at = $1,
    attempt = CASE WHEN id = $2 THEN max_attempts ELSE 1 END,
    metadata = CASE WHEN id = $3 THEN jsonb_object('cancel_attempted_at', $1) ELSE metadata END`,
			"postgres": `
UPDATE river_job SET state = 'running', attempted_at = $1,
    attempt = CASE WHEN id = $2 THEN max_attempts ELSE 1 END,
    metadata = CASE WHEN id = $3 THEN jsonb_build_object('cancel_attempted_at', $1::timestamptz) ELSE metadata END`,
		}
		if _, err := s.db.exec(t.Context(), simulate[d.Name],
			s.db.timeArg(time.Now().Add(-time.Hour)), acc.Deliveries[1].ID, acc.Deliveries[2].ID); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}

		s = openStore(t, cfg, workersWith(t, &recorder{}))
		if d.Name == "sqlite" {
			st, err := s.Deliveries(t.Context(), acc.EventID)
			if err != nil {
				t.Fatal(err)
			}
			if st[0].State != "available" || st[0].Attempt != 1 || st[0].ScheduledAt.After(time.Now()) {
				t.Errorf("orphan with attempts left, at open: %+v", st[0])
			}
		}
		if err := s.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		var st []DeliveryStatus
		eventually(t, "orphans settled", func() (bool, error) {
			st, err = s.Deliveries(t.Context(), acc.EventID)
			return err == nil && st[0].State == "completed" && st[1].State == "discarded" && st[2].State == "cancelled", err
		})
		if st[0].Attempt != 2 {
			t.Errorf("orphan with attempts left: %+v; want completed on attempt 2", st[0])
		}
		if st[1].FinalizedAt.IsZero() || st[1].LastError == "" {
			t.Errorf("orphan on its last attempt: %+v", st[1])
		}
		if st[2].FinalizedAt.IsZero() {
			t.Errorf("orphan whose cancellation was requested: %+v", st[2])
		}
		if d.Name == "sqlite" && !strings.Contains(st[1].LastError, "orphaned") {
			t.Errorf("orphan on its last attempt: error %q, want it to say orphaned", st[1].LastError)
		}
	})
}

func TestStopCancelsInFlightAtDeadline(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		cfg := driverConfig(t, d)
		started := make(chan struct{}, 1)
		block := &recorder{work: func(ctx context.Context, _ *river.Job[DeliveryArgs]) error {
			started <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		}}
		s, err := Open(t.Context(), cfg, workersWith(t, block), testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		acc, err := s.Accept(t.Context(), sampleEvent(""), sampleDeliveries("slack-ci"))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		<-started
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		if err := s.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Stop = %v, want deadline exceeded", err)
		}
		st, err := s.Deliveries(t.Context(), acc.EventID)
		if err != nil {
			t.Fatal(err)
		}
		if st[0].State != "available" || st[0].Attempt != 0 {
			t.Errorf("interrupted delivery: %+v; want available with the attempt not counted", st[0])
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSecondOpenFails(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t.TempDir())
	first, err := Open(t.Context(), cfg, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(t.Context(), cfg, nil, testLogger(t))
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), cfg.DSN) {
		t.Fatalf("second Open = %v, want ErrLocked naming %s", err, cfg.DSN)
	}
	t.Log(err)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	openStore(t, cfg, nil) // free again
}

func TestOpenRejects(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"unknown driver", Config{Driver: "mysql"}, `unknown driver "mysql"`},
		{"memory", Config{DSN: ":memory:"}, "plain file path"},
		{"query", Config{DSN: filepath.Join(dir, "h.db?mode=ro")}, "plain file path"},
		{"rescue before timeout", Config{DSN: filepath.Join(dir, "h.db"), JobTimeout: time.Minute, RescueAfter: time.Second}, "must exceed job_timeout"},
		{"postgres without dsn", Config{Driver: "postgres"}, "dsn is required for driver postgres"},
		{"postgres bad dsn", Config{Driver: "postgres", DSN: "postgres://herald:PGSECRET@db:port/herald"}, "not a valid connection string"},
		{"postgres bad key", Config{Driver: "postgres", DSN: "host=db password=PGSECRET port=x"}, "not a valid connection string"},
		{"postgres unreachable", Config{Driver: "postgres", DSN: "postgres://herald:PGSECRET@127.0.0.1:1/herald?connect_timeout=5"}, "store: postgres"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := Open(t.Context(), tc.cfg, nil, testLogger(t))
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open = %v, want it to mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "PGSECRET") {
				t.Errorf("Open = %v: the error shows the password", err)
			}
		})
	}
}

func TestSQLiteSettings(t *testing.T) {
	t.Parallel()
	s := openStore(t, testConfig(t.TempDir()), nil)
	ctx := t.Context()
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"synchronous":  "2", // FULL
		"foreign_keys": "1",
		"busy_timeout": "10000",
	} {
		var got string
		if err := s.db.queryRow(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestSQLitePlaceholders(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`SELECT $1, $2, $10`:              `SELECT ?1, ?2, ?10`,
		`json_extract(x, '$.a') = $1`:     `json_extract(x, '$.a') = ?1`,
		`json_insert(x, '$[#]', $2) $ $a`: `json_insert(x, '$[#]', ?2) $ $a`,
	} {
		if got := sqlitePlaceholders(in); got != want {
			t.Errorf("sqlitePlaceholders(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPostgresSchema checks that everything lands in the schema the DSN's
// search_path names, so installations can share a server.
func TestPostgresSchema(t *testing.T) {
	t.Parallel()
	d := storetest.Postgres(t)
	s := openStore(t, driverConfig(t, d), nil)
	ctx := t.Context()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	var schema string
	var tables int
	if err := s.db.queryRow(ctx, `
SELECT current_schema(), count(*) FROM information_schema.tables
WHERE table_schema = current_schema()
  AND table_name IN ('river_job', 'river_leader', 'events', 'event_dedup', 'event_deliveries', 'herald_migration', 'herald_health')`).
		Scan(&schema, &tables); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(schema, "herald_test_") || tables != 7 {
		t.Errorf("schema %q has %d of our 7 tables", schema, tables)
	}
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		cfg := driverConfig(t, d)
		res, err := Migrate(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.River) == 0 || fmt.Sprint(res.Herald) != "[1 2 3 4]" {
			t.Errorf("first Migrate = %+v, want River's versions and ours [1 2 3 4]", res)
		}
		res, err = Migrate(t.Context(), cfg)
		if err != nil || len(res.River)+len(res.Herald) != 0 {
			t.Errorf("second Migrate = %+v, %v; want nothing to do", res, err)
		}
		s := openStore(t, cfg, nil)
		if _, err := s.Accept(t.Context(), sampleEvent("k"), sampleDeliveries("slack-ci")); err != nil {
			t.Fatal(err)
		}
	})
}

// TestReplicasMigrateOnce opens several replicas on one new PostgreSQL
// database at the same moment: the migration lock lets one migrate and the
// others find the work done.
func TestReplicasMigrateOnce(t *testing.T) {
	t.Parallel()
	cfg := driverConfig(t, storetest.Postgres(t))
	const n = 4
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), cfg, nil, testLogger(t)) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("replica %d: Open: %v", i, errs[i])
			continue
		}
		t.Cleanup(func() { _ = stores[i].Close() })
	}
	if t.Failed() {
		return
	}
	var versions int
	if err := stores[0].db.queryRow(t.Context(), `SELECT count(*) FROM herald_migration`).Scan(&versions); err != nil {
		t.Fatal(err)
	}
	if versions != len(migrations) {
		t.Errorf("herald_migration has %d rows, want %d", versions, len(migrations))
	}
}

// deliveryCounter counts, across replicas, how often each event was worked.
type deliveryCounter struct {
	mu        sync.Mutex
	byEvent   map[string]int
	byReplica []int
}

func (c *deliveryCounter) worker(replica int) *recorder {
	return &recorder{work: func(_ context.Context, job *river.Job[DeliveryArgs]) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.byEvent[job.Args.EventID]++
		c.byReplica[replica]++
		return nil
	}}
}

// TestReplicasDeliverExactlyOnce runs two stores ("replicas"), each with
// its own workers, on one PostgreSQL database, accepts 200 events through
// both at once and checks that every event was delivered exactly once in
// total: River's locking hands each job to one replica.
func TestReplicasDeliverExactlyOnce(t *testing.T) {
	t.Parallel()
	cfg := driverConfig(t, storetest.Postgres(t))
	const replicas, events = 2, 200
	c := &deliveryCounter{byEvent: map[string]int{}, byReplica: make([]int, replicas)}
	stores := make([]*Store, replicas)
	for i := range replicas {
		stores[i] = openStore(t, cfg, workersWith(t, c.worker(i)))
		if err := stores[i].Start(t.Context()); err != nil {
			t.Fatal(err)
		}
	}

	accepted := make([]string, events)
	errs := make([]error, events)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < events; i += 8 {
				acc, err := stores[i%replicas].Accept(t.Context(), sampleEvent(fmt.Sprintf("build-%d", i)), sampleDeliveries("slack-ci"))
				accepted[i], errs[i] = acc.EventID, err
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	eventually(t, "every event delivered", func() (bool, error) {
		n, err := stores[0].CountJobs(t.Context(), "completed")
		return n == events, err
	})
	t.Logf("%d deliveries worked in %s after the last accept", events, time.Since(start).Round(time.Millisecond))

	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range accepted {
		if n := c.byEvent[id]; n != 1 {
			t.Errorf("event %s delivered %d times, want once", id, n)
		}
	}
	if len(c.byEvent) != events {
		t.Errorf("%d events delivered, %d accepted", len(c.byEvent), events)
	}
	t.Logf("deliveries per replica: %v", c.byReplica)
}
