package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// migrations are our own schema changes, applied in order after River's.
// Append only: never edit one that has shipped. Times are text in River's
// SQLite layout (see sqliteTime) so they compare correctly.
var migrations = []string{
	// 1: events, dedup records and the event → delivery job mapping.
	`
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
}

// migrate applies the migrations not yet recorded in herald_migration, each
// in its own transaction with its record.
func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `
CREATE TABLE IF NOT EXISTS herald_migration (
    version    integer PRIMARY KEY,
    applied_at text NOT NULL
)`); err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	var current int
	if err := db.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM herald_migration`).Scan(&current); err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	if current > len(migrations) {
		return fmt.Errorf("store: database schema version %d is newer than this herald (%d): downgrade not supported", current, len(migrations))
	}
	for v := current + 1; v <= len(migrations); v++ {
		if err := applyMigration(ctx, db, v, migrations[v-1]); err != nil {
			return fmt.Errorf("store: migration %d: %w", v, err)
		}
	}
	return nil
}

func applyMigration(ctx context.Context, db *sql.DB, version int, ddl string) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, tx.Rollback())
		}
	}()
	if _, err := tx.ExecContext(ctx, ddl); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO herald_migration (version, applied_at) VALUES (?, ?)`,
		version, sqliteTime(time.Now())); err != nil {
		return err
	}
	return tx.Commit()
}
