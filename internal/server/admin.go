package server

// The destinations admin API: App Center's webhook panel, as an API.
//
//	GET    /v1/destinations              reader
//	GET    /v1/destinations/{name}       reader
//	POST   /v1/destinations              manager: create one (origin api)
//	PATCH  /v1/destinations/{name}       developer for {"enabled": bool} alone, manager for any other key
//	DELETE /v1/destinations/{name}       manager; the config file's destinations cannot be deleted (409)
//	POST   /v1/destinations/{name}/test  developer: send one clearly marked test message now
//
// Destinations are written with the config file's keys, as JSON; the
// answers show them the same way, with the webhook URL cut to
// scheme://host/*** (the URL is the credential: stored, never returned).
//
// A destination created here, and the enabled flag of any destination, are
// kept in the store (store.DestinationRecord) and survive restarts. What
// herald runs on is always composed the same way, by Compose: the config
// file, its destinations disabled here marked Disabled (kept, so their
// queued deliveries still go out, but routed nothing new), and the ones
// created here appended. A write is checked first: the configuration it
// would give is composed and checked as a reload checks one (validation,
// egress rules on the URL, adapters, templates against the sample events);
// if that fails the answer is 400 and nothing is stored. Then it is stored
// (compare-and-set against other replicas' writes) and this server reloads
// (Admin.Reload); other replicas notice the store's version change and
// reload too.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/internal/store"
)

// Limits of the admin API.
const (
	// adminMaxBody bounds a POST or PATCH body: a destination is a few
	// hundred bytes.
	adminMaxBody = 64 << 10
	// adminTimeout bounds a write: read, check (every template against the
	// samples), store, reload. Under WriteTimeout.
	adminTimeout = 25 * time.Second
	// adminTestTimeout caps a test message's attempt, whatever the
	// destination's timeout, so the answer comes before WriteTimeout.
	adminTestTimeout = 25 * time.Second
	// adminWriteAttempts bounds how often a write is planned again because
	// another replica changed the destinations between our read and write.
	adminWriteAttempts = 3
)

// ReloadTrigger is the trigger a write of the admin API reloads with.
const ReloadTrigger = "api"

// Results of a test message: the platform's answer as the delivery queue
// would read it.
const (
	TestAccepted         = "accepted"
	TestThrottled        = "throttled"         // 429 or Retry-After: the queue would wait and retry
	TestTemporaryFailure = "temporary_failure" // the queue would retry
	TestFinalFailure     = "final_failure"     // the queue would give up
)

// DestinationStore is what the admin API needs of the store. A Store that
// doesn't implement it gets 501 from the writes.
type DestinationStore interface {
	StoredDestinations(ctx context.Context) (store.DestinationSet, error)
	PutDestination(ctx context.Context, d store.DestinationRecord, expected int64) (int64, error)
	DeleteDestination(ctx context.Context, name string, expected int64) (int64, error)
}

var _ DestinationStore = (*store.Store)(nil)

// Admin connects the admin API's writes to the running configuration;
// cmd/herald provides it (SetAdmin). Without it the writes answer 501.
type Admin struct {
	// Check composes the configuration the stored destinations given would
	// make (Compose over the config file as it is now) and checks it as a
	// reload would, changing nothing.
	Check func(ctx context.Context, stored []store.DestinationRecord) error
	// Reload makes the store's destinations the running ones, as
	// POST /-/reload does, and returns the reload's warnings.
	Reload func(trigger string) (warnings []string, err error)
}

// adminState is the admin API's part of the Server.
type adminState struct {
	hooks   atomic.Pointer[Admin]
	mu      sync.Mutex // one write at a time in this process
	testing sync.Map   // destination name → struct{}: a test message in flight
}

// SetAdmin enables the admin API's writes.
func (s *Server) SetAdmin(a Admin) { s.admin.hooks.Store(&a) }

// DestinationView is one destination in the admin API: the config keys
// that say what it gets, its origin and state, and its URL redacted.
type DestinationView struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Origin  string `json:"origin"` // config (the file) or api
	Enabled bool   `json:"enabled"`
	// URL is scheme://host/***: the path and query hold the credential.
	URL    string   `json:"url,omitempty"`
	Events []string `json:"events"` // as configured; [] is every event
	Format string   `json:"format,omitempty"`

	BuildSuccess      string   `json:"build_success,omitempty"`
	BuildFailure      string   `json:"build_failure,omitempty"`
	Crashes           *bool    `json:"crashes,omitempty"`
	Distribute        *bool    `json:"distribute,omitempty"`
	Branches          []string `json:"branches,omitempty"`
	DefaultBranchOnly *bool    `json:"default_branch_only,omitempty"`
	DedupWindow       string   `json:"dedup_window,omitempty"`
}

// DestinationList is GET /v1/destinations.
type DestinationList struct {
	Destinations []DestinationView `json:"destinations"`
}

// DestinationChange answers a write that took effect.
type DestinationChange struct {
	// Destination is the destination as it runs now; absent after a
	// delete.
	Destination *DestinationView `json:"destination,omitempty"`
	Deleted     string           `json:"deleted,omitempty"`
	// Warnings are the reload's: settings that need a restart.
	Warnings []string `json:"warnings,omitempty"`
}

// TestResult is POST /v1/destinations/{name}/test.
type TestResult struct {
	Destination string `json:"destination"`
	Result      string `json:"result"`           // accepted, throttled, temporary_failure, final_failure
	Status      int    `json:"status,omitempty"` // the platform's HTTP status, when it failed with one
	Reason      string `json:"reason,omitempty"` // why it failed; never the URL
	// RetryAfter is the wait the platform asked for, in seconds.
	RetryAfter int   `json:"retry_after,omitempty"`
	TookMS     int64 `json:"took_ms"`
}

func (s *Server) routeDestinations(e *echo.Echo) {
	read := s.requireRole(config.RoleReader)
	developer := s.requireRole(config.RoleDeveloper)
	manager := s.requireRole(config.RoleManager)
	e.GET("/v1/destinations", s.listDestinations, read)
	e.GET("/v1/destinations/:name", s.getDestination, read)
	e.POST("/v1/destinations", s.createDestination, manager)
	// Developers may enable and disable; the handler asks for manager
	// when the body changes anything else.
	e.PATCH("/v1/destinations/:name", s.patchDestination, developer)
	e.DELETE("/v1/destinations/:name", s.deleteDestination, manager)
	e.POST("/v1/destinations/:name/test", s.testDestination, developer)
}

func (s *Server) listDestinations(c echo.Context) error {
	cfg := s.runtime.Load().Config
	out := DestinationList{Destinations: make([]DestinationView, 0, len(cfg.Destinations))}
	for _, d := range cfg.Destinations {
		out.Destinations = append(out.Destinations, destinationView(d))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getDestination(c echo.Context) error {
	d, ok := findDestination(s.runtime.Load().Config, c.Param("name"))
	if !ok {
		return fail(c, http.StatusNotFound, "no destination of that name")
	}
	return c.JSON(http.StatusOK, destinationView(d))
}

func (s *Server) createDestination(c echo.Context) error {
	body, answered, err := readAdminBody(c)
	if answered {
		return err
	}
	enabled, err := takeEnabled(body)
	if err != nil {
		return fail(c, http.StatusBadRequest, err.Error())
	}
	if enabled == nil {
		enabled = new(bool)
		*enabled = true
	}
	spec, err := json.Marshal(body) // keys sorted, values compacted
	if err != nil {
		return fail(c, http.StatusBadRequest, "unreadable JSON")
	}
	d, err := config.DecodeDestination(spec)
	switch {
	case err != nil:
		return fail(c, http.StatusBadRequest, oneLine(err.Error()))
	case d.Name == "":
		return fail(c, http.StatusBadRequest, "name is required")
	case d.Type == "":
		return fail(c, http.StatusBadRequest, "type is required (slack, teams, webhook, console)")
	}
	rec := store.DestinationRecord{Name: d.Name, Origin: store.OriginAPI, Spec: spec, Enabled: *enabled}
	newURL := d.URL.Value()
	warnings, answered, err := s.changeDestinations(c, func(set store.DestinationSet, cfg *config.Config) (planned, error) {
		if have, ok := findDestination(cfg, d.Name); ok {
			return planned{}, &refusal{http.StatusConflict, fmt.Sprintf("a destination named %q exists (origin %s)", d.Name, config.OriginOf(have))}
		}
		if r, ok := set.Find(d.Name); ok && r.Origin == store.OriginAPI {
			return planned{}, &refusal{http.StatusConflict, fmt.Sprintf("a destination named %q exists (origin api)", d.Name)}
		}
		return planned{put: &rec}, nil
	}, &newURL)
	if answered {
		return err
	}
	s.log.Info().Str("destination", d.Name).Str("type", d.Type).Bool("enabled", *enabled).
		Str("api_token", tokenName(c)).Msg("destination created")
	return c.JSON(http.StatusCreated, s.changed(d.Name, warnings))
}

func (s *Server) patchDestination(c echo.Context) error {
	name := c.Param("name")
	body, answered, err := readAdminBody(c)
	if answered {
		return err
	}
	enabled, err := takeEnabled(body)
	if err != nil {
		return fail(c, http.StatusBadRequest, err.Error())
	}
	if len(body) == 0 && enabled == nil {
		return fail(c, http.StatusBadRequest, "nothing to change: give enabled, or config keys to change")
	}
	if len(body) > 0 {
		// Anything beyond enabled is a change of the destination itself.
		return s.requireRole(config.RoleManager)(func(c echo.Context) error {
			return s.patch(c, name, body, enabled)
		})(c)
	}
	return s.patch(c, name, nil, enabled)
}

func (s *Server) patch(c echo.Context, name string, body map[string]json.RawMessage, enabled *bool) error {
	var newURL string
	warnings, answered, err := s.changeDestinations(c, func(set store.DestinationSet, cfg *config.Config) (planned, error) {
		d, inRuntime := findDestination(cfg, name)
		rec, stored := set.Find(name)
		switch {
		case inRuntime && d.Origin != config.OriginAPI:
			// The file's destination: the store keeps only "disabled".
			if len(body) > 0 {
				return planned{}, &refusal{http.StatusConflict, fmt.Sprintf("destination %q comes from the config file: only enabled changes through the API; edit the file for the rest", name)}
			}
			if !*enabled {
				return planned{put: &store.DestinationRecord{Name: name, Origin: store.OriginConfig, Enabled: false}}, nil
			}
			if stored && rec.Origin == store.OriginConfig {
				return planned{del: name}, nil
			}
			return planned{}, nil // enabled already
		case stored && rec.Origin == store.OriginAPI:
			spec := rec.Spec
			if len(body) > 0 {
				var err error
				if spec, err = mergePatch(rec.Spec, body); err != nil {
					return planned{}, &refusal{http.StatusBadRequest, err.Error()}
				}
				nd, err := config.DecodeDestination(spec)
				if err != nil {
					return planned{}, &refusal{http.StatusBadRequest, oneLine(err.Error())}
				}
				if nd.Name != name {
					return planned{}, &refusal{http.StatusBadRequest, "name cannot change: create the destination under the new name and delete this one"}
				}
				newURL = nd.URL.Value()
			}
			en := rec.Enabled
			if enabled != nil {
				en = *enabled
			}
			return planned{put: &store.DestinationRecord{Name: name, Origin: store.OriginAPI, Spec: spec, Enabled: en}}, nil
		}
		return planned{}, &refusal{http.StatusNotFound, "no destination of that name"}
	}, &newURL)
	if answered {
		return err
	}
	ev := s.log.Info().Str("destination", name).Str("api_token", tokenName(c))
	if enabled != nil {
		ev = ev.Bool("enabled", *enabled)
	}
	if len(body) > 0 {
		keys := make([]string, 0, len(body))
		for k := range body {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		ev = ev.Strs("keys", keys)
	}
	ev.Msg("destination changed")
	return c.JSON(http.StatusOK, s.changed(name, warnings))
}

func (s *Server) deleteDestination(c echo.Context) error {
	name := c.Param("name")
	warnings, answered, err := s.changeDestinations(c, func(set store.DestinationSet, cfg *config.Config) (planned, error) {
		if rec, ok := set.Find(name); ok && rec.Origin == store.OriginAPI {
			return planned{del: name}, nil
		}
		if _, ok := findDestination(cfg, name); ok {
			return planned{}, &refusal{http.StatusConflict, fmt.Sprintf(`destination %q comes from the config file and cannot be deleted through the API: remove it from the file, or disable it (PATCH {"enabled": false})`, name)}
		}
		return planned{}, &refusal{http.StatusNotFound, "no destination of that name"}
	})
	if answered {
		return err
	}
	s.log.Info().Str("destination", name).Str("api_token", tokenName(c)).Msg("destination deleted")
	return c.JSON(http.StatusOK, DestinationChange{Deleted: name, Warnings: warnings})
}

// testDestination sends event.TestMessage once through the destination's
// adapter, as `herald send-test` does: its templates, its HTTP client and
// egress rules, no queue, no retry, no rate limit. A disabled destination
// can be tested: that is how one checks it before enabling it again.
func (s *Server) testDestination(c echo.Context) error {
	name := c.Param("name")
	rt := s.runtime.Load()
	d, ok := findDestination(rt.Config, name)
	if !ok {
		return fail(c, http.StatusNotFound, "no destination of that name")
	}
	a, ok := rt.Adapters.Get(name)
	if !ok {
		return fail(c, http.StatusServiceUnavailable, "destination has no adapter yet; retry")
	}
	if _, busy := s.admin.testing.LoadOrStore(name, struct{}{}); busy {
		return fail(c, http.StatusTooManyRequests, "a test message to this destination is being sent; wait for its answer")
	}
	defer s.admin.testing.Delete(name)

	res := TestResult{Destination: name, Result: TestAccepted}
	p, err := a.Build(event.TestMessage(name, time.Now()))
	if err != nil {
		res.Result, res.Reason = TestFinalFailure, "render: "+s.masker()(err.Error())
		return c.JSON(http.StatusOK, res)
	}
	timeout := min(cmp.Or(d.Timeout, rt.Config.Delivery.Timeout, config.DefaultTimeout), adminTestTimeout)
	ctx, cancel := context.WithTimeout(c.Request().Context(), timeout)
	defer cancel()
	start := time.Now()
	retry, err := a.Send(ctx, p)
	res.TookMS = time.Since(start).Milliseconds()
	if err != nil {
		var ne *notify.Error
		if errors.As(err, &ne) {
			res.Status = ne.Status
			res.RetryAfter = int((ne.RetryAfter + time.Second - 1) / time.Second)
		}
		switch {
		case ne != nil && (ne.RetryAfter > 0 || ne.Status == http.StatusTooManyRequests):
			res.Result = TestThrottled
		case retry:
			res.Result = TestTemporaryFailure
		default:
			res.Result = TestFinalFailure
		}
		res.Reason = s.masker()(oneLine(err.Error()))
	}
	s.log.Info().Str("destination", name).Str("api_token", tokenName(c)).Str("result", res.Result).
		Int("status", res.Status).Str("reason", res.Reason).Msg("test message sent")
	return c.JSON(http.StatusOK, res)
}

// planned is one write of the stored destinations: put a record, delete
// one, or nothing (the destination is already as asked).
type planned struct {
	put *store.DestinationRecord
	del string
}

// refusal is a plan's answer to the client instead of a write.
type refusal struct {
	code   int
	reason string
}

func (r *refusal) Error() string { return r.reason }

// changeDestinations runs one write: plan it on the stored destinations
// and the running configuration, check the configuration it would make,
// store it if no other replica wrote meanwhile (else plan again), and
// reload. answered reports that the client has its answer (err is the
// handler's); otherwise warnings are the reload's. urls point at the
// webhook URLs of the request (the plan may fill them in), kept out of
// error messages along with the running ones.
func (s *Server) changeDestinations(c echo.Context, plan func(store.DestinationSet, *config.Config) (planned, error), urls ...*string) (warnings []string, answered bool, _ error) {
	ds, ok := s.store.(DestinationStore)
	hooks := s.admin.hooks.Load()
	if !ok || hooks == nil {
		return nil, true, fail(c, http.StatusNotImplemented, "this server cannot change destinations at run time")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), adminTimeout)
	defer cancel()
	s.admin.mu.Lock()
	defer s.admin.mu.Unlock()
	mask := func(msg string) string {
		msg = s.masker()(oneLine(msg))
		for _, u := range urls {
			msg = redactURL(msg, *u)
		}
		return msg
	}
	for attempt := 1; ; attempt++ {
		set, err := ds.StoredDestinations(ctx)
		if err != nil {
			return nil, true, s.adminInternal(c, err)
		}
		p, err := plan(set, s.runtime.Load().Config)
		if err != nil {
			var r *refusal
			if errors.As(err, &r) {
				return nil, true, fail(c, r.code, mask(r.reason))
			}
			return nil, true, s.adminInternal(c, err)
		}
		if p.put == nil && p.del == "" {
			return nil, false, nil
		}
		if err := hooks.Check(ctx, proposed(set.Destinations, p)); err != nil {
			return nil, true, fail(c, http.StatusBadRequest, mask(err.Error()))
		}
		if p.put != nil {
			_, err = ds.PutDestination(ctx, *p.put, set.Version)
		} else {
			_, err = ds.DeleteDestination(ctx, p.del, set.Version)
		}
		switch {
		case errors.Is(err, store.ErrDestinationsChanged) && attempt < adminWriteAttempts:
			continue
		case errors.Is(err, store.ErrDestinationsChanged):
			return nil, true, fail(c, http.StatusConflict, "the destinations keep changing (other writers); retry")
		case errors.Is(err, store.ErrDestinationNotFound):
			return nil, true, fail(c, http.StatusNotFound, "no destination of that name")
		case err != nil:
			return nil, true, s.adminInternal(c, err)
		}
		break
	}
	warnings, err := hooks.Reload(ReloadTrigger)
	if err != nil {
		return nil, true, fail(c, http.StatusInternalServerError, "the change is stored but the reload failed, so it is not in force yet: "+mask(err.Error()))
	}
	return warnings, false, nil
}

// proposed is the stored destinations after p.
func proposed(cur []store.DestinationRecord, p planned) []store.DestinationRecord {
	out := make([]store.DestinationRecord, 0, len(cur)+1)
	for _, r := range cur {
		if (p.put != nil && r.Name == p.put.Name) || r.Name == p.del {
			continue
		}
		out = append(out, r)
	}
	if p.put != nil {
		out = append(out, *p.put)
	}
	return out
}

// changed is the answer to a create or change: the destination as it runs
// now.
func (s *Server) changed(name string, warnings []string) DestinationChange {
	out := DestinationChange{Warnings: warnings}
	if d, ok := findDestination(s.runtime.Load().Config, name); ok {
		v := destinationView(d)
		out.Destination = &v
	}
	return out
}

func (s *Server) adminInternal(c echo.Context, err error) error {
	s.log.Error().Err(err).Str("path", c.Path()).Msg("destinations api failed")
	return fail(c, http.StatusInternalServerError, "internal error")
}

// Compose is the configuration herald runs on: file, with its destinations
// disabled through the admin API marked Disabled, and the destinations
// created through it appended and validated with the rest
// (config.WithAPIDestinations). Every configuration cmd/herald runs
// (start-up, reloads) and every write this API checks is composed here.
//
// The file wins: a destination created through the API whose name the
// file now uses is ignored, with a warning, until it is deleted. An
// override of a destination the file no longer has is ignored. file is not
// changed.
func Compose(file *config.Config, stored []store.DestinationRecord) (*config.Config, []string, error) {
	c := *file
	c.Destinations = slices.Clone(file.Destinations)
	inFile := map[string]int{}
	for i, d := range c.Destinations {
		inFile[d.Name] = i
	}
	var (
		added    []config.Destination
		warnings []string
	)
	for _, r := range stored {
		i, fromFile := inFile[r.Name]
		switch {
		case fromFile && r.Origin == store.OriginConfig:
			c.Destinations[i].Disabled = !r.Enabled
		case fromFile:
			warnings = append(warnings, fmt.Sprintf("destination %q: the config file defines it; the one created through the API is ignored until deleted", r.Name))
		case r.Origin == store.OriginAPI:
			d, err := config.DecodeDestination(r.Spec)
			if err != nil {
				return nil, warnings, fmt.Errorf("destination %q (created through the API): %w", r.Name, err)
			}
			d.Disabled = !r.Enabled
			added = append(added, d)
		}
	}
	out, err := c.WithAPIDestinations(added)
	return out, warnings, err
}

func findDestination(c *config.Config, name string) (config.Destination, bool) {
	if i := destinationIndex(c, name); i >= 0 {
		return c.Destinations[i], true
	}
	return config.Destination{}, false
}

func destinationView(d config.Destination) DestinationView {
	v := DestinationView{
		Name:              d.Name,
		Type:              d.Type,
		Origin:            config.OriginOf(d),
		Enabled:           !d.Disabled,
		Events:            append([]string{}, d.Events...),
		Format:            d.Format,
		BuildSuccess:      d.BuildSuccess,
		BuildFailure:      d.BuildFailure,
		Crashes:           d.Crashes,
		Distribute:        d.Distribute,
		Branches:          d.Branches,
		DefaultBranchOnly: d.DefaultBranchOnly,
	}
	if u := d.URL.Value(); u != "" {
		v.URL = notify.RedactURL(u)
	}
	if d.DedupWindow > 0 {
		v.DedupWindow = d.DedupWindow.String()
	}
	return v
}

// readAdminBody reads a POST or PATCH body: JSON (or no Content-Type), at
// most adminMaxBody bytes, one object.
func readAdminBody(c echo.Context) (map[string]json.RawMessage, bool, error) {
	if reason := checkContentType(c.Request().Header.Get("Content-Type")); reason != "" {
		return nil, true, fail(c, http.StatusUnsupportedMediaType, reason)
	}
	b, err := readBody(c, adminMaxBody)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, true, fail(c, http.StatusRequestEntityTooLarge, fmt.Sprintf("body exceeds %d KiB", adminMaxBody>>10))
		}
		return nil, true, fail(c, http.StatusBadRequest, "could not read the body")
	}
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil || m == nil || dec.More() {
		return nil, true, fail(c, http.StatusBadRequest, "the body must be one JSON object of config keys")
	}
	return m, false, nil
}

// takeEnabled removes "enabled" from body and returns it (nil: absent).
func takeEnabled(body map[string]json.RawMessage) (*bool, error) {
	raw, ok := body["enabled"]
	if !ok {
		return nil, nil
	}
	delete(body, "enabled")
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, errors.New("enabled: must be true or false")
	}
	return &b, nil
}

// mergePatch applies patch to the JSON object doc as RFC 7386 says: null
// removes a key, objects merge key by key, anything else replaces.
func mergePatch(doc []byte, patch map[string]json.RawMessage) ([]byte, error) {
	target := map[string]any{}
	if err := decodeNumbers(doc, &target); err != nil {
		return nil, fmt.Errorf("stored destination unreadable: %w", err)
	}
	for k, raw := range patch {
		var v any
		if err := decodeNumbers(raw, &v); err != nil {
			return nil, fmt.Errorf("%s: unreadable JSON", k)
		}
		if v == nil {
			delete(target, k)
			continue
		}
		target[k] = mergeValue(target[k], v)
	}
	return json.Marshal(target)
}

func mergeValue(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = mergeValue(t[k], v)
	}
	return t
}

func decodeNumbers(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

// redactURL replaces raw, and the path and query that carry its
// credential, in msg.
func redactURL(msg, raw string) string {
	if raw == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, raw, notify.RedactURL(raw))
	if u, err := url.Parse(raw); err == nil {
		if u.RawQuery != "" {
			msg = strings.ReplaceAll(msg, u.RawQuery, "***")
		}
		if p := u.EscapedPath(); len(p) > 1 {
			msg = strings.ReplaceAll(msg, p, "/***")
		}
	}
	return msg
}

// oneLine joins a multi-line error (errors.Join) into one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

func tokenName(c echo.Context) string {
	n, _ := c.Get(tokenNameKey).(string)
	return n
}
