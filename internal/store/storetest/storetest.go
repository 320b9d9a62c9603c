// Package storetest gives tests a fresh, empty database for every driver the
// store supports, so that one suite runs on SQLite and on PostgreSQL.
//
// SQLite needs nothing. PostgreSQL needs a server: HERALD_TEST_POSTGRES_DSN
// names one (scripts/pg.sh starts a throwaway one and prints the export
// line). Each database it hands out is a schema of its own on that server,
// selected by search_path in the DSN and dropped when the test ends, so
// tests stay independent and can run in parallel. Without the variable,
// PostgreSQL subtests are skipped, except in CI (CI=true), where they fail.
//
// Tmpfs and Fill give SQLite a small filesystem to fill up, for the
// disk-full tests; mounting needs root on Linux, and CI must provide it.
//
// Only tests import this package. It does not import the store, so the
// store's own tests can use it.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvPostgresDSN names the variable with the PostgreSQL server for tests.
const EnvPostgresDSN = "HERALD_TEST_POSTGRES_DSN"

// Driver is one store driver under test.
type Driver struct {
	// Name is the store's driver name: "sqlite" or "postgres".
	Name string
	base string // postgres: the server's DSN
}

// SQLite is the SQLite driver.
func SQLite() Driver { return Driver{Name: "sqlite"} }

// Postgres is the PostgreSQL driver. It skips t when HERALD_TEST_POSTGRES_DSN
// is unset, or fails it when CI=true: CI must test both drivers.
func Postgres(t testing.TB) Driver {
	t.Helper()
	dsn := os.Getenv(EnvPostgresDSN)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set (CI=true: PostgreSQL tests must run; eval \"$(scripts/pg.sh)\")", EnvPostgresDSN)
		}
		t.Skipf("%s is not set: skipping PostgreSQL (eval \"$(scripts/pg.sh)\" to run it)", EnvPostgresDSN)
	}
	return Driver{Name: "postgres", base: dsn}
}

// Run runs f once per driver, as parallel subtests named after the drivers.
func Run(t *testing.T, f func(t *testing.T, d Driver)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		f(t, SQLite())
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		f(t, Postgres(t))
	})
}

// DSN returns the DSN of a new, empty database, removed when t ends (after
// the cleanups t registers later, such as closing a store on it).
func (d Driver) DSN(t testing.TB) string {
	t.Helper()
	if d.Name == "sqlite" {
		return filepath.Join(t.TempDir(), "herald.db")
	}
	schema := "herald_test_" + randomHex(t, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, d.base)
	if err != nil {
		t.Fatalf("storetest: connect to %s: %v", EnvPostgresDSN, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("storetest: create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, d.base)
		if err != nil {
			t.Logf("storetest: drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("storetest: drop schema %s: %v", schema, err)
		}
	})
	return withSearchPath(d.base, schema)
}

// withSearchPath sets search_path in a URL or key=value DSN; pgx passes it
// to the server as a run-time parameter of every connection.
func withSearchPath(dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if u, err := url.Parse(dsn); err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " search_path=" + schema
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
