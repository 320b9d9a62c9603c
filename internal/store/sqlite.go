package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/rs/zerolog"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver, pure Go
)

// sqlitePragmas are applied by the driver to every new connection.
//
//   - journal_mode WAL: readers don't block the writer; one fsync per commit.
//   - synchronous FULL: a commit is on disk before Accept returns, so "202
//     means committed" survives a power cut, not only a process crash
//     (NORMAL in WAL mode may lose the last commits on power loss).
//   - busy_timeout: waits instead of failing with SQLITE_BUSY if something
//     else (an operator's sqlite3 shell) briefly holds the file.
//   - foreign_keys: SQLite leaves them off unless asked, per connection.
var sqlitePragmas = []string{
	"busy_timeout(10000)",
	"journal_mode(WAL)",
	"synchronous(FULL)",
	"foreign_keys(1)",
}

// sqliteDSN turns a file path into modernc.org/sqlite's DSN. _txlock=immediate
// makes every transaction take the write lock at BEGIN, so two writers never
// deadlock upgrading a read lock.
func sqliteDSN(path string) string {
	q := url.Values{}
	for _, p := range sqlitePragmas {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	return path + "?" + q.Encode()
}

// sqliteBackend is a SQLite file owned by this process.
type sqliteBackend struct {
	path   string
	db     *sql.DB
	lock   *fileLock
	driver *riversqlite.Driver
	client *river.Client[*sql.Tx]
}

var _ backend = (*sqliteBackend)(nil)

// openSQLite takes the file's lock, then opens it with one connection.
//
// One connection, as riversqlite's documentation recommends: SQLite has a
// single writer, and River runs many maintenance queries in parallel, which
// with more connections fail with SQLITE_BUSY instead of queueing. A single
// pooled connection makes database/sql queue them in-process. Workers hold no
// connection while they send, so delivery concurrency is unaffected; what
// serialises is only the short transactions themselves.
func openSQLite(ctx context.Context, path string, log zerolog.Logger) (*sqliteBackend, error) {
	if strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") || strings.Contains(path, ":memory:") {
		return nil, fmt.Errorf("store: sqlite dsn %q must be a plain file path (herald sets the connection options)", path)
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("store: create database directory: %w", err)
		}
	}
	lockPath := path + ".lock"
	lock, err := acquireLock(lockPath)
	if err != nil {
		if errors.Is(err, ErrLocked) {
			return nil, fmt.Errorf("store: %s: %w (lock %s is held)", path, ErrLocked, lockPath)
		}
		return nil, fmt.Errorf("store: lock %s: %w", lockPath, err)
	}

	db, err := sql.Open("sqlite", sqliteDSN(path))
	if err != nil {
		lock.release()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)

	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		_ = db.Close()
		lock.release()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		// Still durable (synchronous=FULL with a rollback journal), only
		// slower: some filesystems can't do WAL's shared memory.
		log.Warn().Str("journal_mode", mode).Msg("sqlite could not enable wal mode")
	}
	return &sqliteBackend{path: path, db: db, lock: lock, driver: riversqlite.New(db)}, nil
}

func (*sqliteBackend) dialect() string { return "sqlite" }

func (*sqliteBackend) writers() int { return 1 }

// conflict: the one connection never competes with another writer.
func (*sqliteBackend) conflict(error) bool { return false }

// sqlitePlaceholders rewrites $n to ?n, SQLite's numbered parameter. Only a
// $ followed by a digit changes, so JSON paths ('$.a', '$[#]') are safe; no
// statement of ours has such a sequence inside a string literal.
func sqlitePlaceholders(q string) string {
	b := []byte(q)
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '$' && b[i+1] >= '0' && b[i+1] <= '9' {
			b[i] = '?'
		}
	}
	return string(b)
}

func (b *sqliteBackend) exec(ctx context.Context, q string, args ...any) (int64, error) {
	return sqlExec(b.db.ExecContext(ctx, sqlitePlaceholders(q), args...))
}

func (b *sqliteBackend) queryRow(ctx context.Context, q string, args ...any) row {
	return b.db.QueryRowContext(ctx, sqlitePlaceholders(q), args...)
}

func (b *sqliteBackend) query(ctx context.Context, q string, args ...any) (rows, error) {
	r, err := b.db.QueryContext(ctx, sqlitePlaceholders(q), args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{r}, nil
}

func (b *sqliteBackend) begin(ctx context.Context) (txn, error) {
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &sqliteTx{tx: tx, riverTx: riverTx[*sql.Tx]{client: b.client, tx: tx}}, nil
}

func (*sqliteBackend) timeArg(t time.Time) any { return sqliteTime(t) }

// lockMigrations: the file lock taken at open already excludes everyone.
func (*sqliteBackend) lockMigrations(context.Context) (func(), error) { return func() {}, nil }

func (b *sqliteBackend) migrateRiver(ctx context.Context, log *slog.Logger) ([]int, error) {
	return migrateRiver(ctx, b.driver, log)
}

func (b *sqliteBackend) newClient(cfg *river.Config) (queue, error) {
	c, err := river.NewClient(b.driver, cfg)
	if err != nil {
		return nil, err
	}
	b.client = c
	return c, nil
}

func (b *sqliteBackend) close() error {
	err := b.db.Close()
	b.lock.release()
	return err
}

type sqliteTx struct {
	tx *sql.Tx
	riverTx[*sql.Tx]
}

func (t *sqliteTx) exec(ctx context.Context, q string, args ...any) (int64, error) {
	return sqlExec(t.tx.ExecContext(ctx, sqlitePlaceholders(q), args...))
}

func (t *sqliteTx) queryRow(ctx context.Context, q string, args ...any) row {
	return t.tx.QueryRowContext(ctx, sqlitePlaceholders(q), args...)
}

func (t *sqliteTx) query(ctx context.Context, q string, args ...any) (rows, error) {
	r, err := t.tx.QueryContext(ctx, sqlitePlaceholders(q), args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{r}, nil
}

func (t *sqliteTx) completeDelivery(ctx context.Context, job *river.Job[DeliveryArgs]) error {
	_, err := river.JobCompleteTx[*riversqlite.Driver](ctx, t.tx, job)
	return err
}

func (t *sqliteTx) commit(context.Context) error { return t.tx.Commit() }

func (t *sqliteTx) rollback(context.Context) error {
	if err := t.tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return err
	}
	return nil
}

func sqlExec(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// sqlRows adapts *sql.Rows to rows.
type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

// sqliteTime formats t the way River's SQLite driver stores times. SQLite has
// no time type: times are text compared as text, so every time we write or
// compare against River's columns must use exactly this layout, in UTC.
func sqliteTime(t time.Time) string {
	return t.UTC().Round(time.Millisecond).Format("2006-01-02 15:04:05.000")
}

func parseSQLiteTime(s string) (time.Time, error) {
	return time.ParseInLocation("2006-01-02 15:04:05.000", s, time.UTC)
}

// orphanError is recorded in the job's errors, as River's rescuer does.
const orphanError = "orphaned: the herald process that was running this job exited; freed at start"

// reclaimOrphans frees every job left in state running. It runs under the
// file lock before any worker starts, so no job can really be running: a
// running row means the previous process died mid-attempt (SIGKILL, OOM,
// power cut). River's own rescuer would wait RescueAfter (default one hour)
// and then apply the retry backoff; we make the job available at once, so a
// delivery interrupted by a crash goes out as soon as herald is back.
//
// Like River's rescuer, the interrupted attempt counts (the platform may have
// received it): a job that had used its last attempt is discarded, and one
// whose cancellation was requested is cancelled.
func (b *sqliteBackend) reclaimOrphans(ctx context.Context, log zerolog.Logger) error {
	now := time.Now()
	errJSON, err := json.Marshal(struct {
		At    time.Time `json:"at"`
		Error string    `json:"error"`
	}{now.UTC(), orphanError})
	if err != nil {
		return err
	}
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: reclaim orphaned jobs: %w", err)
	}
	defer func() { _ = tx.Rollback() }()

	// json_valid (flags 5: JSON text or JSONB; River writes JSONB) guards
	// every JSON function, so a malformed value can't stop herald starting.
	res, err := tx.ExecContext(ctx, `
WITH orphan AS (
    SELECT id,
        CASE WHEN json_valid(metadata, 5)
             THEN json_extract(metadata, '$.cancel_attempted_at') END IS NOT NULL AS cancel_requested
    FROM river_job WHERE state = 'running'
)
UPDATE river_job SET
    state = CASE
        WHEN orphan.cancel_requested THEN 'cancelled'
        WHEN attempt >= max_attempts THEN 'discarded'
        ELSE 'available' END,
    scheduled_at = CASE
        WHEN NOT orphan.cancel_requested AND attempt < max_attempts THEN ?1
        ELSE scheduled_at END,
    finalized_at = CASE
        WHEN orphan.cancel_requested OR attempt >= max_attempts THEN ?1
        ELSE NULL END,
    errors = jsonb(json_insert(
        coalesce(CASE WHEN json_valid(errors, 5) THEN
                     CASE WHEN json_type(errors) = 'array' THEN json(errors) END END, '[]'),
        '$[#]', json_set(json(?2), '$.attempt', attempt, '$.trace', '')))
FROM orphan
WHERE river_job.id = orphan.id
`, sqliteTime(now), string(errJSON))
	if err != nil {
		return fmt.Errorf("store: reclaim orphaned jobs: %w", err)
	}
	// Jobs leased to the dead process for a first attempt from memory
	// (lease.go) are due now rather than when their lease runs out.
	leased, err := tx.ExecContext(ctx, `
UPDATE river_job SET state = 'available', scheduled_at = ?1
WHERE state = 'scheduled' AND kind = 'delivery'
  AND CASE WHEN json_valid(metadata, 5) THEN json_extract(metadata, '$.herald_lease') END = 1
`, sqliteTime(now))
	if err != nil {
		return fmt.Errorf("store: reclaim leased jobs: %w", err)
	}
	// The dead process may still be recorded as River's leader; its lease
	// would keep this one from running the scheduler and rescuer until it
	// expires. Nobody else can hold this file, so the lease is void.
	if _, err := tx.ExecContext(ctx, `DELETE FROM river_leader`); err != nil {
		return fmt.Errorf("store: clear stale leader: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: reclaim orphaned jobs: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		log.Warn().Int64("jobs", n).Msg("freed jobs orphaned by a previous process")
	}
	if n, _ := leased.RowsAffected(); n > 0 {
		log.Warn().Int64("jobs", n).Msg("freed jobs leased to a previous process for their first attempt")
	}
	return nil
}
