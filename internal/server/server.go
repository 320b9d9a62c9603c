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
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

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
	e.POST("/v1/events/:source", s.ingest)
	s.routeDeliveries(e) // deliveries.go
	s.routePreview(e)    // preview.go
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", echo.WrapHandler(m.Handler()))
	return s
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
	Event      string           `json:"event,omitempty"` // <kind>.<status>
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
	if !ok {
		// Not counted: the label would be whatever the client wrote.
		return fail(c, http.StatusNotFound, "unknown source; valid: "+strings.Join(sources.Names(), ", "))
	}
	outcome, err := s.accept(c, name, dec)
	s.metrics.Events.WithLabelValues(name, outcome).Inc()
	return err
}

func (s *Server) accept(c echo.Context, name string, dec sources.Decoder) (outcome string, _ error) {
	if reason := checkContentType(c.Request().Header.Get("Content-Type")); reason != "" {
		return metrics.Rejected, fail(c, http.StatusUnsupportedMediaType, reason)
	}
	rt := s.runtime.Load()
	if s.queueFull(c.Request().Context(), rt) {
		c.Response().Header().Set("Retry-After", RetryAfterSeconds)
		return metrics.Overload, fail(c, http.StatusServiceUnavailable, "too many deliveries waiting; retry later")
	}
	body, err := readBody(c, rt.Config.Limits.MaxBodyBytes)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return metrics.Rejected, fail(c, http.StatusRequestEntityTooLarge, "body exceeds the limit of "+strconv.FormatInt(rt.Config.Limits.MaxBodyBytes, 10)+" bytes")
		}
		return metrics.Rejected, fail(c, http.StatusBadRequest, "could not read the body")
	}
	if len(body) == 0 {
		return metrics.Rejected, fail(c, http.StatusBadRequest, "empty body")
	}
	ev, err := dec.Decode(body)
	if err != nil {
		var in *event.InputError
		switch {
		case errors.Is(err, event.ErrIgnored):
			s.log.Info().Str("source", name).Str("reason", err.Error()).Msg("event ignored")
			return metrics.Ignored, c.JSON(http.StatusAccepted, Response{Status: "ignored", Reason: err.Error(), Deliveries: []DeliveryStatus{}})
		case errors.As(err, &in):
			return metrics.Rejected, fail(c, http.StatusBadRequest, in.Reason)
		default:
			s.log.Error().Err(err).Str("source", name).Msg("decode failed")
			return metrics.Rejected, fail(c, http.StatusBadRequest, "invalid "+name+" payload")
		}
	}

	ctx, cancel := context.WithTimeout(c.Request().Context(), IngestTimeout)
	defer cancel()
	deliveries := s.render(rt, ev)
	rec := store.EventRecord{
		Source:   ev.Source,
		Type:     ev.Type,
		Kind:     string(ev.Kind),
		Status:   string(ev.Status),
		DedupKey: dedupKey(c.Request().Header, ev, body),
		Raw:      body,
	}
	acc, err := s.store.Accept(ctx, rec, deliveries)
	if err != nil {
		s.log.Error().Err(err).Str("source", name).Msg("store commit failed")
		c.Response().Header().Set("Retry-After", RetryAfterSeconds)
		return metrics.Failed, fail(c, http.StatusServiceUnavailable, "could not commit the event; retry later")
	}
	outcome = metrics.Accepted
	resp := Response{Status: "accepted", EventID: acc.EventID, Event: ev.Name(), Deliveries: make([]DeliveryStatus, 0, len(acc.Deliveries))}
	if acc.Duplicate {
		resp.Status, outcome = "duplicate", metrics.Duplicate
	}
	for _, d := range acc.Deliveries {
		resp.Deliveries = append(resp.Deliveries, DeliveryStatus{ID: d.ID, Destination: d.Destination})
	}
	s.log.Info().Str("source", name).Str("event_id", acc.EventID).Str("event", ev.Name()).
		Int("deliveries", len(resp.Deliveries)).Bool("duplicate", acc.Duplicate).Msg("event accepted")
	return outcome, c.JSON(http.StatusAccepted, resp)
}

// render builds one delivery per subscribed destination. A destination
// whose payload cannot be built even from the default templates is logged
// and skipped: there is nothing valid to send it.
func (s *Server) render(rt *Runtime, ev *event.Event) []store.Delivery {
	dests := route.Destinations(rt.Config, ev)
	out := make([]store.Delivery, 0, len(dests))
	for _, d := range dests {
		a, ok := rt.Adapters.Get(d.Name)
		if !ok {
			continue
		}
		p, err := a.Build(ev)
		if err != nil {
			s.log.Error().Err(err).Str("destination", d.Name).Str("event", ev.Name()).Msg("render failed; destination skipped")
			continue
		}
		out = append(out, store.Delivery{Destination: d.Name, Payload: p})
	}
	return out
}

// dedupKey is the sender's own delivery id when it gives one, otherwise a
// hash of the body: a sender's retry resends the same bytes.
func dedupKey(h http.Header, ev *event.Event, body []byte) string {
	for _, k := range []string{"Idempotency-Key", "Webhook-Id", "X-Request-Id"} {
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
		problems["store"] = "not reachable"
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
		s.log.Error().Err(err).Str("path", c.Path()).Msg("request failed")
	}
	_ = fail(c, code, msg)
}

// recoverer turns a panic into a 500 and a log line, never a crash.
func (s *Server) recoverer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error().Interface("panic", r).Str("path", c.Path()).Msg("handler panic")
				err = fail(c, http.StatusInternalServerError, "internal error")
			}
		}()
		return next(c)
	}
}

// Runtime returns the current runtime.
func (s *Server) Runtime() *Runtime { return s.runtime.Load() }
