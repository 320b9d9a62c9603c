package server

// The delivery API: dead letters and replay.
//
//	GET  /v1/deliveries?state=pending|delivered|failed|dead&destination=NAME&limit=N&cursor=C
//	GET  /v1/deliveries/{id}
//	POST /v1/deliveries/{id}/retry
//	POST /v1/deliveries/retry?destination=NAME[&state=failed|dead]
//
// Reading needs an API token of role reader, replaying one of role
// developer (apiauth.go).
//
// A delivery's payload is shown, its destination's URL never: the store
// keeps only the destination's name, adapters keep URLs out of their errors,
// and as a last guard every configured URL is masked in what this API
// returns.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/internal/store"
)

// DeliveryStore is what the delivery API needs of the store. A Store that
// doesn't implement it gets 501 from these endpoints.
type DeliveryStore interface {
	ListDeliveries(ctx context.Context, f store.DeliveryFilter) (store.DeliveryPage, error)
	GetDelivery(ctx context.Context, id int64) (store.DeliveryInfo, error)
	RetryDelivery(ctx context.Context, id int64) (store.DeliveryInfo, error)
	RetryDeliveries(ctx context.Context, destination, state string) ([]int64, error)
}

var _ DeliveryStore = (*store.Store)(nil)

// deliveriesTimeout bounds one request of the delivery API; a bulk replay
// of thousands of deliveries fits in it on SQLite.
const deliveriesTimeout = 30 * time.Second

// DeliveryView is one delivery in the API.
type DeliveryView struct {
	ID          int64  `json:"id"`
	EventID     string `json:"event_id"`
	Destination string `json:"destination"` // the configured name, never a URL
	// State is pending, delivered, failed (final error, not retried) or dead
	// (attempts exhausted).
	State         string     `json:"state"`
	Attempts      int        `json:"attempts"`
	MaxAttempts   int        `json:"max_attempts"`
	CreatedAt     time.Time  `json:"created_at"`
	LastAttemptAt *time.Time `json:"last_attempt_at"` // null if never attempted
	NextAttemptAt *time.Time `json:"next_attempt_at"` // null unless pending
	FinalizedAt   *time.Time `json:"finalized_at,omitempty"`
	LastError     string     `json:"last_error"`
	Reason        string     `json:"reason,omitempty"` // why a failed or dead one stopped
}

// AttemptView is one failed attempt.
type AttemptView struct {
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	Error   string    `json:"error"`
}

// DeliveryDetail is GET /v1/deliveries/{id}.
type DeliveryDetail struct {
	DeliveryView
	Errors []AttemptView `json:"errors"`
	// Payload is the body sent: itself when it is JSON, else a JSON string.
	Payload     json.RawMessage `json:"payload"`
	ContentType string          `json:"content_type"`
}

// DeliveryList is GET /v1/deliveries.
type DeliveryList struct {
	Deliveries []DeliveryView `json:"deliveries"`
	// NextCursor, when set, is the cursor parameter of the next page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// RetryResult is POST /v1/deliveries/retry.
type RetryResult struct {
	Count int     `json:"count"`
	IDs   []int64 `json:"ids"`
}

func (s *Server) routeDeliveries(e *echo.Echo) {
	read, replay := s.requireRole(config.RoleReader), s.requireRole(config.RoleDeveloper)
	e.GET("/v1/deliveries", s.listDeliveries, read)
	e.GET("/v1/deliveries/:id", s.getDelivery, read)
	e.POST("/v1/deliveries/retry", s.retryDeliveries, replay)
	e.POST("/v1/deliveries/:id/retry", s.retryDelivery, replay)
}

// deliveryStore returns the store's delivery API, or answers 501.
func (s *Server) deliveryStore(c echo.Context) (DeliveryStore, context.Context, context.CancelFunc, error) {
	ds, ok := s.store.(DeliveryStore)
	if !ok {
		return nil, nil, nil, fail(c, http.StatusNotImplemented, "this store does not support the delivery API")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), deliveriesTimeout)
	return ds, ctx, cancel, nil
}

func (s *Server) listDeliveries(c echo.Context) error {
	q := c.QueryParams()
	f := store.DeliveryFilter{State: q.Get("state"), Destination: q.Get("destination"), Cursor: q.Get("cursor")}
	if f.State != "" && !slices.Contains(store.DeliveryStates, f.State) {
		return fail(c, http.StatusBadRequest, "state must be one of "+strings.Join(store.DeliveryStates, ", "))
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxDeliveryListLimit {
			return fail(c, http.StatusBadRequest, "limit must be between 1 and "+strconv.Itoa(store.MaxDeliveryListLimit))
		}
		f.Limit = n
	}
	ds, ctx, cancel, err := s.deliveryStore(c)
	if ds == nil {
		return err
	}
	defer cancel()
	page, err := ds.ListDeliveries(ctx, f)
	if err != nil {
		if errors.Is(err, store.ErrBadCursor) {
			return fail(c, http.StatusBadRequest, "invalid cursor")
		}
		return s.internal(c, err)
	}
	mask := s.masker()
	out := DeliveryList{Deliveries: make([]DeliveryView, len(page.Deliveries)), NextCursor: page.NextCursor}
	for i, d := range page.Deliveries {
		out.Deliveries[i] = view(d, mask)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getDelivery(c echo.Context) error {
	id, ok := deliveryID(c)
	if !ok {
		return fail(c, http.StatusBadRequest, "delivery id must be a positive integer")
	}
	ds, ctx, cancel, err := s.deliveryStore(c)
	if ds == nil {
		return err
	}
	defer cancel()
	d, err := ds.GetDelivery(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrDeliveryNotFound) {
			return fail(c, http.StatusNotFound, "delivery not found")
		}
		return s.internal(c, err)
	}
	mask := s.masker()
	out := DeliveryDetail{
		DeliveryView: view(d, mask),
		Errors:       make([]AttemptView, len(d.Errors)),
		Payload:      payloadJSON(mask(string(d.Payload.Body))),
		ContentType:  d.Payload.ContentType,
	}
	for i, a := range d.Errors {
		out.Errors[i] = AttemptView{Attempt: a.Attempt, At: a.At, Error: mask(a.Error)}
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) retryDelivery(c echo.Context) error {
	id, ok := deliveryID(c)
	if !ok {
		return fail(c, http.StatusBadRequest, "delivery id must be a positive integer")
	}
	ds, ctx, cancel, err := s.deliveryStore(c)
	if ds == nil {
		return err
	}
	defer cancel()
	d, err := ds.RetryDelivery(ctx, id)
	switch {
	case errors.Is(err, store.ErrDeliveryNotFound):
		return fail(c, http.StatusNotFound, "delivery not found")
	case errors.Is(err, store.ErrNotRetryable):
		return fail(c, http.StatusConflict, "delivery is "+d.State+"; only failed or dead deliveries can be retried")
	case err != nil:
		return s.internal(c, err)
	}
	s.log.Info().Int64("job_id", id).Str("destination", d.Destination).Str("event_id", d.EventID).Msg("delivery replayed")
	return c.JSON(http.StatusOK, view(d, s.masker()))
}

func (s *Server) retryDeliveries(c echo.Context) error {
	dest, state := c.QueryParam("destination"), c.QueryParam("state")
	if dest == "" {
		return fail(c, http.StatusBadRequest, "destination is required")
	}
	if state != "" && state != store.DeliveryFailed && state != store.DeliveryDead {
		return fail(c, http.StatusBadRequest, "state must be failed or dead")
	}
	ds, ctx, cancel, err := s.deliveryStore(c)
	if ds == nil {
		return err
	}
	defer cancel()
	ids, err := ds.RetryDeliveries(ctx, dest, state)
	if ids == nil {
		ids = []int64{}
	}
	if err != nil {
		// Some may have been requeued before the error; the log says which.
		s.log.Error().Err(err).Str("destination", dest).Ints64("job_ids", ids).Msg("bulk replay failed")
		return fail(c, http.StatusInternalServerError, "replay failed after "+strconv.Itoa(len(ids))+" deliveries; see the log")
	}
	s.log.Info().Str("destination", dest).Str("state", state).Int("count", len(ids)).Msg("deliveries replayed")
	return c.JSON(http.StatusOK, RetryResult{Count: len(ids), IDs: ids})
}

func (s *Server) internal(c echo.Context, err error) error {
	s.log.Error().Err(err).Str("path", c.Path()).Msg("delivery api failed")
	return fail(c, http.StatusInternalServerError, "internal error")
}

func deliveryID(c echo.Context) (int64, bool) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	return id, err == nil && id > 0
}

func view(d store.DeliveryInfo, mask func(string) string) DeliveryView {
	v := DeliveryView{
		ID:          d.ID,
		EventID:     d.EventID,
		Destination: d.Destination,
		State:       d.State,
		Attempts:    d.Attempts,
		MaxAttempts: d.MaxAttempts,
		CreatedAt:   d.CreatedAt.UTC(),
		LastError:   mask(d.LastError),
		Reason:      mask(d.Reason),
	}
	v.LastAttemptAt = optTime(d.LastAttemptAt)
	v.NextAttemptAt = optTime(d.NextAttemptAt)
	v.FinalizedAt = optTime(d.FinalizedAt)
	return v
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// payloadJSON is body itself when it is JSON, else body as a JSON string.
func payloadJSON(body string) json.RawMessage {
	if json.Valid([]byte(body)) {
		return json.RawMessage(body)
	}
	b, _ := json.Marshal(body) // a string always marshals
	return b
}

// masker returns a function that replaces every configured destination URL,
// and the path that carries its token, with its redacted form. Adapters
// already keep URLs out of errors; this guards the API against one that
// doesn't, and against a template that put a URL into a payload.
func (s *Server) masker() func(string) string {
	var pairs []string
	for _, d := range s.runtime.Load().Config.Destinations {
		raw := d.URL.Value()
		if raw == "" {
			continue
		}
		red := notify.RedactURL(raw)
		pairs = append(pairs, raw, red)
		if u, err := url.Parse(raw); err == nil && len(u.EscapedPath()) > 1 {
			if u.RawQuery != "" {
				pairs = append(pairs, u.EscapedPath()+"?"+u.RawQuery, "/***")
			}
			pairs = append(pairs, u.EscapedPath(), "/***")
		}
	}
	if len(pairs) == 0 {
		return func(s string) string { return s }
	}
	r := strings.NewReplacer(pairs...)
	return r.Replace
}
