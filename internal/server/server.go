// Package server is herald's HTTP front: it authenticates and bounds each
// request, hands the body to the source's decoder, routes and renders the
// event for each destination, and answers 202 only after the store has
// committed the event and its delivery jobs.
//
// Bad input gets a 4xx with a one-line JSON reason that never echoes the
// input, and nothing is stored. The server never sends to a destination
// itself: delivery workers do.
package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters"
	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/internal/metrics"
	"github.com/herald-ci/herald/internal/route"
	"github.com/herald-ci/herald/internal/store"
	"github.com/herald-ci/herald/sources"
)

// Store is what the server needs of the store.
type Store interface {
	Accept(ctx context.Context, ev store.EventRecord, deliveries []store.Delivery) (store.Accepted, error)
	Ping(ctx context.Context) error
}

// Runtime is one loaded configuration with its adapters; swapped whole.
type Runtime struct {
	Config   *config.Config
	Adapters *adapters.Set
}

// Server serves the HTTP API.
type Server struct {
	echo     *echo.Echo
	store    Store
	runtime  atomic.Pointer[Runtime]
	log      zerolog.Logger
	metrics  *metrics.Metrics
	stopping atomic.Bool
	queue    queueGauge
	auth     authState    // verifiers and failure throttle (auth.go)
	inFlight atomic.Int64 // ingest requests being served (limits.go)
	admin    adminState   // destinations admin API (admin.go)
}

// New builds a server on rt. A nil m gets a fresh registry.
func New(rt *Runtime, st Store, m *metrics.Metrics, log zerolog.Logger) *Server {
	if m == nil {
		m = metrics.New()
	}
	s := &Server{echo: echo.New(), store: st, log: log, metrics: m}
	s.runtime.Store(rt)
	e := s.echo
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.Use(s.recoverer)
	// {token}: url_token, for senders that cannot set headers (auth.go).
	// requestID first, so that even a 503 of limitInFlight names its id.
	e.POST("/v1/events/:source", s.ingest, s.requestID, s.limitInFlight)
	e.POST("/v1/events/:source/:token", s.ingest, s.requestID, s.limitInFlight)

	s.routeDeliveries(e)   // deliveries.go
	s.routePreview(e)      // preview.go
	s.routeDestinations(e) // admin.go
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", echo.WrapHandler(m.Handler()))
	return s
}

// MountAdmin serves h at method path for API tokens whose role includes
// need (apiauth.go): how cmd/herald mounts POST /-/reload.
func (s *Server) MountAdmin(method, path string, h http.Handler, need config.Role) {
	s.echo.Add(method, path, echo.WrapHandler(h), s.requireRole(need))
}

// Handler is the HTTP handler, for tests and for http.Server.
func (s *Server) Handler() http.Handler { return s.echo }

// Swap installs a new runtime (config reload); in-flight requests finish on the old one.
func (s *Server) Swap(rt *Runtime) { s.runtime.Store(rt) }

// SetStopping makes readiness fail while the process shuts down.
func (s *Server) SetStopping() { s.stopping.Store(true) }

// HTTPServer wraps the handler with the timeouts of limits.go.
func (s *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s.echo,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}

// Response is the body of a 202.
type Response struct {
	Status     string           `json:"status"` // accepted, duplicate, ignored
	EventID    string           `json:"event_id,omitempty"`
	Event      string           `json:"event,omitempty"`      // <kind>.<status>
	Transition string           `json:"transition,omitempty"` // first, fixed, broken, still_failing
	Deliveries []DeliveryStatus `json:"deliveries"`
	Reason     string           `json:"reason,omitempty"`
}

// DeliveryStatus names one delivery job.
type DeliveryStatus struct {
	ID          int64  `json:"id"`
	Destination string `json:"destination"`
}

type errorBody struct {
	Error string `json:"error"`
}

func fail(c echo.Context, status int, reason string) error {
	return c.JSON(status, errorBody{Error: reason})
}

// ingest answers POST /v1/events/{source} and counts the outcome.
func (s *Server) ingest(c echo.Context) error {
	name := c.Param("source")
	dec, ok := sources.Lookup(name)
	if cfg := s.runtime.Load().Config; !ok || !cfg.SourceEnabled(name) {
		// Not counted: the label would be whatever the client wrote.
		return s.reject(c, http.StatusNotFound, "unknown source; valid: "+strings.Join(cfg.EnabledSources(), ", "))
	}
	outcome, err := s.accept(c, name, dec)
	s.metrics.Events.WithLabelValues(name, outcome).Inc()
	return err
}

func (s *Server) accept(c echo.Context, name string, dec sources.Decoder) (outcome string, _ error) {
	rt := s.runtime.Load()
	// The request logger, with the request_id (requestid.go).
	log := s.reqLog(c)
	inb, answered, err := s.admit(c, rt, name) // auth.go: throttle, header methods
	if answered {
		return refused(c), err
	}
	if reason := checkContentType(c.Request().Header.Get("Content-Type")); reason != "" {
		return metrics.Rejected, s.reject(c, http.StatusUnsupportedMediaType, reason)
	}
	if s.queueFull(c.Request().Context(), rt) {
		c.Response().Header().Set("Retry-After", RetryAfterSeconds)
		return metrics.Overload, fail(c, http.StatusServiceUnavailable, "too many deliveries waiting; retry later")
	}
	body, answered, err := s.readInbound(c, inb) // auth.go: size limits, signatures, JSON depth
	if answered {
		return refused(c), err
	}
	if len(body) == 0 {
		return metrics.Rejected, s.reject(c, http.StatusBadRequest, "empty body")
	}
	ev, err := dec.Decode(body)
	if err != nil {
		var in *event.InputError
		switch {
		case errors.Is(err, event.ErrIgnored):
			log.Info().Str("source", name).Str("reason", err.Error()).Msg("event ignored")
			return metrics.Ignored, c.JSON(http.StatusAccepted, Response{Status: "ignored", Reason: err.Error(), Deliveries: []DeliveryStatus{}})
		case errors.As(err, &in):
			return metrics.Rejected, s.reject(c, http.StatusBadRequest, in.Reason)
		default:
			log.Error().Err(err).Str("source", name).Msg("decode failed")
			return metrics.Rejected, fail(c, http.StatusBadRequest, badPayload(name, err))
		}
	}

	ctx, cancel := context.WithTimeout(c.Request().Context(), IngestTimeout)
	defer cancel()
	rec := store.EventRecord{
		Source:   ev.Source,
		Type:     ev.Type,
		Kind:     string(ev.Kind),
		Status:   string(ev.Status),
		DedupKey: dedupKey(c.Request().Header, ev, body),
		Raw:      body,
		// Passed explicitly to each delivery job, never through ctx.
		RequestID: requestIDOf(c),
	}
	acc, routed, err := s.commit(ctx, rt, ev, rec)
	if err != nil {
		log.Error().Err(err).Str("source", name).Msg("store commit failed")
		c.Response().Header().Set("Retry-After", RetryAfterSeconds)
		return metrics.Failed, fail(c, http.StatusServiceUnavailable, "could not commit the event; retry later")
	}
	outcome = metrics.Accepted
	if !acc.Duplicate {
		for _, d := range acc.Deliveries {
			s.metrics.Rendered(d.Destination)
		}
	}
	resp := Response{Status: "accepted", EventID: acc.EventID, Event: ev.Name(), Transition: string(routed.Transition), Deliveries: make([]DeliveryStatus, 0, len(acc.Deliveries))}
	if acc.Duplicate {
		resp.Status, outcome = "duplicate", metrics.Duplicate
	}
	for _, d := range acc.Deliveries {
		resp.Deliveries = append(resp.Deliveries, DeliveryStatus{ID: d.ID, Destination: d.Destination})
	}
	log.Info().Str("source", name).Str("event_id", acc.EventID).Str("event", ev.Name()).
		Str("transition", string(routed.Transition)).Strs("suppressed", acc.Suppressed).
		Int("deliveries", len(resp.Deliveries)).Bool("duplicate", acc.Duplicate).Msg("event accepted")
	return outcome, c.JSON(http.StatusAccepted, resp)
}

// maxRouteAttempts bounds how often one event is routed again because
// another request, or another replica, recorded an outcome of the same
// build line between our read and our commit. Each conflict means someone
// else committed, so contention resolves; a short random pause between
// attempts (up to maxRoutePause) keeps many concurrent builds of one line
// from colliding again in step. Past the bound, or IngestTimeout, the
// sender is asked to retry (503).
const (
	maxRouteAttempts = 50
	maxRoutePause    = 20 * time.Millisecond
)

// outcomeStore is what build-outcome state needs of the store. With a store
// that lacks it, every finished build is routed as the first of its line.
type outcomeStore interface {
	LastOutcome(ctx context.Context, key store.OutcomeKey) (store.Outcome, error)
}

// commit routes, renders and stores ev. For a finished build it first reads
// its line's last outcome, so that policies, subscriptions and templates
// see the transition, and asks the store to check, in the commit, that the
// outcome is still the one read (store.ErrOutcomeChanged otherwise: the
// event is routed again with the new state).
func (s *Server) commit(ctx context.Context, rt *Runtime, ev *event.Event, rec store.EventRecord) (store.Accepted, route.Decision, error) {
	st, stateful := s.store.(outcomeStore)
	// The build line is the event's: worked out once, read again per attempt.
	line, hasLine := route.LineOf(ev)
	stateful = stateful && hasLine && route.IsOutcome(ev)
	key := store.OutcomeKey{Source: line.Source, Project: line.Project, BuildConfig: line.BuildConfig, Branch: line.Branch}
	log := s.logger(ctx)
	for attempt := 1; ; attempt++ {
		var prev route.Outcome
		rec.Outcome = nil
		if stateful {
			last, err := st.LastOutcome(ctx, key)
			if err != nil {
				return store.Accepted{}, route.Decision{}, err
			}
			prev = route.Outcome{Status: event.Status(last.Status), Number: last.Number, FinishedAt: last.FinishedAt}
			rec.Outcome = &store.OutcomeUpdate{Key: key, Expected: last.Version}
		}
		dec := route.Route(rt.Config, ev, prev)
		if rec.Outcome != nil {
			rec.Outcome.Record = dec.Record
			rec.Outcome.New = store.Outcome{Status: string(ev.Status), Number: ev.Number, FinishedAt: ev.FinishedAt}
		}
		acc, err := s.store.Accept(ctx, rec, s.render(log, rt, ev, dec))
		if errors.Is(err, store.ErrOutcomeChanged) && attempt < maxRouteAttempts {
			log.Debug().Str("source", ev.Source).Int("attempt", attempt).Msg("build outcome changed meanwhile; routing again")
			if werr := routePause(ctx, attempt); werr != nil {
				return acc, dec, fmt.Errorf("%w (and %w)", err, werr)
			}
			continue
		}
		return acc, dec, err
	}
}

// routePause waits a random moment before routing again: none after the
// first conflict, then up to 1 ms, 2 ms, 4 ms... capped at maxRoutePause.
func routePause(ctx context.Context, attempt int) error {
	if attempt < 2 {
		return ctx.Err()
	}
	bound := min(time.Millisecond<<min(attempt-2, 10), maxRoutePause)
	t := time.NewTimer(rand.N(bound) + 1)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// badPayload is the one-line reason a decode error gives the sender: the
// decoder's own when it is an *event.InputError (written never to echo the
// input), else a generic one.
func badPayload(source string, err error) string {
	var in *event.InputError
	if errors.As(err, &in) {
		return in.Reason
	}
	return "invalid " + source + " payload"
}

// refused is the outcome label of a request admit or readInbound answered.
func refused(c echo.Context) string {
	switch c.Response().Status {
	case http.StatusUnauthorized:
		return metrics.Unauthorized
	case http.StatusTooManyRequests:
		return metrics.Throttled
	}
	return metrics.Rejected
}

// render builds one delivery per destination the router chose, with the
// build's transition visible to templates. A destination whose payload
// cannot be built even from the default templates is logged and skipped:
// there is nothing valid to send it.
func (s *Server) render(log *zerolog.Logger, rt *Runtime, ev *event.Event, dec route.Decision) []store.Delivery {
	rev := *ev // the router's verdict goes on a copy: ev stays what the sender said
	rev.Transition = string(dec.Transition)
	out := make([]store.Delivery, 0, len(dec.Targets))
	for _, t := range dec.Targets {
		d := t.Destination
		a, ok := rt.Adapters.Get(d.Name)
		if !ok {
			continue
		}
		p, err := a.Build(&rev)
		if err != nil {
			log.Error().Err(err).Str("destination", d.Name).Str("event", ev.Name()).Msg("render failed; destination skipped")
			continue
		}
		out = append(out, store.Delivery{Destination: d.Name, Payload: p, DedupWindow: t.DedupWindow, MaxAttempts: t.MaxAttempts})
	}
	return out
}

// dedupKey is the sender's own delivery id when it gives one, otherwise a
// hash of the body: a sender's retry resends the same bytes. X-Request-Id is
// not a delivery id: it names one request (a retry gets a new one, a proxy
// may reuse one), so it only tags the logs (requestid.go).
func dedupKey(h http.Header, ev *event.Event, body []byte) string {
	for _, k := range []string{"Idempotency-Key", "Webhook-Id"} {
		if v := strings.TrimSpace(h.Get(k)); v != "" && len(v) <= 200 {
			return "id:" + v
		}
	}
	if ev.SenderID != "" {
		return "id:" + ev.SenderID
	}
	sum := sha256.Sum256(body)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// checkContentType accepts JSON, and no Content-Type at all (App Center's
// test ping has been seen without one); anything else is refused.
func checkContentType(ct string) string {
	if strings.TrimSpace(ct) == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "unreadable Content-Type"
	}
	if mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return ""
	}
	return "Content-Type must be application/json"
}

func readBody(c echo.Context, limit int64) ([]byte, error) {
	r := http.MaxBytesReader(c.Response(), c.Request().Body, limit)
	return io.ReadAll(r)
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(c echo.Context) error {
	problems := map[string]string{}
	if s.stopping.Load() {
		problems["server"] = "shutting down"
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), ReadHeaderTimeout)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		// Ping writes: a store that answers reads but cannot commit is not ready.
		s.log.Warn().Err(err).Msg("readiness: store check failed")
		problems["store"] = "not writable"
		if errors.Is(err, store.ErrDiskFull) {
			problems["store"] = "disk full"
		}
	} else if s.queueFull(ctx, s.runtime.Load()) {
		problems["queue"] = "more deliveries waiting than limits.max_queue_depth"
	}
	if len(problems) > 0 {
		return c.JSON(http.StatusServiceUnavailable, map[string]any{"status": "not ready", "problems": problems})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

// errorHandler answers echo's own errors (404 route, 405 method) as JSON.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code, msg := http.StatusInternalServerError, "internal error"
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code = he.Code
		msg = strings.ToLower(http.StatusText(code))
	} else {
		s.reqLog(c).Error().Err(err).Str("path", c.Path()).Msg("request failed")
	}
	_ = fail(c, code, msg)
}

// recoverer turns a panic into a 500 and a log line, never a crash.
func (s *Server) recoverer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				s.reqLog(c).Error().Interface("panic", r).Str("path", c.Path()).Msg("handler panic")
				err = fail(c, http.StatusInternalServerError, "internal error")
			}
		}()
		return next(c)
	}
}

// Runtime returns the current runtime.
func (s *Server) Runtime() *Runtime { return s.runtime.Load() }
