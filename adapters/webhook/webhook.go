// Package webhook forwards events, as JSON, to any URL.
//
// The body is the sender's own payload, so a receiver written for TeamCity
// or App Center keeps working behind herald: for TeamCity the envelope
// {"eventType": ..., "payload": ...} is written again around the original
// payload (normalising the spacing TeamCity puts around it); for every other
// source the original body is forwarded unchanged. An event without an
// original body (built by hand) is forwarded as herald's normalised event.
//
// A destination's `fields` setting trims what is forwarded, as TeamCity's
// teamcity.internal.webhooks.<EVENT>.fields parameter does, in the same
// syntax (package internal/fields). Its keys are event types, matched
// exactly against the event's Type: TeamCity's eventType (BUILD_INTERRUPTED,
// AGENT_REGISTRED, ...), App Center's (BuildComplete, NewCrashGroupCreated,
// NewAppRelease, Test), the generic source's type. For a TeamCity envelope
// the selection applies to the payload, and the envelope stays around it,
// as TeamCity sends it; for everything else it applies to the whole body.
// An event type without an entry is forwarded whole, byte for byte as
// before; a projected body is compact JSON. Every selection is parsed when
// the adapter is built, so a malformed one fails config load and `herald
// validate`, never an event.
//
// With basic_auth set, every request carries an Authorization: Basic header
// (TeamCity's teamcity.internal.webhooks.username/password). The header is
// added to the request on its way out, never logged, never put in an error,
// and never sent to another URL: the client does not follow redirects.
//
// Send makes one POST; any 2xx is delivered, everything else is classified
// by internal/notify. The package does not retry and never puts the URL in
// an error.
package webhook

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/templates"
)

// Adapter forwards events to one URL.
type Adapter struct {
	cfg    Config
	client *http.Client
	log    zerolog.Logger
}

// New builds the adapter for d. Templates are not used: the body is the
// sender's; set is taken so that every adapter has the same constructor.
// client must come from notify.NewClient (or Client); nil makes one with
// the default egress rules. A malformed fields selection is an error here,
// naming its event type and position.
func New(d config.Destination, _ *templates.Set, client *http.Client, log zerolog.Logger) (*Adapter, error) {
	cfg, err := newConfig(d)
	if err != nil {
		return nil, err
	}
	if client == nil {
		client = notify.Client(config.DefaultTimeout)
	}
	// Every request is held to the webhook host allowlist as well.
	if client, err = notify.ForType(client, config.TypeWebhook); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	// After ForType, which needs notify's own transport underneath.
	if cfg.BasicAuth != nil {
		client = withBasicAuth(client, cfg.BasicAuth.Username, cfg.BasicAuth.Password)
	}
	return &Adapter{cfg: cfg, client: client, log: log}, nil
}

// withBasicAuth returns a copy of client (same timeout, same refusal to
// follow redirects, same guarded transport underneath) that sets the
// Authorization header on every request. notify.Post builds the request,
// so the header is added here, on a clone: a RoundTripper must not modify
// the request it is given.
func withBasicAuth(client *http.Client, username string, password config.Secret) *http.Client {
	c := *client
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = &basicAuth{base: base, username: username, password: password}
	return &c
}

// basicAuth adds the destination's credentials to each request.
type basicAuth struct {
	base     http.RoundTripper
	username string
	password config.Secret
}

func (t *basicAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.SetBasicAuth(t.username, t.password.Value())
	return t.base.RoundTrip(r)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// shared transport underneath.
func (t *basicAuth) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// teamcityEnvelope is the shape TeamCity posts.
type teamcityEnvelope struct {
	EventType string          `json:"eventType"`
	Payload   json.RawMessage `json:"payload"`
}

// Build returns the body to forward. Pure: no I/O.
func (a *Adapter) Build(ev *event.Event) (notify.Payload, error) {
	if ev == nil {
		return notify.Payload{}, errors.New("webhook: nil event")
	}
	body, err := a.body(ev)
	if err != nil {
		return notify.Payload{}, err
	}
	return notify.Payload{Body: body, ContentType: "application/json"}, nil
}

func (a *Adapter) body(ev *event.Event) ([]byte, error) {
	if len(bytes.TrimSpace(ev.Raw)) == 0 {
		b, err := json.Marshal(ev)
		if err != nil {
			return nil, fmt.Errorf("webhook: encode event: %w", err)
		}
		return a.project(ev.Type, b)
	}
	if ev.Source != "teamcity" {
		return a.project(ev.Type, ev.Raw)
	}
	var in teamcityEnvelope
	if err := json.Unmarshal(ev.Raw, &in); err != nil || len(in.Payload) == 0 {
		return a.project(ev.Type, ev.Raw) // not an envelope after all: forward as received
	}
	out := teamcityEnvelope{EventType: ev.Type, Payload: in.Payload}
	if out.EventType == "" {
		out.EventType = in.EventType
	}
	p, err := a.project(out.EventType, in.Payload)
	if err != nil {
		return nil, err
	}
	out.Payload = p
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("webhook: encode teamcity envelope: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// project applies the destination's selection for eventType to b; b is
// returned untouched when there is none.
func (a *Adapter) project(eventType string, b []byte) ([]byte, error) {
	sel, ok := a.cfg.Fields[eventType]
	if !ok {
		return b, nil
	}
	out, err := sel.Apply(b)
	if err != nil {
		return nil, fmt.Errorf("webhook: fields.%s: %w", eventType, err)
	}
	return out, nil
}

// Send posts p once. Any 2xx is delivered.
func (a *Adapter) Send(ctx context.Context, p notify.Payload) (bool, error) {
	retry, err := notify.Post(ctx, a.client, a.cfg.URL, p, notify.Accept2xx)
	if err != nil && a.cfg.BasicAuth != nil {
		// An answer quoting the request must not carry our credentials on.
		ba := a.cfg.BasicAuth
		cred := base64.StdEncoding.EncodeToString([]byte(ba.Username + ":" + ba.Password.Value()))
		err = notify.Redact(err, cred, ba.Password.Value())
	}
	return retry, err
}
