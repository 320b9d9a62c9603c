package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/herald-ci/herald/internal/notify"
)

// EventRecord is what the store keeps of an accepted event.
type EventRecord struct {
	Source   string // decoder name: teamcity, appcenter, generic
	Type     string // the sender's own event name
	Kind     string
	Status   string
	DedupKey string // the sender's id for the event; empty means no dedup
	Raw      []byte // the original payload

	// RequestID is the ingest request's id (X-Request-Id). It is not
	// stored with the event, only in each of its delivery jobs
	// (DeliveryArgs.RequestID); a duplicate's jobs keep the original's.
	RequestID string

	// Outcome, when set, is checked and recorded with the event: see
	// OutcomeUpdate and ErrOutcomeChanged (outcome.go).
	Outcome *OutcomeUpdate
}

// Delivery is one message to send: a destination name and the payload its
// adapter built.
type Delivery struct {
	Destination string
	Payload     notify.Payload

	// DedupWindow, when positive, sends this payload to this destination
	// at most once within the window: an identical message claimed by an
	// earlier event is not enqueued again (Accepted.Suppressed).
	DedupWindow time.Duration
	// MaxAttempts, when positive, is the job's own attempt limit (a
	// project's retry_count); 0 keeps the store's default.
	MaxAttempts int
}

// Accepted is the outcome of Accept.
type Accepted struct {
	EventID string
	// Duplicate is true when the event repeats one accepted within the
	// dedup window: EventID and Deliveries are then the original's and
	// nothing new was stored.
	Duplicate  bool
	Deliveries []DeliveryRef
	// Suppressed names the destinations whose identical message was sent
	// within their dedup window: no job was enqueued for them.
	Suppressed []string
}

// DeliveryRef names the River job delivering an event to one destination.
type DeliveryRef struct {
	ID          int64 // River job id
	Destination string
}

// Accept stores an event and one delivery job per delivery in one
// transaction and returns only after it committed: when it returns without
// error, the deliveries will be attempted even if the process dies next.
// On error nothing at all was stored.
//
// If ev.DedupKey is set and the same source used it within the dedup
// window, Accept stores nothing and returns the original event's ids with
// Duplicate set. The check is the (source, dedup_key) primary key itself, in
// the same transaction as the inserts, so concurrent identical posts produce
// one event however they interleave.
//
// If ev.Outcome is set, the build line's state is checked and updated in the
// same transaction; when it changed since the caller read it, Accept stores
// nothing and returns ErrOutcomeChanged. Deliveries with a dedup window whose
// message was already sent within it are left out (Accepted.Suppressed).
//
// On SQLite, when the database's filesystem has less free space than
// Config.MinFreeBytes, Accept writes nothing and returns ErrDiskFull
// (health.go).
func (s *Store) Accept(ctx context.Context, ev EventRecord, deliveries []Delivery) (Accepted, error) {
	if ev.Source == "" {
		return Accepted{}, errors.New("store: accept: event source is empty")
	}
	for i, d := range deliveries {
		if strings.TrimSpace(d.Destination) == "" {
			return Accepted{}, fmt.Errorf("store: accept: delivery %d has no destination", i)
		}
	}
	if err := s.checkRoom(); err != nil {
		return Accepted{}, fmt.Errorf("store: accept: %w", err)
	}
	// The writer (writer.go) stores it with whatever else is waiting, in
	// one transaction.
	res := s.write(ctx, &writeReq{accept: &acceptReq{ev: ev, deliveries: deliveries}})
	return res.acc, res.err
}

// insertEvent writes the event's row.
func (s *Store) insertEvent(ctx context.Context, tx txn, ev EventRecord, id string, now time.Time) error {
	var dedupKey sql.NullString
	if ev.DedupKey != "" {
		dedupKey = sql.NullString{String: ev.DedupKey, Valid: true}
	}
	if _, err := tx.exec(ctx, `
INSERT INTO events (id, source, type, kind, status, dedup_key, received_at, raw)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		id, ev.Source, ev.Type, ev.Kind, ev.Status, dedupKey, s.db.timeArg(now), ev.Raw); err != nil {
		return fmt.Errorf("insert event: %w", err)
	}
	return nil
}

// claimDedupKey makes event id the owner of (source, dedup key) unless an
// unexpired owner exists. One statement does it: the insert succeeds for a
// new key; on conflict the update applies only if the previous claim has
// expired. RETURNING yields a row exactly when we became the owner. Racing
// transactions serialise on the primary key, so one wins and the others see
// its claim.
func (s *Store) claimDedupKey(ctx context.Context, tx txn, ev EventRecord, id string, now time.Time) (owner string, dup bool, err error) {
	var got string
	err = tx.queryRow(ctx, `
INSERT INTO event_dedup (source, dedup_key, event_id, expires_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT (source, dedup_key) DO UPDATE
    SET event_id = excluded.event_id, expires_at = excluded.expires_at
    WHERE event_dedup.expires_at <= $5
RETURNING event_id`,
		ev.Source, ev.DedupKey, id, s.db.timeArg(now.Add(s.cfg.DedupWindow)), s.db.timeArg(now)).Scan(&got)
	switch {
	case err == nil:
		return got, false, nil
	case !errors.Is(err, sql.ErrNoRows):
		return "", false, fmt.Errorf("dedup: %w", err)
	}
	if err := tx.queryRow(ctx,
		`SELECT event_id FROM event_dedup WHERE source = $1 AND dedup_key = $2`,
		ev.Source, ev.DedupKey).Scan(&owner); err != nil {
		return "", false, fmt.Errorf("dedup owner: %w", err)
	}
	return owner, true, nil
}

func deliveriesOf(ctx context.Context, q querier, eventID string) ([]DeliveryRef, error) {
	rows, err := q.query(ctx,
		`SELECT job_id, destination FROM event_deliveries WHERE event_id = $1 ORDER BY position`, eventID)
	if err != nil {
		return nil, fmt.Errorf("store: deliveries of %s: %w", eventID, err)
	}
	defer rows.Close()
	refs := []DeliveryRef{}
	for rows.Next() {
		var r DeliveryRef
		if err := rows.Scan(&r.ID, &r.Destination); err != nil {
			return nil, fmt.Errorf("store: deliveries of %s: %w", eventID, err)
		}
		refs = append(refs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: deliveries of %s: %w", eventID, err)
	}
	return refs, nil
}

// newEventID is "evt_" and a UUIDv7 in hex: unique, and sorted by creation
// time like a ULID.
func newEventID() (string, error) {
	u, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("store: event id: %w", err)
	}
	return "evt_" + strings.ReplaceAll(u.String(), "-", ""), nil
}
