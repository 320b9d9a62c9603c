package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivermigrate"
)

// migration is one of our schema changes, in each dialect's DDL. The two
// texts must mean the same; only types differ: SQLite times are text in
// River's layout (see sqliteTime) so they compare correctly, PostgreSQL's
// are timestamptz; blob is bytea.
type migration struct {
	sqlite, postgres string
}

func (m migration) ddl(dialect string) string {
	if dialect == "postgres" {
		return m.postgres
	}
	return m.sqlite
}

// migrations are applied in order after River's. Append only: never edit
// one that has shipped.
var migrations = []migration{
	// 1: events, dedup records and the event → delivery job mapping.
	{
		sqlite: `
CREATE TABLE events (
    id          text PRIMARY KEY,
    source      text NOT NULL,
    type        text NOT NULL,
    kind        text NOT NULL,
    status      text NOT NULL,
    dedup_key   text,           -- NULL when the sender gave none
    received_at text NOT NULL,
    raw         blob
);
CREATE INDEX events_received_at ON events (received_at);

-- One row per (source, dedup_key): the event that currently owns the key,
-- until expires_at. Its primary key is what makes concurrent identical posts
-- race-free: see Accept.
CREATE TABLE event_dedup (
    source     text NOT NULL,
    dedup_key  text NOT NULL,
    event_id   text NOT NULL REFERENCES events (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    expires_at text NOT NULL,
    PRIMARY KEY (source, dedup_key)
);
CREATE INDEX event_dedup_event_id ON event_dedup (event_id);

-- The River jobs an event produced, in the order given. No foreign key to
-- river_job: River's cleaner deletes finished jobs on its own schedule.
CREATE TABLE event_deliveries (
    event_id    text NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    position    integer NOT NULL,
    job_id      integer NOT NULL,
    destination text NOT NULL,
    PRIMARY KEY (event_id, position)
);
`,
		postgres: `
CREATE TABLE events (
    id          text PRIMARY KEY,
    source      text NOT NULL,
    type        text NOT NULL,
    kind        text NOT NULL,
    status      text NOT NULL,
    dedup_key   text,
    received_at timestamptz NOT NULL,
    raw         bytea
);
CREATE INDEX events_received_at ON events (received_at);

CREATE TABLE event_dedup (
    source     text NOT NULL,
    dedup_key  text NOT NULL,
    event_id   text NOT NULL REFERENCES events (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (source, dedup_key)
);
CREATE INDEX event_dedup_event_id ON event_dedup (event_id);

CREATE TABLE event_deliveries (
    event_id    text NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    position    integer NOT NULL,
    job_id      bigint NOT NULL,
    destination text NOT NULL,
    PRIMARY KEY (event_id, position)
);
`,
	},
	// 2: the last outcome of each build line (routing state), and the
	// per-destination message dedup records (dedup_window).
	{
		sqlite: `
-- One row per build line: its last finished build's outcome, in the line's
-- own order (build number, else finish time). version counts the changes;
-- Accept writes only if it still holds the version the event was routed
-- with (see outcome.go). finished_at is RFC 3339 text in both dialects and
-- is compared in Go, never in SQL.
CREATE TABLE build_outcomes (
    source       text NOT NULL,
    project      text NOT NULL,
    build_config text NOT NULL,
    branch       text NOT NULL,
    outcome      text NOT NULL,
    number       text NOT NULL,
    finished_at  text NOT NULL,
    event_id     text NOT NULL,
    version      integer NOT NULL,
    updated_at   text NOT NULL,
    PRIMARY KEY (source, project, build_config, branch)
);

-- A rendered message sent to a destination, until expires_at: the same
-- destination and payload hash within the window is not sent again. The
-- primary key serialises concurrent claims, as event_dedup's does.
CREATE TABLE message_dedup (
    destination  text NOT NULL,
    payload_hash text NOT NULL,
    expires_at   text NOT NULL,
    PRIMARY KEY (destination, payload_hash)
);
CREATE INDEX message_dedup_expires_at ON message_dedup (expires_at);
`,
		postgres: `
CREATE TABLE build_outcomes (
    source       text NOT NULL,
    project      text NOT NULL,
    build_config text NOT NULL,
    branch       text NOT NULL,
    outcome      text NOT NULL,
    number       text NOT NULL,
    finished_at  text NOT NULL,
    event_id     text NOT NULL,
    version      bigint NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (source, project, build_config, branch)
);

CREATE TABLE message_dedup (
    destination  text NOT NULL,
    payload_hash text NOT NULL,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (destination, payload_hash)
);
CREATE INDEX message_dedup_expires_at ON message_dedup (expires_at);
`,
	},
	// 3: the row readiness rewrites (Store.Ping, health.go).
	{
		sqlite: `
-- One row, upserted by every readiness check: proof that the database takes
-- a write, not only a read.
CREATE TABLE herald_health (
    id         integer PRIMARY KEY CHECK (id = 1),
    checked_at text NOT NULL
);
`,
		postgres: `
CREATE TABLE herald_health (
    id         integer PRIMARY KEY CHECK (id = 1),
    checked_at timestamptz NOT NULL
);
`,
	},
	// 4: destinations created or disabled through the admin API
	// (destinations.go).
	{
		sqlite: `
-- One row per destination the admin API changed. origin 'api': created
-- through it, spec is its JSON (config keys, the webhook URL included).
-- origin 'config': the file's destination of that name, disabled; spec ''.
CREATE TABLE herald_destinations (
    name       text PRIMARY KEY,
    origin     text NOT NULL CHECK (origin IN ('api', 'config')),
    spec       text NOT NULL,
    enabled    integer NOT NULL,
    updated_at text NOT NULL
);

-- One row: bumped by every change of herald_destinations, in its
-- transaction. Replicas poll it; writers compare-and-set it.
CREATE TABLE herald_destinations_version (
    id      integer PRIMARY KEY CHECK (id = 1),
    version integer NOT NULL
);
INSERT INTO herald_destinations_version (id, version) VALUES (1, 0);
`,
		postgres: `
CREATE TABLE herald_destinations (
    name       text PRIMARY KEY,
    origin     text NOT NULL CHECK (origin IN ('api', 'config')),
    spec       text NOT NULL,
    enabled    boolean NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE herald_destinations_version (
    id      integer PRIMARY KEY CHECK (id = 1),
    version bigint NOT NULL
);
INSERT INTO herald_destinations_version (id, version) VALUES (1, 0);
`,
	},
}

// migrationTable records our applied migrations.
var migrationTable = migration{
	sqlite:   `CREATE TABLE IF NOT EXISTS herald_migration (version integer PRIMARY KEY, applied_at text NOT NULL)`,
	postgres: `CREATE TABLE IF NOT EXISTS herald_migration (version integer PRIMARY KEY, applied_at timestamptz NOT NULL)`,
}

// MigrateResult lists the migrations a Migrate applied.
type MigrateResult struct {
	River  []int // River's schema versions
	Herald []int // ours
}

// Migrate applies River's and herald's pending migrations to the database
// cfg names and returns what it applied. Open does the same, so running it
// is optional; it lets an operator migrate before rolling out replicas.
// For SQLite it takes the file's lock, so it fails while herald runs.
func Migrate(ctx context.Context, cfg Config) (MigrateResult, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return MigrateResult{}, err
	}
	b, err := openBackend(ctx, cfg, nopLogger())
	if err != nil {
		return MigrateResult{}, err
	}
	res, err := migrate(ctx, b, slog.New(slog.DiscardHandler))
	return res, errors.Join(err, b.close())
}

// migrate applies River's migrations, then ours, under the backend's
// migration lock.
func migrate(ctx context.Context, b backend, log *slog.Logger) (res MigrateResult, err error) {
	unlock, err := b.lockMigrations(ctx)
	if err != nil {
		return res, fmt.Errorf("store: migrations: %w", err)
	}
	defer unlock()

	if res.River, err = b.migrateRiver(ctx, log); err != nil {
		return res, fmt.Errorf("store: river migrations: %w", err)
	}
	if _, err := b.exec(ctx, migrationTable.ddl(b.dialect())); err != nil {
		return res, fmt.Errorf("store: migrations: %w", err)
	}
	var current int
	if err := b.queryRow(ctx, `SELECT coalesce(max(version), 0) FROM herald_migration`).Scan(&current); err != nil {
		return res, fmt.Errorf("store: migrations: %w", err)
	}
	if current > len(migrations) {
		return res, fmt.Errorf("store: database schema version %d is newer than this herald (%d): downgrade not supported", current, len(migrations))
	}
	for v := current + 1; v <= len(migrations); v++ {
		if err := applyMigration(ctx, b, v, migrations[v-1].ddl(b.dialect())); err != nil {
			return res, fmt.Errorf("store: migration %d: %w", v, err)
		}
		res.Herald = append(res.Herald, v)
	}
	return res, nil
}

// applyMigration applies one migration in its own transaction with its
// record (DDL is transactional in both dialects).
func applyMigration(ctx context.Context, b backend, version int, ddl string) (err error) {
	tx, err := b.begin(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, tx.rollback(ctx))
		}
	}()
	if _, err := tx.exec(ctx, ddl); err != nil {
		return err
	}
	if _, err := tx.exec(ctx, `INSERT INTO herald_migration (version, applied_at) VALUES ($1, $2)`,
		version, b.timeArg(time.Now())); err != nil {
		return err
	}
	return tx.commit(ctx)
}

// migrateRiver applies River's own migrations with either driver and
// returns the versions applied.
func migrateRiver[TTx any](ctx context.Context, d riverdriver.Driver[TTx], log *slog.Logger) ([]int, error) {
	m, err := rivermigrate.New(d, &rivermigrate.Config{Logger: log})
	if err != nil {
		return nil, err
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return nil, err
	}
	return migratedVersions(res), nil
}

func migratedVersions(res *rivermigrate.MigrateResult) []int {
	var out []int
	for _, v := range res.Versions {
		out = append(out, v.Version)
	}
	return out
}
