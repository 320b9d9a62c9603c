package server

// Request ids. Every ingest request gets one: the sender's X-Request-Id
// when it is sane, else a new UUIDv7. It is echoed in the answer's
// X-Request-Id, is on every log line about the request (through the
// request logger, which the request's context carries), and is passed
// explicitly, in store.EventRecord, to each delivery job the request
// creates, whose worker logs it too. So one grep for the id finds a
// request's ingest and every delivery attempt it caused.
//
// echo's middleware.RequestID is not used: it takes the sender's header as
// it comes, whatever its length or bytes, and those would reach our logs.
//
// The id is not the dedup key. dedupKey still reads X-Request-Id (among
// other headers) by its own rules; a generated id is never written into the
// request's headers, so a request without one is still deduplicated by its
// body.

import (
	"context"
	"crypto/rand"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"
)

// RequestIDHeader carries the request id in and out.
const RequestIDHeader = echo.HeaderXRequestID

// maxRequestIDLen bounds a sender's id; longer ones are replaced. 200 is
// also dedupKey's bound on the same header.
const maxRequestIDLen = 200

// requestID gives the request its id, echoes it, and puts a logger with
// the id (field request_id) in the request's context for the handlers.
func (s *Server) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		id := req.Header.Get(RequestIDHeader)
		if !saneRequestID(id) {
			id = newRequestID()
		}
		c.Response().Header().Set(RequestIDHeader, id)
		log := s.log.With().Str("request_id", id).Logger()
		c.SetRequest(req.WithContext(log.WithContext(req.Context())))
		return next(c)
	}
}

// requestIDOf is the id requestID gave the request ("" on other routes).
func requestIDOf(c echo.Context) string {
	return c.Response().Header().Get(RequestIDHeader)
}

// saneRequestID accepts 1 to maxRequestIDLen visible ASCII characters:
// no spaces, no control bytes, nothing a log reader could mistake for
// another field or line.
func saneRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// newRequestID is a UUIDv7: unique, and sorted by time like our event ids.
func newRequestID() string {
	u, err := uuid.NewV7()
	if err != nil {
		return rand.Text() // random only; uuid fails only if the system's randomness does
	}
	return u.String()
}

// logger is the request logger ctx carries (with its request_id), or the
// server's own outside a request.
func (s *Server) logger(ctx context.Context) *zerolog.Logger {
	if l := zerolog.Ctx(ctx); l.GetLevel() != zerolog.Disabled {
		return l
	}
	return &s.log
}

// reqLog is the request logger of c's request.
func (s *Server) reqLog(c echo.Context) *zerolog.Logger { return s.logger(c.Request().Context()) }

// reject answers an ingest request the server refuses for its content
// (4xx) and logs why. reason never echoes the input (see fail's callers),
// so it is safe to log; the source is logged only when it is one of ours,
// not whatever the client wrote in the path.
func (s *Server) reject(c echo.Context, status int, reason string) error {
	ev := s.reqLog(c).Info().Int("status", status).Str("reason", reason)
	if name := c.Param("source"); isSource(name) {
		ev = ev.Str("source", name)
	}
	ev.Msg("event rejected")
	return fail(c, status, reason)
}
