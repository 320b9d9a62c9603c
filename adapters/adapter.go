// Package adapters names herald's destination types and the contract each
// implements.
//
// Each sub-package (slack, teams, webhook, console) holds one adapter: a pure,
// deterministic Build that turns an event into the platform's exact payload
// (rendered from templates, checked against the platform's limits, golden
// tested), and a Send that makes exactly one attempt and says whether a
// failure is worth retrying. Adapters never retry, sleep or queue: the
// delivery layer does that once for all of them. HTTP answers are
// classified in one place, internal/notify.
package adapters

import (
	"context"
	"net/http"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/templates"
)

// Adapter builds and sends messages for one destination.
type Adapter interface {
	// Build renders ev into the exact body Send would post. Pure: no I/O.
	Build(ev *event.Event) (notify.Payload, error)
	// Send makes one attempt. retry says whether a failure is worth
	// another; err may be a *notify.Error carrying a Retry-After.
	Send(ctx context.Context, p notify.Payload) (retry bool, err error)
}

// Deps are what every adapter is built with.
type Deps struct {
	Templates *templates.Set // the destination's templates (defaults + overrides)
	Client    *http.Client   // shared; built by notify.Client, never follows redirects
	Logger    zerolog.Logger // scoped to the destination
}

// Factory builds an adapter for one configured destination.
type Factory func(d config.Destination, deps Deps) (Adapter, error)
