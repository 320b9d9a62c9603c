package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// defaultPostgresConns is the pool size when the DSN sets no pool_max_conns.
// pgxpool's own default (max(4, cores)) is too small here: River keeps one
// connection for LISTEN, its producer, completer and maintenance services
// query in parallel, and every Accept holds one for its transaction.
const defaultPostgresConns = 10

// postgresBackend is a PostgreSQL database that several herald replicas may
// share: River's tables and ours, in the schema the DSN's search_path selects
// (public by default), through one pgx pool.
type postgresBackend struct {
	pool   *pgxpool.Pool
	driver *riverpgxv5.Driver
	client *river.Client[pgx.Tx]
}

var _ backend = (*postgresBackend)(nil)

// openPostgres connects a pool and checks the server answers.
func openPostgres(ctx context.Context, dsn string) (*postgresBackend, error) {
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx redacts passwords in its parse errors only on a best-effort
		// basis, so the DSN's text never goes into ours.
		return nil, errors.New("store: postgres dsn is not a valid connection string (postgres://user@host/db?... or key=value pairs)")
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		pcfg.MaxConns = defaultPostgresConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("store: postgres: %w", err)
	}
	// The pool connects lazily: fail at Open, not at the first Accept.
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: postgres: %w", err)
	}
	return &postgresBackend{pool: pool, driver: riverpgxv5.New(pool)}, nil
}

func (*postgresBackend) dialect() string { return "postgres" }

// postgresWriters: four transactions of batched writes at once keep a
// server busy while each waits on its round trips; the pool has ten
// connections, which leaves River and the API theirs.
func (*postgresBackend) writers() int { return 4 }

// conflict: deadlock_detected and serialization_failure. Concurrent
// batches may lock the same dedup keys or build lines in different orders.
func (*postgresBackend) conflict(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

func (b *postgresBackend) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := b.pool.Exec(ctx, q, args...)
	return tag.RowsAffected(), err
}

func (b *postgresBackend) queryRow(ctx context.Context, q string, args ...any) row {
	return b.pool.QueryRow(ctx, q, args...)
}

func (b *postgresBackend) query(ctx context.Context, q string, args ...any) (rows, error) {
	return b.pool.Query(ctx, q, args...)
}

func (b *postgresBackend) begin(ctx context.Context) (txn, error) {
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &postgresTx{tx: tx, riverTx: riverTx[pgx.Tx]{client: b.client, tx: tx}}, nil
}

func (*postgresBackend) timeArg(t time.Time) any { return t }

// lockMigrations takes a session advisory lock on a connection of its own,
// so that replicas starting together migrate one after the other; the
// migrations themselves run on other connections of the pool. The key is
// per schema, like the tables it guards. Closing the connection releases
// the lock however unlock is reached.
func (b *postgresBackend) lockMigrations(ctx context.Context) (func(), error) {
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx,
		`SELECT pg_advisory_lock(hashtext('herald.migrate:' || coalesce(current_schema(), '')))`); err != nil {
		conn.Release()
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	return func() {
		c := conn.Hijack()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	}, nil
}

func (b *postgresBackend) migrateRiver(ctx context.Context, log *slog.Logger) ([]int, error) {
	return migrateRiver(ctx, b.driver, log)
}

func (b *postgresBackend) newClient(cfg *river.Config) (queue, error) {
	c, err := river.NewClient(b.driver, cfg)
	if err != nil {
		return nil, err
	}
	b.client = c
	return c, nil
}

func (b *postgresBackend) close() error {
	b.pool.Close()
	return nil
}

type postgresTx struct {
	tx pgx.Tx
	riverTx[pgx.Tx]
}

func (t *postgresTx) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := t.tx.Exec(ctx, q, args...)
	return tag.RowsAffected(), err
}

func (t *postgresTx) queryRow(ctx context.Context, q string, args ...any) row {
	return t.tx.QueryRow(ctx, q, args...)
}

func (t *postgresTx) query(ctx context.Context, q string, args ...any) (rows, error) {
	return t.tx.Query(ctx, q, args...)
}

func (t *postgresTx) completeDelivery(ctx context.Context, job *river.Job[DeliveryArgs]) error {
	_, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, t.tx, job)
	return err
}

func (t *postgresTx) commit(ctx context.Context) error { return t.tx.Commit(ctx) }

// rollback runs even when ctx is cancelled (the usual reason to roll back);
// a dead connection fails it at once, and the server then aborts the
// transaction anyway.
func (t *postgresTx) rollback(ctx context.Context) error {
	err := t.tx.Rollback(context.WithoutCancel(ctx))
	if errors.Is(err, pgx.ErrTxClosed) {
		return nil
	}
	return err
}
