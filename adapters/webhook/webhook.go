// Package webhook forwards events, as JSON, to any URL.
//
// The body is the sender's own payload, so a receiver written for TeamCity
// or App Center keeps working behind herald: for TeamCity the envelope
// {"eventType": ..., "payload": ...} is written again around the original
// payload (normalising the spacing TeamCity puts around it); for every other
// source the original body is forwarded unchanged. An event without an
// original body (built by hand) is forwarded as herald's normalised event.
//
// Send makes one POST; any 2xx is delivered, everything else is classified
// by internal/notify. The package does not retry and never puts the URL in
// an error.
package webhook

import (
	"bytes"
	"context"
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
func New(d config.Destination, _ *templates.Set, client *http.Client, log zerolog.Logger) (*Adapter, error) {
	cfg, err := newConfig(d)
	if err != nil {
		return nil, err
	}
	if client == nil {
		client = notify.Client(config.DefaultTimeout)
	}
	return &Adapter{cfg: cfg, client: client, log: log}, nil
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
	body, err := body(ev)
	if err != nil {
		return notify.Payload{}, err
	}
	return notify.Payload{Body: body, ContentType: "application/json"}, nil
}

func body(ev *event.Event) ([]byte, error) {
	if len(bytes.TrimSpace(ev.Raw)) == 0 {
		b, err := json.Marshal(ev)
		if err != nil {
			return nil, fmt.Errorf("webhook: encode event: %w", err)
		}
		return b, nil
	}
	if ev.Source != "teamcity" {
		return ev.Raw, nil
	}
	var in teamcityEnvelope
	if err := json.Unmarshal(ev.Raw, &in); err != nil || len(in.Payload) == 0 {
		return ev.Raw, nil // not an envelope after all: forward as received
	}
	out := teamcityEnvelope{EventType: ev.Type, Payload: in.Payload}
	if out.EventType == "" {
		out.EventType = in.EventType
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("webhook: encode teamcity envelope: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Send posts p once. Any 2xx is delivered.
func (a *Adapter) Send(ctx context.Context, p notify.Payload) (bool, error) {
	return notify.Post(ctx, a.client, a.cfg.URL, p, notify.Accept2xx)
}
