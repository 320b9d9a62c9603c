// Package store holds herald's durable state and its delivery queue: our own
// tables (events, dedup records, the event → delivery job mapping, the
// routing state: each build line's last outcome and the per-destination
// message dedup records) and River (github.com/riverqueue/river), in one
// database, so that accepting an event, updating the state and enqueueing
// its deliveries commit or fail together.
//
// The same code runs on two databases; backend.go is the small dialect
// layer that holds what differs.
//
// # SQLite
//
// The default: pure Go (modernc.org/sqlite), one file, one process. A SQLite
// file belongs to exactly one process: Open takes an exclusive lock beside
// it, and because nobody else can be working its jobs, any job a previous
// process left in state running is known to be orphaned and is made
// available again at once. Accept keeps a reserve of free disk beside the
// file for the work already accepted (Config.MinFreeBytes, health.go).
//
// # PostgreSQL
//
// Driver "postgres" with a pgx DSN (postgres://user:pass@host/db?... or
// key=value pairs) lets several herald replicas share one database and its
// work: each accepts events and works any delivery job, and River's row
// locking (FOR UPDATE SKIP LOCKED) hands each job to one replica at a time.
// River's tables and ours live in the schema the DSN's search_path selects
// (public by default), so several herald installations can share a server
// with one schema each. The pool has 10 connections unless the DSN sets
// pool_max_conns.
//
// Migrations (River's, then ours) run at Open under an advisory lock, so
// replicas starting together apply them once; Migrate (herald migrate) runs
// them alone, e.g. before a rollout.
//
// There is no file lock and no orphan reclaim at Open: a running job may
// belong to a live replica. A replica that dies mid-delivery leaves its job
// running until River's rescuer, which runs on the elected leader every 30 s,
// finds it running for longer than Config.RescueAfter (default JobTimeout +
// 10 s: River cancels a job's context at JobTimeout, so a job that is
// merely slow is never taken from a live worker) and schedules its retry with the worker's backoff. A delivery interrupted by a
// crash is therefore resent after about RescueAfter plus up to a minute
// (rescuer interval, leader re-election if the leader died, the 5 s scheduler
// tick), not at once as with SQLite. The interrupted attempt counts.
//
// The River client lives inside the Store. The store must not know about
// destinations, adapters or HTTP: a delivery job carries an already built
// payload and a destination name; the delivery package works it.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/internal/notify"
)

// Defaults for Config. Each is used when the field is zero.
const (
	DefaultDriver      = "sqlite"
	DefaultDSN         = "herald.db"
	DefaultDedupWindow = 10 * time.Minute

	// DefaultMaxAttempts is how many times a delivery is attempted before
	// River discards it. It is sized for the delivery package's backoff (full
	// jitter, base 1 s, capped at 10 min), where 300 attempts take about 24 h
	// on average; the arithmetic is in that package's doc and a test there
	// keeps the two in step. Snoozes for Retry-After don't count.
	DefaultMaxAttempts = 300

	// DefaultMaxWorkers bounds concurrent deliveries. Workers spend their
	// time waiting on the network, not on the database, so this can be well
	// above the core count.
	DefaultMaxWorkers = 20

	// DefaultJobTimeout is the client-level limit for a job whose worker
	// sets none (the delivery worker sets its own, shorter one).
	DefaultJobTimeout = time.Minute

	// rescueMargin is added to JobTimeout for RescueAfter: a job running
	// that long is stuck (its worker ignored its context), not slow.
	rescueMargin = 10 * time.Second

	// DefaultMinFreeBytes is the free space a SQLite database's filesystem
	// must keep for Accept to take new events (health.go). The WAL grows to
	// about 4 MiB (SQLite checkpoints at 1000 pages) before it starts over,
	// each commit appending whole pages (about 80 KB for an Accept, a few
	// pages for a delivery's completion); twice that leaves the deliveries
	// already accepted room to be recorded and checkpointed.
	DefaultMinFreeBytes = 8 << 20

	// finalJobRetention keeps cancelled (final error, unknown destination)
	// and discarded (retries exhausted) jobs a week: they are the dead
	// letters an operator inspects or replays. River's default for
	// cancelled jobs is only 24 h.
	finalJobRetention = 7 * 24 * time.Hour
)

// Config selects and tunes the store. The zero value is usable: SQLite in
// herald.db with the defaults above.
type Config struct {
	// Driver is "sqlite" (the default) or "postgres".
	Driver string
	// DSN is, for sqlite, the database file path. Its directory is created
	// if missing, and "<DSN>.lock" is the lock file beside it. For postgres
	// it is a pgx connection string (required); it may hold a password and
	// never appears in errors.
	DSN string

	// DedupWindow is how long a (source, dedup key) pair stays a duplicate
	// of the event that first used it.
	DedupWindow time.Duration

	// MaxWorkers is the number of deliveries worked at once.
	MaxWorkers int
	// MaxAttempts is the default attempt limit of a delivery job.
	MaxAttempts int
	// JobTimeout is River's client-level job timeout, used for workers that
	// don't set their own.
	JobTimeout time.Duration
	// RescueAfter is how long a job may stay running before River's rescuer
	// treats it as stuck and schedules a retry. It must exceed JobTimeout.
	// Default JobTimeout + 10 s. With SQLite, orphans of a dead process are
	// not left to the rescuer: Open frees them at once. With PostgreSQL the
	// rescuer is what frees the jobs of a replica that died (package doc).
	RescueAfter time.Duration

	// PollInterval is how often workers look for jobs that became due (a
	// retry or a snooze ending) when nothing woke them. Default 1 s (River's).
	// New jobs wake the workers through River's notification outbox within
	// about 50 ms regardless.
	PollInterval time.Duration
	// FetchCooldown is the least time between two fetches. Default 100 ms
	// (River's). Tests shorten both.
	FetchCooldown time.Duration

	// MinFreeBytes is, for sqlite, the free space the database's filesystem
	// must keep: below it Accept refuses new events with ErrDiskFull and
	// Ping reports the store not writable, while deliveries already
	// accepted go on using what is left (health.go). Default
	// DefaultMinFreeBytes; negative: no reserve. Ignored for postgres.
	MinFreeBytes int64
}

func (c Config) withDefaults() (Config, error) {
	if c.Driver == "" {
		c.Driver = DefaultDriver
	}
	if c.DSN == "" && c.Driver == "sqlite" {
		c.DSN = DefaultDSN
	}
	if c.DedupWindow == 0 {
		c.DedupWindow = DefaultDedupWindow
	}
	if c.MaxWorkers == 0 {
		c.MaxWorkers = DefaultMaxWorkers
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.JobTimeout == 0 {
		c.JobTimeout = DefaultJobTimeout
	}
	if c.RescueAfter == 0 {
		c.RescueAfter = c.JobTimeout + rescueMargin
	}
	if c.MinFreeBytes == 0 {
		c.MinFreeBytes = DefaultMinFreeBytes
	}
	switch {
	case c.Driver != "sqlite" && c.Driver != "postgres":
		return c, fmt.Errorf("store: unknown driver %q (want sqlite or postgres)", c.Driver)
	case c.DSN == "":
		return c, fmt.Errorf("store: dsn is required for driver %s", c.Driver)
	case c.DedupWindow < 0:
		return c, fmt.Errorf("store: dedup_window %s must be positive", c.DedupWindow)
	case c.MaxWorkers < 1 || c.MaxWorkers > 10000:
		return c, fmt.Errorf("store: max_workers %d must be between 1 and 10000", c.MaxWorkers)
	case c.MaxAttempts < 1:
		return c, fmt.Errorf("store: max_attempts %d must be at least 1", c.MaxAttempts)
	case c.JobTimeout < 0:
		return c, fmt.Errorf("store: job_timeout %s must be positive", c.JobTimeout)
	case c.RescueAfter <= c.JobTimeout:
		return c, fmt.Errorf("store: rescue_after %s must exceed job_timeout %s", c.RescueAfter, c.JobTimeout)
	case c.PollInterval < 0, c.FetchCooldown < 0:
		return c, errors.New("store: poll_interval and fetch_cooldown must be positive")
	}
	return c, nil
}

// DeliveryArgs is the River job that delivers one event to one destination.
// The payload is built before the job is stored, so a template or config
// change never alters a message already accepted.
type DeliveryArgs struct {
	EventID     string         `json:"event_id"`
	Destination string         `json:"destination"` // configured destination name, never a URL
	Payload     notify.Payload `json:"payload"`
	// MaxAttempts is the job's own attempt limit when the event's project
	// set one (retry_count); River's MaxAttempts holds the same number. 0:
	// the destination's limit applies.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// RequestID is the id of the ingest request that created the job, for
	// the worker's log lines. Jobs stored before it existed have none.
	RequestID string `json:"request_id,omitempty"`
}

// Kind is the River job kind. Stored jobs carry it: never rename.
func (DeliveryArgs) Kind() string { return "delivery" }

// Store is herald's database and delivery queue.
type Store struct {
	cfg    Config
	db     backend
	client queue
	log    zerolog.Logger

	// beforeCommit, when set (tests only), runs inside each batch's
	// transaction (writer.go) after every row is written and before the
	// commit.
	beforeCommit func() error

	// The writer goroutine (writer.go) and what it dispatches to (lease.go).
	writes     chan *writeReq
	writerQuit chan struct{}
	writerWG   sync.WaitGroup
	dispatcher Dispatcher
	working    atomic.Bool // between Start and Stop: leased jobs get worked

	mu      sync.Mutex
	started bool
	closed  bool
}

// ErrLocked is returned by Open when another process (or another Store in
// this one) holds a SQLite database.
var ErrLocked = errors.New("database is in use by another herald process")

// Open opens the database, migrates River's and our schema and builds the
// River client with workers (nil for a store that only enqueues). For
// SQLite it first takes the file's lock and, once migrated, frees the jobs a
// dead process left running. It does not start working jobs: call Start.
func Open(ctx context.Context, cfg Config, workers *river.Workers, log zerolog.Logger) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	log = log.With().Str("component", "store").Logger()

	db, err := openBackend(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, db: db, log: log}
	fail := func(err error) (*Store, error) {
		_ = db.close()
		return nil, err
	}

	// River logs through slog; route it into ours at warn and above, since
	// the delivery worker logs each outcome itself.
	riverLog := log.With().Str("component", "river").Logger()
	riverLog = riverLog.Level(max(riverLog.GetLevel(), zerolog.WarnLevel))
	slogger := slog.New(zerolog.NewSlogHandler(riverLog))

	if _, err := migrate(ctx, db, slogger); err != nil {
		return fail(err)
	}
	if lite, ok := db.(*sqliteBackend); ok {
		if err := lite.reclaimOrphans(ctx, log); err != nil {
			return fail(err)
		}
	}

	rcfg := &river.Config{
		Logger:                      slogger,
		MaxAttempts:                 cfg.MaxAttempts,
		JobTimeout:                  cfg.JobTimeout,
		RescueStuckJobsAfter:        cfg.RescueAfter,
		FetchPollInterval:           cfg.PollInterval,
		FetchCooldown:               cfg.FetchCooldown,
		CancelledJobRetentionPeriod: finalJobRetention,
		DiscardedJobRetentionPeriod: finalJobRetention,
	}
	if workers != nil {
		rcfg.Workers = workers
		rcfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.MaxWorkers}}
	}
	client, err := db.newClient(rcfg)
	if err != nil {
		return fail(fmt.Errorf("store: river client: %w", err))
	}
	s.client = client
	s.startWriter()
	return s, nil
}

// openBackend connects to cfg's database (cfg has its defaults).
func openBackend(ctx context.Context, cfg Config, log zerolog.Logger) (backend, error) {
	switch cfg.Driver {
	case "sqlite":
		return openSQLite(ctx, cfg.DSN, log)
	case "postgres":
		return openPostgres(ctx, cfg.DSN)
	default:
		return nil, fmt.Errorf("store: unknown driver %q (want sqlite or postgres)", cfg.Driver)
	}
}

func nopLogger() zerolog.Logger { return zerolog.Nop() }

// Start begins working jobs in the background. It keeps running until Stop
// or Close: cancelling ctx does not stop it (River would treat that as a hard
// stop and cut in-flight deliveries short), so a shutdown signal should lead
// to Stop with a deadline.
func (s *Store) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("store: start after close")
	}
	if s.started {
		return nil
	}
	if err := s.client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("store: start workers: %w", err)
	}
	s.started = true
	s.working.Store(true)
	return nil
}

// Stop stops fetching jobs and waits for in-flight deliveries to finish
// until ctx is done. Deliveries still running then are cancelled: River puts
// them back as available without counting the attempt, so the next start
// sends them again.
func (s *Store) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked(ctx)
}

func (s *Store) stopLocked(ctx context.Context) error {
	if !s.started {
		return nil
	}
	s.started = false
	s.working.Store(false)
	err := s.client.Stop(ctx)
	if err == nil {
		return nil
	}
	if ctx.Err() == nil {
		return fmt.Errorf("store: stop workers: %w", err)
	}
	// Out of time: cancel what's still running and give it a moment to be
	// recorded, so it is redelivered rather than left running.
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if herr := s.client.StopAndCancel(hctx); herr != nil {
		return fmt.Errorf("store: stop workers: %w (and cancelling in-flight jobs: %v)", err, herr)
	}
	return fmt.Errorf("store: stop workers: in-flight deliveries cancelled: %w", err)
}

// Close stops workers if they still run (cancelling in-flight deliveries),
// closes the database and releases its lock.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if s.started {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.started = false
		s.working.Store(false)
		if err := s.client.StopAndCancel(ctx); err != nil {
			errs = append(errs, fmt.Errorf("store: stop workers: %w", err))
		}
		cancel()
	}
	s.stopWriter()
	if err := s.db.close(); err != nil {
		errs = append(errs, fmt.Errorf("store: close database: %w", err))
	}
	return errors.Join(errs...)
}
