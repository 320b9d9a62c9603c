package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
)

// The dialect layer. The store's logic (Accept, dedup, queries, migrations)
// is written once, against backend; sqlite.go and postgres.go implement it.
// What differs between the two, and only that, lives behind it:
//
//   - placeholders: statements are written with PostgreSQL's $1, $2...;
//     the SQLite backend rewrites them to SQLite's numbered ?1, ?2...,
//     which bind by number exactly like $n (a repeated $1 is one argument).
//   - time columns: SQLite has no time type, so times are text in River's
//     layout (sqliteTime); PostgreSQL has timestamptz. Arguments go through
//     backend.timeArg, results scan into dbTime, which accepts both.
//   - schema DDL (migration holds one text per dialect) and the River driver
//     with its transaction type (*sql.Tx or pgx.Tx), hidden in txn.
//   - process ownership: a SQLite file has one owner process (file lock,
//     orphans freed at Open); a PostgreSQL database is shared by replicas
//     (no lock, River's rescuer frees orphans).
//
// ON CONFLICT ... DO UPDATE ... WHERE ... RETURNING, CAST, count(*) and
// coalesce mean the same on both, so the statements themselves don't fork.

// backend is one database under the store.
type backend interface {
	querier

	// dialect names the SQL dialect: "sqlite" or "postgres" (migration keys).
	dialect() string
	// begin starts a transaction that our statements and River's inserts
	// share. Only newClient's client can insert jobs into it.
	begin(ctx context.Context) (txn, error)
	// timeArg is t as a time column argument.
	timeArg(t time.Time) any
	// writers is how many transactions of the writer (writer.go) may run
	// at once: one on SQLite, which has a single writer anyway; a few on
	// PostgreSQL, where each statement is a round trip.
	writers() int
	// conflict reports whether err is the database giving up on a
	// transaction for another's sake (deadlock, serialization failure):
	// worth running again as it was.
	conflict(err error) bool

	// lockMigrations serialises migrations among everyone opening the same
	// database; unlock is never nil.
	lockMigrations(ctx context.Context) (unlock func(), err error)
	// migrateRiver applies River's own migrations and returns the versions
	// applied.
	migrateRiver(ctx context.Context, log *slog.Logger) ([]int, error)
	// newClient builds the River client over this database.
	newClient(cfg *river.Config) (queue, error)

	close() error
}

// querier runs statements written with $n placeholders. exec returns the
// number of rows affected.
type querier interface {
	exec(ctx context.Context, query string, args ...any) (int64, error)
	queryRow(ctx context.Context, query string, args ...any) row
	query(ctx context.Context, query string, args ...any) (rows, error)
}

// row is *sql.Row or pgx.Row. No row is an error matching sql.ErrNoRows on
// both (pgx.ErrNoRows wraps it).
type row interface {
	Scan(dest ...any) error
}

// rows is a result set; Close may be called more than once.
type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// txn is an open transaction on a backend: our statements and River's
// job operations (riverTx) commit together.
type txn interface {
	querier
	insertJobs(ctx context.Context, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
	// completeDelivery marks a job River's worker is running completed in
	// this transaction (River's JobCompleteTx, which needs the driver's
	// type, and lets River's executor skip recording it again).
	completeDelivery(ctx context.Context, job *river.Job[DeliveryArgs]) error
	// setStates gives running jobs their new states (River's
	// JobSetStateIfRunningMany, which needs the driver's type) and returns
	// the rows it changed.
	setStates(ctx context.Context, params []*riverdriver.JobSetStateIfRunningParams, now time.Time) ([]*rivertype.JobRow, error)
	commit(ctx context.Context) error
	// rollback is a no-op after commit.
	rollback(ctx context.Context) error
}

// queue is the part of the River client that doesn't depend on the
// driver's transaction type; the rest is in riverTx.
type queue interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	JobGet(ctx context.Context, id int64) (*rivertype.JobRow, error)
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
	JobDeleteMany(ctx context.Context, params *river.JobDeleteManyParams) (*river.JobDeleteManyResult, error)
	PeriodicJobs() *river.PeriodicJobBundle
}

var (
	_ queue = (*river.Client[*sql.Tx])(nil)
	_ row   = (*sql.Row)(nil)
)

// riverTx is River's side of a txn, for either driver's transaction type.
type riverTx[TTx any] struct {
	client *river.Client[TTx] // nil before newClient: no job operations
	tx     TTx
}

var errNoClient = errors.New("store: river client not built yet")

func (r riverTx[TTx]) insertJobs(ctx context.Context, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error) {
	if r.client == nil {
		return nil, errNoClient
	}
	return r.client.InsertManyTx(ctx, r.tx, params)
}

func (r riverTx[TTx]) setStates(ctx context.Context, params []*riverdriver.JobSetStateIfRunningParams, now time.Time) ([]*rivertype.JobRow, error) {
	if r.client == nil {
		return nil, errNoClient
	}
	return r.client.Driver().UnwrapExecutor(r.tx).JobSetStateIfRunningMany(ctx, setStateMany(params, r.client.Schema(), now))
}

// jsonParam is the placeholder $n read as a JSON value for a jsonb column
// (River's job args and metadata are jsonb on both).
func jsonParam(dialect string, n int) string {
	if dialect == "postgres" {
		return fmt.Sprintf("$%d::jsonb", n)
	}
	return fmt.Sprintf("jsonb($%d)", n)
}

// dbTime scans a time column of either dialect: a time.Time (PostgreSQL
// timestamptz) or text in River's SQLite layout.
type dbTime struct{ time.Time }

func (t *dbTime) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		t.Time = v
		return nil
	case string:
		return t.parse(v)
	case []byte:
		return t.parse(string(v))
	default:
		return fmt.Errorf("time column holds %T", src)
	}
}

func (t *dbTime) parse(s string) (err error) {
	t.Time, err = parseSQLiteTime(s)
	return err
}
