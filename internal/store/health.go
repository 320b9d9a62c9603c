package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// Readiness means the store can commit now, not only that it answers: Ping
// writes. It upserts the one row of herald_health in a transaction of its
// own, bounded by the caller's context; on SQLite that takes the write lock
// and waits for the fsync as an Accept does, and on PostgreSQL it fails on
// a read-only or full server as well as on a lost connection. It costs one
// small commit (about 0.3 ms on SQLite, its fsync: BenchmarkPing), every few
// seconds at probe frequency.
//
// # SQLite on a full disk
//
// A write probe alone flaps on a full filesystem. SQLite writes each commit
// as whole-page frames appended to the WAL. A commit that fails half-way
// leaves frames, in blocks the filesystem had already handed out, past the
// last good one, and the next commit overwrites them; after a checkpoint
// the WAL starts over at the beginning of its file. Either way a small
// commit (the probe, a small event) succeeds on a full filesystem while the
// next larger one fails, so readiness would follow the size of the writes.
// PRAGMA journal_size_limit doesn't help: cutting the WAL at its restart
// gives its blocks back, and the commits after it succeed until they are
// used up.
//
// So herald also looks at the filesystem: below Config.MinFreeBytes free
// beside the database, Accept refuses new events with ErrDiskFull before it
// writes anything (the server answers 503 with Retry-After) and Ping says
// the store is not writable; both come back by themselves once there is
// room again. The space under the threshold is left to the work already
// accepted: recording deliveries, retries and River's own bookkeeping,
// which would otherwise fail and leave messages sent but unrecorded, to be
// sent again. The check is one statfs per Accept (about 1.5 µs). A limit the
// filesystem's free count doesn't show (a quota) still fails the writes,
// and with them the probe.

// ErrDiskFull is returned by Accept, and reported by Ping, when a SQLite
// database's filesystem has less free space than Config.MinFreeBytes.
var ErrDiskFull = errors.New("disk full")

// healthProbe is the readiness write: one row of one table, so one page.
const healthProbe = `
INSERT INTO herald_health (id, checked_at) VALUES (1, $1)
ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at`

// Ping reports whether the store can commit: it writes (see above) and, for
// SQLite, checks the free space Accept needs. For readiness.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.checkRoom(); err != nil {
		return fmt.Errorf("store: not writable: %w", err)
	}
	if _, err := s.db.exec(ctx, healthProbe, s.db.timeArg(time.Now())); err != nil {
		return fmt.Errorf("store: not writable: %w", err)
	}
	return nil
}

// checkRoom returns ErrDiskFull when a SQLite database's filesystem has less
// free space than the reserve. When the platform can't tell, it says
// nothing: the writes themselves will.
func (s *Store) checkRoom() error {
	lite, ok := s.db.(*sqliteBackend)
	if !ok || s.cfg.MinFreeBytes < 0 {
		return nil
	}
	dir := filepath.Dir(lite.path)
	free, err := diskFree(dir)
	if err != nil || free >= s.cfg.MinFreeBytes {
		return nil
	}
	return fmt.Errorf("%w: %s free in %s, below the %s kept for deliveries already accepted",
		ErrDiskFull, mebibytes(free), dir, mebibytes(s.cfg.MinFreeBytes))
}

func mebibytes(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
