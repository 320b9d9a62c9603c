package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// QueueStat is the pending deliveries of one destination.
type QueueStat struct {
	Destination string
	// Pending counts its delivery jobs not yet done: waiting, scheduled,
	// retrying, or being sent (herald's DeliveryPending).
	Pending int
	// OldestCreatedAt is when the oldest of them was enqueued, which is
	// when its event was accepted.
	OldestCreatedAt time.Time
}

// PendingByDestination returns the destinations that have deliveries
// pending, with how many and since when, for the queue gauges. One grouped
// query over River's pending rows: its cost grows with the queue, which
// limits.max_queue_depth bounds.
func (s *Store) PendingByDestination(ctx context.Context) ([]QueueStat, error) {
	pending := riverStatesOf[DeliveryPending]
	args := []any{DeliveryArgs{}.Kind()}
	marks := ""
	for i, st := range pending {
		if i > 0 {
			marks += ", "
		}
		marks += fmt.Sprintf("$%d", i+2)
		args = append(args, string(st))
	}
	// ->> with a plain key reads the JSON args the same way on SQLite
	// (3.38+, jsonb included) and PostgreSQL.
	r, err := s.db.query(ctx, `
SELECT args ->> 'destination', count(*), min(created_at) FROM river_job
WHERE kind = $1 AND state IN (`+marks+`)
GROUP BY args ->> 'destination'`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: pending by destination: %w", err)
	}
	defer r.Close()
	var out []QueueStat
	for r.Next() {
		var (
			dest   sql.NullString
			st     QueueStat
			oldest dbTime
		)
		if err := r.Scan(&dest, &st.Pending, &oldest); err != nil {
			return nil, fmt.Errorf("store: pending by destination: %w", err)
		}
		st.Destination, st.OldestCreatedAt = dest.String, oldest.Time
		out = append(out, st)
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("store: pending by destination: %w", err)
	}
	return out, nil
}
