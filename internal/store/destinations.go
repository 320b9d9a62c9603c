package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Destinations changed through the admin API. The store keeps them as
// records it does not interpret: a name, an origin, an opaque spec (the
// destination as JSON of config keys; internal/config reads it) and an
// enabled flag. What they mean is cmd/herald's and internal/server's
// business.
//
// Every change bumps one version number in the same transaction, and only
// if it still holds the version the writer read (compare-and-set), so a
// writer that validated the whole set of destinations before writing never
// overwrites a change it did not see: it gets ErrDestinationsChanged and
// starts again. Replicas poll the version to learn that the set changed.

// Origins of a stored destination.
const (
	// OriginAPI: created through the admin API; Spec holds it.
	OriginAPI = "api"
	// OriginConfig: the config file's destination of that name, disabled
	// through the admin API; Spec is empty.
	OriginConfig = "config"
)

// DestinationRecord is one destination the admin API changed.
type DestinationRecord struct {
	Name   string
	Origin string // OriginAPI or OriginConfig
	// Spec is the destination as a JSON object of config keys, its webhook
	// URL included: a secret, like the config file.
	Spec      []byte
	Enabled   bool
	UpdatedAt time.Time // set by the store
}

// DestinationSet is every stored destination, in name order, and the version of
// the set they were read at.
type DestinationSet struct {
	Version      int64
	Destinations []DestinationRecord
}

// Find returns the record named name.
func (s DestinationSet) Find(name string) (DestinationRecord, bool) {
	for _, d := range s.Destinations {
		if d.Name == name {
			return d, true
		}
	}
	return DestinationRecord{}, false
}

// ErrDestinationsChanged is returned by a write whose expected version is
// no longer the stored one: another writer changed the destinations since
// they were read. Nothing was written; read them again.
var ErrDestinationsChanged = errors.New("store: the destinations changed since they were read")

// ErrDestinationNotFound is returned by DeleteDestination for a name with
// no record.
var ErrDestinationNotFound = errors.New("store: no such destination")

// StoredDestinations reads every stored destination and the version of the
// set. The version is read first: a change committed between the two reads
// shows in the records but not in the version, so a write based on them
// fails its compare-and-set instead of hiding that change.
func (s *Store) StoredDestinations(ctx context.Context) (DestinationSet, error) {
	set, err := readDestinations(ctx, s.db)
	if err != nil {
		return DestinationSet{}, fmt.Errorf("store: destinations: %w", err)
	}
	return set, nil
}

// ReadDestinations opens cfg's database, migrates it, reads its stored
// destinations and closes it, before the store is opened for good: serve
// sizes the queue (job timeout, attempts) from the configuration they are
// part of. For SQLite it takes the file's lock meanwhile, like Migrate.
func ReadDestinations(ctx context.Context, cfg Config) (DestinationSet, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return DestinationSet{}, err
	}
	b, err := openBackend(ctx, cfg, nopLogger())
	if err != nil {
		return DestinationSet{}, err
	}
	if _, err := migrate(ctx, b, slog.New(slog.DiscardHandler)); err != nil {
		return DestinationSet{}, errors.Join(err, b.close())
	}
	set, err := readDestinations(ctx, b)
	if err != nil {
		err = fmt.Errorf("store: destinations: %w", err)
	}
	return set, errors.Join(err, b.close())
}

func readDestinations(ctx context.Context, q querier) (DestinationSet, error) {
	var set DestinationSet
	if err := q.queryRow(ctx, `SELECT version FROM herald_destinations_version WHERE id = 1`).Scan(&set.Version); err != nil {
		return DestinationSet{}, err
	}
	rows, err := q.query(ctx, `SELECT name, origin, spec, enabled, updated_at FROM herald_destinations ORDER BY name`)
	if err != nil {
		return DestinationSet{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			d       DestinationRecord
			spec    string
			updated dbTime
		)
		if err := rows.Scan(&d.Name, &d.Origin, &spec, &d.Enabled, &updated); err != nil {
			return DestinationSet{}, err
		}
		if spec != "" {
			d.Spec = []byte(spec)
		}
		d.UpdatedAt = updated.Time
		set.Destinations = append(set.Destinations, d)
	}
	return set, rows.Err()
}

// DestinationsVersion is the version of the stored destinations: it
// changes with every write. Replicas poll it.
func (s *Store) DestinationsVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.db.queryRow(ctx, `SELECT version FROM herald_destinations_version WHERE id = 1`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: destinations version: %w", err)
	}
	return v, nil
}

// PutDestination creates or replaces the record named d.Name, if the
// stored destinations are still at version expected, and returns the new
// version. Otherwise it writes nothing and returns ErrDestinationsChanged.
func (s *Store) PutDestination(ctx context.Context, d DestinationRecord, expected int64) (int64, error) {
	if d.Origin != OriginAPI && d.Origin != OriginConfig {
		return 0, fmt.Errorf("store: destination %q: origin %q is not %s or %s", d.Name, d.Origin, OriginAPI, OriginConfig)
	}
	if d.Name == "" {
		return 0, errors.New("store: destination without a name")
	}
	return s.changeDestinations(ctx, expected, func(tx txn, now time.Time) error {
		_, err := tx.exec(ctx, `
INSERT INTO herald_destinations (name, origin, spec, enabled, updated_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (name) DO UPDATE SET origin = excluded.origin, spec = excluded.spec,
    enabled = excluded.enabled, updated_at = excluded.updated_at`,
			d.Name, d.Origin, string(d.Spec), d.Enabled, s.db.timeArg(now))
		return err
	})
}

// DeleteDestination removes the record named name, if the stored
// destinations are still at version expected, and returns the new version.
// ErrDestinationNotFound when there is no such record,
// ErrDestinationsChanged when the version moved; either way nothing
// changes.
func (s *Store) DeleteDestination(ctx context.Context, name string, expected int64) (int64, error) {
	return s.changeDestinations(ctx, expected, func(tx txn, _ time.Time) error {
		n, err := tx.exec(ctx, `DELETE FROM herald_destinations WHERE name = $1`, name)
		if err == nil && n == 0 {
			err = ErrDestinationNotFound
		}
		return err
	})
}

// changeDestinations runs change in a transaction that first moves the
// version from expected to expected+1. In PostgreSQL the UPDATE locks the
// version's row, so concurrent writers queue there and all but one find
// the version moved; SQLite's transactions hold the write lock from BEGIN.
func (s *Store) changeDestinations(ctx context.Context, expected int64, change func(tx txn, now time.Time) error) (_ int64, err error) {
	tx, err := s.db.begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: change destinations: %w", err)
	}
	defer tx.rollback(ctx)
	var version int64
	err = tx.queryRow(ctx, `
UPDATE herald_destinations_version SET version = version + 1 WHERE id = 1 AND version = $1
RETURNING version`, expected).Scan(&version)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, ErrDestinationsChanged
	case err != nil:
		return 0, fmt.Errorf("store: change destinations: %w", err)
	}
	if err := change(tx, time.Now()); err != nil {
		if errors.Is(err, ErrDestinationNotFound) {
			return 0, err
		}
		return 0, fmt.Errorf("store: change destinations: %w", err)
	}
	if err := tx.commit(ctx); err != nil {
		return 0, fmt.Errorf("store: change destinations: %w", err)
	}
	return version, nil
}
