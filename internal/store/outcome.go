package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Routing state: the last outcome of each build line, and the
// per-destination message dedup records.
//
// The server routes an event before Accept (templates need the transition,
// and rendering happens outside the transaction), so it reads the line's
// last outcome with LastOutcome, routes and renders with it, and hands
// Accept the version it read. Accept, in the transaction that stores the
// event and its jobs, locks the line's row (PostgreSQL: SELECT ... FOR
// UPDATE; SQLite: every transaction holds the single write lock from BEGIN)
// and checks the version is unchanged. If another request or replica
// changed it in between, Accept stores nothing and returns
// ErrOutcomeChanged, and the server routes again with the new state. Writes
// are compare-and-set on the version as well (INSERT ... ON CONFLICT DO
// NOTHING for a new line, UPDATE ... WHERE version = expected), so two
// replicas can never both move a line from the same state.

// ErrOutcomeChanged is returned by Accept when the build line's last
// outcome is no longer the version the event was routed with. Nothing was
// stored; route the event again with LastOutcome's new answer.
var ErrOutcomeChanged = errors.New("store: the build line's last outcome changed since it was read")

// OutcomeKey names a build line: the builds whose outcomes follow each
// other (source, project or app, build configuration, branch).
type OutcomeKey struct {
	Source      string
	Project     string
	BuildConfig string
	Branch      string
}

// Outcome is the last outcome recorded for a build line.
type Outcome struct {
	Status     string // "succeeded" or "failed"; "" when none is recorded
	Number     string
	FinishedAt time.Time // zero when the sender gave none
	// Version counts the line's recorded outcomes: 0 for none. It is what
	// Accept checks (OutcomeUpdate.Expected).
	Version int64
}

// OutcomeUpdate is what Accept does with a build line's state.
type OutcomeUpdate struct {
	Key OutcomeKey
	// Expected is the Version the event was routed with (0: none yet).
	Expected int64
	// Record makes New the line's last outcome (the router found it newer
	// than the expected one); false only checks Expected.
	Record bool
	New    Outcome // Status, Number, FinishedAt; Version is ignored
}

// LastOutcome reads the last outcome recorded for key; the zero Outcome
// when there is none.
func (s *Store) LastOutcome(ctx context.Context, key OutcomeKey) (Outcome, error) {
	o, err := readOutcome(ctx, s.db, key, "")
	if err != nil {
		return Outcome{}, fmt.Errorf("store: last outcome: %w", err)
	}
	return o, nil
}

func readOutcome(ctx context.Context, q querier, key OutcomeKey, suffix string) (Outcome, error) {
	var (
		o        Outcome
		finished string
	)
	err := q.queryRow(ctx, `
SELECT outcome, number, finished_at, version FROM build_outcomes
WHERE source = $1 AND project = $2 AND build_config = $3 AND branch = $4`+suffix,
		key.Source, key.Project, key.BuildConfig, key.Branch).Scan(&o.Status, &o.Number, &finished, &o.Version)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Outcome{}, nil
	case err != nil:
		return Outcome{}, err
	}
	if finished != "" {
		if o.FinishedAt, err = time.Parse(time.RFC3339Nano, finished); err != nil {
			return Outcome{}, fmt.Errorf("finished_at %q: %w", finished, err)
		}
	}
	return o, nil
}

// applyOutcome checks and, if asked, records u inside Accept's transaction.
func (s *Store) applyOutcome(ctx context.Context, tx txn, u *OutcomeUpdate, eventID string, now time.Time) error {
	lock := ""
	if s.db.dialect() == "postgres" {
		lock = " FOR UPDATE"
	}
	cur, err := readOutcome(ctx, tx, u.Key, lock)
	if err != nil {
		return fmt.Errorf("read outcome: %w", err)
	}
	if cur.Version != u.Expected {
		return ErrOutcomeChanged
	}
	if !u.Record {
		return nil
	}
	if u.New.Status == "" {
		return errors.New("outcome to record has no status")
	}
	finished := ""
	if !u.New.FinishedAt.IsZero() {
		finished = u.New.FinishedAt.UTC().Format(time.RFC3339Nano)
	}
	var n int64
	if u.Expected == 0 {
		n, err = tx.exec(ctx, `
INSERT INTO build_outcomes (source, project, build_config, branch, outcome, number, finished_at, event_id, version, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9)
ON CONFLICT (source, project, build_config, branch) DO NOTHING`,
			u.Key.Source, u.Key.Project, u.Key.BuildConfig, u.Key.Branch,
			u.New.Status, u.New.Number, finished, eventID, s.db.timeArg(now))
	} else {
		n, err = tx.exec(ctx, `
UPDATE build_outcomes SET outcome = $5, number = $6, finished_at = $7, event_id = $8, version = version + 1, updated_at = $9
WHERE source = $1 AND project = $2 AND build_config = $3 AND branch = $4 AND version = $10`,
			u.Key.Source, u.Key.Project, u.Key.BuildConfig, u.Key.Branch,
			u.New.Status, u.New.Number, finished, eventID, s.db.timeArg(now), u.Expected)
	}
	if err != nil {
		return fmt.Errorf("record outcome: %w", err)
	}
	if n != 1 {
		return ErrOutcomeChanged
	}
	return nil
}

// messageHash identifies a rendered message to a destination.
func messageHash(d Delivery) string {
	h := sha256.New()
	h.Write([]byte(d.Destination))
	h.Write([]byte{0})
	h.Write([]byte(d.Payload.ContentType))
	h.Write([]byte{0})
	h.Write(d.Payload.Body)
	return hex.EncodeToString(h.Sum(nil))
}

// claimMessages claims, for each delivery with a dedup window, its message
// for the window, and returns which deliveries to enqueue (keep[i]). A
// message another event claimed within its window is not sent again. Claims
// go in (destination, hash) order so that concurrent transactions lock
// rows in one order.
func (s *Store) claimMessages(ctx context.Context, tx txn, deliveries []Delivery, now time.Time) ([]bool, error) {
	keep := make([]bool, len(deliveries))
	type claim struct {
		i    int
		hash string
	}
	var claims []claim
	for i, d := range deliveries {
		keep[i] = true
		if d.DedupWindow > 0 {
			claims = append(claims, claim{i, messageHash(d)})
		}
	}
	slices.SortFunc(claims, func(a, b claim) int {
		if c := strings.Compare(deliveries[a.i].Destination, deliveries[b.i].Destination); c != 0 {
			return c
		}
		return strings.Compare(a.hash, b.hash)
	})
	for _, c := range claims {
		d := deliveries[c.i]
		var got string
		err := tx.queryRow(ctx, `
INSERT INTO message_dedup (destination, payload_hash, expires_at)
VALUES ($1, $2, $3)
ON CONFLICT (destination, payload_hash) DO UPDATE
    SET expires_at = excluded.expires_at
    WHERE message_dedup.expires_at <= $4
RETURNING destination`,
			d.Destination, c.hash, s.db.timeArg(now.Add(d.DedupWindow)), s.db.timeArg(now)).Scan(&got)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			keep[c.i] = false
		case err != nil:
			return nil, fmt.Errorf("message dedup: %w", err)
		}
	}
	return keep, nil
}

// PruneMessageDedup deletes the message dedup records whose window ended.
func (s *Store) PruneMessageDedup(ctx context.Context) (int, error) {
	n, err := s.db.exec(ctx, `DELETE FROM message_dedup WHERE expires_at <= $1`, s.db.timeArg(time.Now()))
	if err != nil {
		return 0, fmt.Errorf("store: prune message dedup: %w", err)
	}
	return int(n), nil
}
