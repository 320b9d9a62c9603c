package server

// API tokens: every endpoint beyond ingest, health and metrics (the
// deliveries API, the destinations admin API, reload) needs
// "Authorization: Bearer <token>" of a configured token whose role allows
// it. No token configured: those endpoints are off (404). No or unknown
// token: 401. A known token whose role is too low: 403. Unknown tokens
// count against the address like failed source authentications: after
// AuthFailureLimit within AuthFailureWindow it gets 429.

import (
	"crypto/sha256"
	"crypto/subtle"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/herald-ci/herald/internal/auth"
	"github.com/herald-ci/herald/internal/config"
)

// tokenNameKey is where requireRole leaves the caller's token name, for the
// handlers' log lines.
const tokenNameKey = "herald.api_token"

// requireRole guards an API endpoint: the request's bearer token must be
// one of the current config's tokens with a role that includes need. The
// tokens are read from the runtime on each request, so a reload swaps them.
func (s *Server) requireRole(need config.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			api := s.runtime.Load().Config.API
			if !api.Enabled() {
				return fail(c, http.StatusNotFound, "the API is off: configure api.tokens to use it")
			}
			// Guessing tokens shares the ingest's failure throttle (auth.go).
			addr, now := auth.AddressKey(c.Request().RemoteAddr), s.auth.clock()
			if wait := s.auth.failures().Blocked(addr, now); wait > 0 {
				c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
				return fail(c, http.StatusTooManyRequests, "too many failed authentications from this address; retry later")
			}
			tok, ok := bearerToken(c.Request().Header.Get("Authorization"))
			if !ok {
				c.Response().Header().Set("WWW-Authenticate", `Bearer realm="herald"`)
				return fail(c, http.StatusUnauthorized, "an API token is required: Authorization: Bearer <token>")
			}
			t, found := lookupToken(api.Tokens, tok)
			if !found {
				s.auth.failures().Fail(addr, now)
				c.Response().Header().Set("WWW-Authenticate", `Bearer realm="herald", error="invalid_token"`)
				return fail(c, http.StatusUnauthorized, "the API token is not valid")
			}
			if !t.Role.Allows(need) {
				return fail(c, http.StatusForbidden, "token "+t.Name+" has role "+string(t.Role)+"; this needs "+string(need))
			}
			c.Set(tokenNameKey, t.Name)
			return next(c)
		}
	}
}

// bearerToken extracts the token of an "Authorization: Bearer" header.
func bearerToken(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// lookupToken finds the configured token equal to tok. Every token is
// compared, in constant time over equal-length digests, so neither the
// position of a match nor a token's length shows in the timing.
func lookupToken(tokens []config.Token, tok string) (config.Token, bool) {
	got := sha256.Sum256([]byte(tok))
	var match config.Token
	found := 0
	for _, t := range tokens {
		want := sha256.Sum256([]byte(t.Token.Value()))
		if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
			match, found = t, 1
		}
	}
	return match, found == 1
}
