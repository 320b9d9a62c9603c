// Package console is the destination a new user sees when no webhook URL is
// configured: it renders a one- or two-line summary of each event
// (console.<kind>.text, console.event.text for other kinds), without
// control characters, and writes it to the log.
//
// Send never fails and never retries; the package does no network I/O.
package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/templates"
)

// ContentType is the payload's type: plain text for humans.
const ContentType = "text/plain"

// Adapter logs messages for one console destination.
type Adapter struct {
	cfg Config
	set *templates.Set
	log zerolog.Logger

	// OnFallback, when set, is called each time a user template failed
	// and the embedded default was used instead. Set it before use.
	OnFallback func(template string, err error)
}

// New builds the adapter for d. The HTTP client is not used; it is taken
// so that every adapter has the same constructor.
func New(d config.Destination, set *templates.Set, _ *http.Client, log zerolog.Logger) (*Adapter, error) {
	cfg, err := newConfig(d)
	if err != nil {
		return nil, err
	}
	if set == nil {
		set = templates.Defaults()
	}
	return &Adapter{cfg: cfg, set: set, log: log}, nil
}

// Build renders the event's summary. Pure: no I/O.
func (a *Adapter) Build(ev *event.Event) (notify.Payload, error) {
	if ev == nil {
		return notify.Payload{}, errors.New("console: nil event")
	}
	name := templates.Name("console", ev, "text")
	body, err := templates.WithFallback(a.set, func(s *templates.Set) ([]byte, error) {
		name := name
		if !s.Has(name) { // a kind without a summary of its own
			name = "console.event.text"
		}
		out, err := s.RenderEvent(name, ev, a.cfg.Name)
		if err != nil {
			return nil, fmt.Errorf("console: render %s: %w", name, err)
		}
		// A control character (ESC and a colour code, say) would reach
		// a terminal through the log.
		out = bytes.TrimSpace([]byte(templates.Clean(string(out))))
		if len(out) == 0 {
			return nil, fmt.Errorf("console: template %s rendered nothing", name)
		}
		return out, nil
	}, func(err error) {
		a.log.Warn().Err(err).Str("template", name).Msg("template failed, using the default")
		if a.OnFallback != nil {
			a.OnFallback(name, err)
		}
	})
	if err != nil {
		return notify.Payload{}, err
	}
	return notify.Payload{Body: body, ContentType: ContentType}, nil
}

// Send writes the summary to the log at info level. It never fails.
func (a *Adapter) Send(_ context.Context, p notify.Payload) (bool, error) {
	a.log.Info().Str("text", string(p.Body)).Msg("notification")
	return false, nil
}
