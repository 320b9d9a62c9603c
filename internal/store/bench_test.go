package store_test

import (
	"context"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/internal/store"
	"github.com/herald-ci/herald/internal/store/storetest"
	"github.com/herald-ci/herald/sources/sourcestest"
)

// BenchmarkAcceptAndDeliver is the store's share of the hot path: 32
// goroutines accept events of two deliveries each while the jobs are
// leased to a pool of 8 that records each as delivered at once, as the
// delivery worker does after a platform's answer. Every write goes through
// the group-committing writer; ns/op is per event.
func BenchmarkAcceptAndDeliver(b *testing.B) {
	raw := sourcestest.Body(b, "teamcity-build-finished-failure")
	deliveries := []store.Delivery{
		{Destination: "slack", Payload: notify.Payload{Body: padded(raw, 1500), ContentType: "application/json"}},
		{Destination: "teams", Payload: notify.Payload{Body: padded(raw, 1300), ContentType: "application/json"}},
	}
	for _, d := range benchDrivers(b) {
		b.Run(d.Name, func(b *testing.B) {
			ctx := context.Background()
			workers := river.NewWorkers()
			river.AddWorker(workers, river.WorkFunc(func(context.Context, *river.Job[store.DeliveryArgs]) error { return nil }))
			st, err := store.Open(ctx, store.Config{Driver: d.Name, DSN: d.DSN(b)}, workers, zerolog.Nop())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			pool := &completer{jobs: make(chan *river.Job[store.DeliveryArgs], 1024)}
			st.DispatchTo(pool)
			if err := st.Start(ctx); err != nil {
				b.Fatal(err)
			}
			var wg sync.WaitGroup
			for range 64 {
				wg.Go(func() {
					for job := range pool.jobs {
						job.Attempt = 1
						if err := st.Complete(ctx, job); err != nil {
							b.Error(err)
						}
						pool.Release(job.Args.Destination)
						pool.done.Add(1)
					}
				})
			}
			var seq atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := st.Accept(ctx, store.EventRecord{
						Source: "teamcity", Type: "BUILD_FINISHED", Kind: "build", Status: "failed",
						DedupKey: "sha256:bench-" + strconv.FormatInt(seq.Add(1), 10), Raw: raw,
					}, deliveries); err != nil {
						b.Error(err)
						return
					}
				}
			})
			close(pool.jobs)
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(pool.done.Load())/float64(2*b.N), "leased/delivery")
		})
	}
}

// completer is a Dispatcher queueing jobs for the benchmark's pool.
type completer struct {
	jobs chan *river.Job[store.DeliveryArgs]
	held atomic.Int64 // places reserved and not yet released
	done atomic.Int64
}

func (c *completer) Reserve(string) bool {
	if c.held.Add(1) > int64(cap(c.jobs)) {
		c.held.Add(-1)
		return false
	}
	return true
}
func (c *completer) Release(string)                              { c.held.Add(-1) }
func (c *completer) Spill(string)                                {}
func (c *completer) Dispatch(job *river.Job[store.DeliveryArgs]) { c.jobs <- job }

// BenchmarkAccept times the enqueue path: one event and two delivery jobs
// (a Slack and a Teams message of realistic size) committed in one
// transaction, on a fresh database with no workers running. On SQLite that
// is WAL with synchronous=FULL, so each commit waits for an fsync; the
// figure is mostly this disk's fsync time.
//
// serial: one Accept after another. parallel: 16 goroutines per CPU
// accepting at once, as concurrent requests do; without group commit they
// queue on SQLite's single connection and the time per op stays the same.
//
// PostgreSQL runs when HERALD_TEST_POSTGRES_DSN is set (scripts/pg.sh,
// whose server runs with fsync off: not comparable with SQLite's figure).
func BenchmarkAccept(b *testing.B) {
	raw := sourcestest.Body(b, "teamcity-build-finished-failure")
	// Sizes of what the default templates make of that fixture.
	deliveries := []store.Delivery{
		{Destination: "slack", Payload: notify.Payload{Body: padded(raw, 1500), ContentType: "application/json"}},
		{Destination: "teams", Payload: notify.Payload{Body: padded(raw, 1300), ContentType: "application/json"}},
	}
	drivers := []func(testing.TB) storetest.Driver{func(testing.TB) storetest.Driver { return storetest.SQLite() }}
	if os.Getenv(storetest.EnvPostgresDSN) != "" {
		drivers = append(drivers, func(t testing.TB) storetest.Driver { return storetest.Postgres(t) })
	}
	for _, driver := range drivers {
		for _, parallel := range []bool{false, true} {
			d := driver(b)
			name := d.Name + "/serial"
			if parallel {
				name = d.Name + "/parallel"
			}
			b.Run(name, func(b *testing.B) {
				ctx := context.Background()
				st, err := store.Open(ctx, store.Config{Driver: d.Name, DSN: d.DSN(b)}, nil, zerolog.Nop())
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { st.Close() })
				var seq atomic.Int64
				accept := func() (store.Accepted, error) {
					return st.Accept(ctx, store.EventRecord{
						Source: "teamcity", Type: "BUILD_FINISHED", Kind: "build", Status: "failed",
						DedupKey: "sha256:bench-" + strconv.FormatInt(seq.Add(1), 10), Raw: raw,
					}, deliveries)
				}
				acc, err := accept()
				if err != nil {
					b.Fatal(err)
				}
				if acc.Duplicate || acc.EventID == "" || len(acc.Deliveries) != len(deliveries) {
					b.Fatalf("Accept = %+v, want a new event with %d deliveries", acc, len(deliveries))
				}
				b.ReportAllocs()
				b.ResetTimer()
				if !parallel {
					for b.Loop() {
						if _, err := accept(); err != nil {
							b.Fatal(err)
						}
					}
					return
				}
				b.SetParallelism(16)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := accept(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// padded is n bytes cut from, or repeating, src.
func padded(src []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, src[:min(len(src), n-len(out))]...)
	}
	return out
}

// BenchmarkPing times the readiness probe: the SQLite free-space check and
// one upserted row, committed. On SQLite the figure is mostly one fsync (as
// for BenchmarkAccept); probes come every few seconds, so it is noise. The
// row holds a time in milliseconds and SQLite skips rewriting a page with
// identical content, so each probe waits for the next millisecond, outside
// the timer: every one measured really writes.
func BenchmarkPing(b *testing.B) {
	for _, d := range benchDrivers(b) {
		b.Run(d.Name, func(b *testing.B) {
			ctx := context.Background()
			st, err := store.Open(ctx, store.Config{Driver: d.Name, DSN: d.DSN(b)}, nil, zerolog.Nop())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				time.Sleep(time.Millisecond)
				b.StartTimer()
				if err := st.Ping(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchDrivers is SQLite, and PostgreSQL when HERALD_TEST_POSTGRES_DSN is
// set.
func benchDrivers(b *testing.B) []storetest.Driver {
	drivers := []storetest.Driver{storetest.SQLite()}
	if os.Getenv(storetest.EnvPostgresDSN) != "" {
		drivers = append(drivers, storetest.Postgres(b))
	}
	return drivers
}
