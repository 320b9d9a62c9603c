package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// DeliveryStatus is where one delivery of an event stands.
type DeliveryStatus struct {
	ID          int64 // River job id
	Destination string
	// State is River's job state: available, scheduled, running,
	// retryable, completed, cancelled (final error), discarded (retries
	// exhausted), or "deleted" once River's cleaner removed the finished job.
	State       string
	Attempt     int
	MaxAttempts int
	Snoozes     int       // times the job waited for Retry-After (not counted in Attempt)
	AttemptedAt time.Time // latest attempt; zero if never attempted
	ScheduledAt time.Time // when it is, or was, due
	FinalizedAt time.Time // zero until completed, cancelled or discarded
	LastError   string    // the latest attempt's error, if any
}

// StateDeleted is DeliveryStatus.State for a job River has already cleaned up.
const StateDeleted = "deleted"

// Deliveries reports the delivery jobs of an event, in the order Accept was
// given them.
func (s *Store) Deliveries(ctx context.Context, eventID string) ([]DeliveryStatus, error) {
	refs, err := deliveriesOf(ctx, s.db, eventID)
	if err != nil || len(refs) == 0 {
		return nil, err
	}
	ids := make([]int64, len(refs))
	for i, r := range refs {
		ids[i] = r.ID
	}
	res, err := s.client.JobList(ctx, river.NewJobListParams().IDs(ids...).First(len(ids)))
	if err != nil {
		return nil, fmt.Errorf("store: deliveries of %s: %w", eventID, err)
	}
	out := make([]DeliveryStatus, len(refs))
	for i, r := range refs {
		out[i] = DeliveryStatus{ID: r.ID, Destination: r.Destination, State: StateDeleted}
		j := slices.IndexFunc(res.Jobs, func(j *rivertype.JobRow) bool { return j.ID == r.ID })
		if j < 0 {
			continue
		}
		job := res.Jobs[j]
		d := &out[i]
		d.State = string(job.State)
		d.Attempt = job.Attempt
		d.MaxAttempts = job.MaxAttempts
		d.Snoozes = snoozes(job.Metadata)
		d.ScheduledAt = job.ScheduledAt
		if job.AttemptedAt != nil {
			d.AttemptedAt = *job.AttemptedAt
		}
		if job.FinalizedAt != nil {
			d.FinalizedAt = *job.FinalizedAt
		}
		if n := len(job.Errors); n > 0 {
			d.LastError = job.Errors[n-1].Error
		}
	}
	return out, nil
}

// Event is a stored event as Accept recorded it.
type Event struct {
	ID         string
	Record     EventRecord
	ReceivedAt time.Time
}

// CountEvents returns how many events are stored, optionally only those from
// source with dedupKey (both empty: all).
func (s *Store) CountEvents(ctx context.Context, source, dedupKey string) (int, error) {
	var n int
	err := s.db.queryRow(ctx, `
SELECT count(*) FROM events
WHERE (CAST($1 AS text) = '' OR source = $1) AND (CAST($2 AS text) = '' OR dedup_key = $2)`, source, dedupKey).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count events: %w", err)
	}
	return n, nil
}

// GetEvent returns a stored event.
func (s *Store) GetEvent(ctx context.Context, id string) (Event, error) {
	var (
		e        = Event{ID: id}
		dedupKey *string
		received dbTime
	)
	err := s.db.queryRow(ctx, `
SELECT source, type, kind, status, dedup_key, received_at, raw FROM events WHERE id = $1`, id).
		Scan(&e.Record.Source, &e.Record.Type, &e.Record.Kind, &e.Record.Status, &dedupKey, &received, &e.Record.Raw)
	if err != nil {
		return Event{}, fmt.Errorf("store: event %s: %w", id, err)
	}
	if dedupKey != nil {
		e.Record.DedupKey = *dedupKey
	}
	e.ReceivedAt = received.Time
	return e, nil
}

// CountJobs returns how many River jobs exist in the given states (all
// states when none are given).
func (s *Store) CountJobs(ctx context.Context, states ...string) (int, error) {
	var n int
	q := `SELECT count(*) FROM river_job`
	args := make([]any, len(states))
	if len(states) > 0 {
		marks := make([]string, len(states))
		for i, st := range states {
			marks[i] = "$" + strconv.Itoa(i+1)
			args[i] = st
		}
		q += ` WHERE state IN (` + strings.Join(marks, ", ") + `)`
	}
	if err := s.db.queryRow(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count jobs: %w", err)
	}
	return n, nil
}

// snoozes reads River's snooze counter from job metadata.
func snoozes(metadata []byte) int {
	var m struct {
		Snoozes int `json:"snoozes"`
	}
	_ = json.Unmarshal(metadata, &m) // River's own field; absent means none
	return m.Snoozes
}
