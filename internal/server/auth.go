package server

// Inbound authentication, per source (config sources.<name>; the checks
// themselves are package auth's):
//
//	POST /v1/events/{source}           headers: Basic, Bearer, signatures
//	POST /v1/events/{source}/{token}   url_token, for senders that cannot set headers
//	POST /v1/events/{source}?token=T   the same
//
// A request passing any one configured method is accepted. The throttle
// and the methods carried in headers run before the body is read; the
// signature methods run on the raw, size-limited body before it is decoded.
// The token in the URL is never logged: logs name the route's pattern
// (c.Path()), never the request's path or query.

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/herald-ci/herald/internal/auth"
	"github.com/herald-ci/herald/internal/config"
)

// authState is what authentication keeps across requests: the verifiers of
// the current config, built once per config, and the failure throttle.
type authState struct {
	mu        sync.Mutex
	cfg       *config.Config
	verifiers map[string]*auth.Verifier
	throttle  *auth.Throttle
	// now is the clock; tests replace it.
	now func() time.Time
}

func (a *authState) clock() time.Time {
	a.mu.Lock()
	now := a.now
	a.mu.Unlock()
	if now == nil {
		return time.Now()
	}
	return now()
}

func (a *authState) failures() *auth.Throttle {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.throttle == nil {
		a.throttle = auth.NewThrottle(AuthFailureLimit, AuthFailureWindow, AuthFailureAddresses)
	}
	return a.throttle
}

// verifier returns the source's verifier under cfg.
func (a *authState) verifier(cfg *config.Config, name string) (*auth.Verifier, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cfg != cfg {
		a.cfg, a.verifiers = cfg, map[string]*auth.Verifier{}
	}
	if v, ok := a.verifiers[name]; ok {
		return v, nil
	}
	v, err := auth.New(name, cfg.Sources[name])
	if err != nil {
		return nil, err
	}
	a.verifiers[name] = v
	return v, nil
}

// inbound is one ingest request on its way through authentication and the
// body limits.
type inbound struct {
	name string
	v    *auth.Verifier
	req  auth.Request
	// pending: only a signature over the body can still accept it.
	pending bool
	limit   int64
	addr    string // the throttle's key: the remote IP (or IPv6 /64)
	now     time.Time
}

// admit runs first: a throttled address gets 429, and a request the
// headers already fail gets 401 before its body is read. answered reports
// that the response is written (err is then what writing it returned).
func (s *Server) admit(c echo.Context, rt *Runtime, name string) (_ *inbound, answered bool, _ error) {
	v, err := s.auth.verifier(rt.Config, name)
	if err != nil {
		// Validation builds the same keys; only a config that skipped it gets here.
		s.reqLog(c).Error().Err(err).Str("source", name).Msg("source authentication unusable")
		return nil, true, fail(c, http.StatusInternalServerError, "internal error")
	}
	token := c.Param("token")
	if token != "" && !v.TakesURLToken() {
		// The token route exists for url_token only.
		return nil, true, s.reject(c, http.StatusNotFound, "not found")
	}
	if token == "" && v.TakesURLToken() {
		token = c.QueryParam("token")
	}
	in := &inbound{
		name:  name,
		v:     v,
		req:   auth.Request{Header: c.Request().Header, URLToken: token},
		limit: rt.Config.SourceMaxBodyBytes(name),
		addr:  auth.AddressKey(c.Request().RemoteAddr),
		now:   s.auth.clock(),
	}
	if wait := s.auth.failures().Blocked(in.addr, in.now); wait > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		return nil, true, fail(c, http.StatusTooManyRequests, "too many failed authentications from this address; retry later")
	}
	switch err := v.CheckHeaders(in.req, in.now); {
	case err == nil:
	case errors.Is(err, auth.ErrNeedBody):
		in.pending = true
	default:
		return nil, true, s.unauthorized(c, in, err)
	}
	return in, false, nil
}

// readInbound reads the body within the source's limit (413 up front when
// Content-Length says it is too large), verifies the signature methods on
// it and bounds its JSON nesting.
func (s *Server) readInbound(c echo.Context, in *inbound) (_ []byte, answered bool, _ error) {
	tooLarge := func() error {
		return s.reject(c, http.StatusRequestEntityTooLarge, "body exceeds the limit of "+strconv.FormatInt(in.limit, 10)+" bytes")
	}
	if c.Request().ContentLength > in.limit {
		return nil, true, tooLarge()
	}
	body, err := readBody(c, in.limit)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, true, tooLarge()
		}
		return nil, true, s.reject(c, http.StatusBadRequest, "could not read the body")
	}
	if in.pending {
		if err := in.v.CheckBody(in.req, body, in.now); err != nil {
			return nil, true, s.unauthorized(c, in, err)
		}
	}
	if tooDeep(body, MaxJSONDepth) {
		return nil, true, s.reject(c, http.StatusBadRequest, "JSON nested deeper than "+strconv.Itoa(MaxJSONDepth)+" levels")
	}
	return body, false, nil
}

// unauthorized answers 401 with a challenge per configured method, and
// counts the failure against the remote address.
func (s *Server) unauthorized(c echo.Context, in *inbound, err error) error {
	s.auth.failures().Fail(in.addr, in.now)
	for _, ch := range in.v.Challenges() {
		c.Response().Header().Add("WWW-Authenticate", ch)
	}
	s.reqLog(c).Warn().Str("source", in.name).Str("remote", in.addr).Str("reason", err.Error()).Msg("authentication failed")
	return fail(c, http.StatusUnauthorized, err.Error()+"; "+in.name+" accepts "+strings.Join(in.v.Methods(), ", "))
}
