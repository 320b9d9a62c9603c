package store

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/herald-ci/herald/internal/store/storetest"
)

// refuseHealthWrites makes every write to herald_health fail, as a
// read-only database would, while reads go on working.
var refuseHealthWrites = map[string][]string{
	"sqlite": {
		`CREATE TRIGGER refuse_insert BEFORE INSERT ON herald_health BEGIN SELECT RAISE(ABORT, 'read-only for the test'); END`,
		`CREATE TRIGGER refuse_update BEFORE UPDATE ON herald_health BEGIN SELECT RAISE(ABORT, 'read-only for the test'); END`,
	},
	"postgres": {
		`CREATE FUNCTION refuse_write() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RAISE EXCEPTION ''read-only for the test''; END'`,
		`CREATE TRIGGER refuse_write BEFORE INSERT OR UPDATE ON herald_health FOR EACH ROW EXECUTE FUNCTION refuse_write()`,
	},
}

// TestPingWrites: readiness is a write. Ping records its time in
// herald_health, and fails when the database answers reads but refuses
// writes.
func TestPingWrites(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		s := openStore(t, driverConfig(t, d), nil)
		ctx := t.Context()
		checkedAt := func() time.Time {
			t.Helper()
			var at dbTime
			if err := s.db.queryRow(ctx, `SELECT checked_at FROM herald_health WHERE id = 1`).Scan(&at); err != nil {
				t.Fatalf("herald_health: %v", err)
			}
			return at.Time
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		first := checkedAt()
		time.Sleep(5 * time.Millisecond) // SQLite keeps milliseconds
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("second Ping: %v", err)
		}
		if second := checkedAt(); !second.After(first) {
			t.Errorf("checked_at %v after the second Ping, want later than %v", second, first)
		}

		for _, q := range refuseHealthWrites[d.Name] {
			if _, err := s.db.exec(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		var one int
		if err := s.db.queryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
			t.Fatalf("reads should still work: %v", err)
		}
		err := s.Ping(ctx)
		if err == nil || !strings.Contains(err.Error(), "not writable") {
			t.Errorf("Ping on a database that refuses writes = %v, want not writable", err)
		}
	})
}

// TestDiskReserve: below the SQLite reserve, Accept stores nothing and says
// ErrDiskFull, and Ping says the store is not writable. A negative reserve
// turns it off. (No filesystem is that large: 1<<62 bytes is always short.)
func TestDiskReserve(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t.TempDir())
	cfg.MinFreeBytes = 1 << 62
	s := openStore(t, cfg, nil)
	ctx := t.Context()
	if _, err := s.Accept(ctx, sampleEvent("k"), sampleDeliveries("slack-ci")); !errors.Is(err, ErrDiskFull) {
		t.Errorf("Accept below the reserve = %v, want ErrDiskFull", err)
	}
	if events, jobs, dedup, links := counts(t, s); events+jobs+dedup+links != 0 {
		t.Errorf("stored %d events, %d jobs, %d dedup records, %d links; want nothing", events, jobs, dedup, links)
	}
	err := s.Ping(ctx)
	if !errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), "MiB free in ") {
		t.Errorf("Ping below the reserve = %v, want ErrDiskFull naming the free space", err)
	}

	cfg = testConfig(t.TempDir())
	cfg.MinFreeBytes = -1
	s = openStore(t, cfg, nil)
	if _, err := s.Accept(ctx, sampleEvent("k"), sampleDeliveries("slack-ci")); err != nil {
		t.Errorf("Accept without a reserve: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping without a reserve: %v", err)
	}
}

// TestDiskFullSQLite fills the filesystem under a SQLite database for real
// (a tmpfs; root only, required in CI) after a commit failed half-way, which
// leaves the WAL blocks a small commit could still use. Accept and Ping must
// both refuse while the disk is full, not only for large writes, and both
// recover on the same connection once space is freed.
func TestDiskFullSQLite(t *testing.T) {
	t.Parallel()
	dir := storetest.Tmpfs(t, 16<<20)
	cfg := testConfig(dir)
	cfg.MinFreeBytes = 1 << 20
	s := openStore(t, cfg, nil)
	ctx := t.Context()
	if _, err := s.Accept(ctx, sampleEvent("before"), sampleDeliveries("slack-ci")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.exec(ctx, `CREATE TABLE ballast (b blob)`); err != nil {
		t.Fatal(err)
	}

	filler := storetest.Fill(t, dir)
	// Give back 256 KiB and spend it on a 1 MiB commit, past the reserve
	// check, as a large event on a nearly full disk does: it fails with
	// SQLITE_FULL after writing part of its frames.
	if err := os.Truncate(filler, fileSize(t, filler)-256<<10); err != nil {
		t.Fatal(err)
	}
	_, err := s.db.exec(ctx, `INSERT INTO ballast VALUES (randomblob(1048576))`)
	var serr *sqlite.Error
	if !errors.As(err, &serr) || serr.Code()&0xff != sqlite3.SQLITE_FULL {
		t.Fatalf("1 MiB commit on a nearly full disk = %v, want SQLITE_FULL", err)
	}
	if free, err := diskFree(dir); err != nil || free != 0 {
		t.Fatalf("free space after the failed commit: %d, %v; want none", free, err)
	}
	// What a bare write probe would say now, for the log: SQLite reuses
	// the failed commit's frames, so this usually succeeds.
	_, err = s.db.exec(ctx, healthProbe, s.db.timeArg(time.Now()))
	t.Logf("a bare write probe on the full disk: %v", err)

	if _, err := s.Accept(ctx, sampleEvent("during"), sampleDeliveries("slack-ci")); !errors.Is(err, ErrDiskFull) {
		t.Errorf("Accept on a full disk = %v, want ErrDiskFull", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, ErrDiskFull) {
		t.Errorf("Ping on a full disk = %v, want ErrDiskFull", err)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping once space is back: %v", err)
	}
	acc, err := s.Accept(ctx, sampleEvent("during"), sampleDeliveries("slack-ci"))
	if err != nil || acc.Duplicate {
		t.Errorf("Accept of the refused event once space is back = %+v, %v; want a new event", acc, err)
	}
	if events, jobs, _, _ := counts(t, s); events != 2 || jobs != 2 {
		t.Errorf("%d events and %d jobs stored, want 2 and 2 (before and the retried one)", events, jobs)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
