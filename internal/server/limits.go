package server

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/herald-ci/herald/internal/metrics"
	"github.com/herald-ci/herald/sources"
)

// Timeouts of the HTTP server, named in one place. A slow client cannot
// hold a connection open longer than these.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 120 * time.Second
	MaxHeaderBytes    = 64 << 10
	// IngestTimeout bounds decode + render + commit of one event.
	IngestTimeout = 15 * time.Second
	// RetryAfterSeconds is what a 503 asks senders to wait.
	RetryAfterSeconds = "5"
)

// Inbound limits. Body sizes and the concurrency cap are in the config
// (limits.max_body_bytes, sources.<name>.max_body_bytes,
// limits.max_concurrent_requests).
const (
	// MaxJSONDepth bounds the nesting of an event's JSON. Real payloads
	// stay under 10 (a TeamCity build is about 6 deep); encoding/json alone
	// would follow 10,000 levels.
	MaxJSONDepth = 64

	// After AuthFailureLimit failed authentications within
	// AuthFailureWindow, an address gets 429 until the window passes.
	AuthFailureLimit  = 10
	AuthFailureWindow = time.Minute
	// AuthFailureAddresses bounds the addresses tracked (about 100 bytes
	// each).
	AuthFailureAddresses = 10_000
)

// limitInFlight answers 503 with Retry-After to ingest requests beyond
// limits.max_concurrent_requests, before they read anything.
func (s *Server) limitInFlight(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		n := s.inFlight.Add(1)
		defer s.inFlight.Add(-1)
		if limit := s.runtime.Load().Config.Limits.MaxConcurrentRequests; limit > 0 && n > int64(limit) {
			if name := c.Param("source"); isSource(name) {
				s.metrics.Events.WithLabelValues(name, metrics.Overload).Inc()
			}
			c.Response().Header().Set("Retry-After", RetryAfterSeconds)
			return fail(c, http.StatusServiceUnavailable, "too many requests in progress; retry later")
		}
		return next(c)
	}
}

// isSource keeps metric labels to the known source names.
func isSource(name string) bool {
	_, ok := sources.Lookup(name)
	return ok
}

// tooDeep reports whether the JSON in b nests objects and arrays deeper
// than limit. One pass over the bytes, no allocation: brackets inside
// strings are skipped; anything else malformed is the decoder's to reject.
func tooDeep(b []byte, limit int) bool {
	depth := 0
	inString, escaped := false, false
	for _, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > limit {
				return true
			}
		case '}', ']':
			depth--
		}
	}
	return false
}
