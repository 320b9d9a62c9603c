// Package teams posts events to Microsoft Teams in one of three shapes:
//
//   - workflows: an Adaptive Card inside the {"type":"message",...}
//     envelope that a Teams Workflows (Power Automate) webhook trigger
//     expects; it answers 202 and posts later.
//   - adaptive-card: the bare Adaptive Card, for custom flows that wrap it
//     themselves.
//   - messagecard: a legacy Office 365 connector MessageCard; the connector
//     answers 200 with the body "1", and reports throttling and other
//     failures inside a 200.
//
// Cards are rendered from the templates teams.<kind>.card (Adaptive Card)
// and messagecard.<kind>.card, then parsed, checked and shrunk to fit
// Teams' 28 KB limit. Build is pure; Send makes one attempt and never
// retries, sleeps or queues.
//
// It must not import package adapters (adapters/registry.go imports it).
package teams

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/templates"
)

// Template name prefixes: teams.<kind>.card renders an Adaptive Card,
// messagecard.<kind>.card a MessageCard. A kind without a card of its own
// uses <prefix>.event.card.
const (
	prefixAdaptive    = "teams"
	prefixMessageCard = "messagecard"
	fallbackKind      = "event"
)

// The Workflows envelope around an Adaptive Card.
const adaptiveContentType = "application/vnd.microsoft.card.adaptive"

// Adapter posts to one Teams destination.
type Adapter struct {
	cfg    Config
	set    *templates.Set
	client *http.Client
	log    zerolog.Logger
}

// Interface guard: the adapters.Adapter contract, spelled out because
// package adapters imports this one (adapters/registry.go holds the guard
// against the named interface).
var _ interface {
	Build(ev *event.Event) (notify.Payload, error)
	Send(ctx context.Context, p notify.Payload) (retry bool, err error)
} = (*Adapter)(nil)

// New builds the adapter for d. A nil set means the embedded defaults; a
// nil client one from notify.Client with the default timeout and egress
// rules. A client must come from notify.NewClient (or Client).
func New(d config.Destination, set *templates.Set, client *http.Client, log zerolog.Logger) (*Adapter, error) {
	cfg, err := newConfig(d)
	if err != nil {
		return nil, err
	}
	if set == nil {
		set = templates.Defaults()
	}
	if client == nil {
		client = notify.Client(config.DefaultTimeout)
	}
	// Every request is held to the teams host allowlist as well.
	if client, err = notify.ForType(client, config.TypeTeams); err != nil {
		return nil, fmt.Errorf("teams: %w", err)
	}
	return &Adapter{cfg: cfg, set: set, client: client, log: log}, nil
}

// Format is the payload shape this destination gets: workflows,
// messagecard or adaptive-card.
func (a *Adapter) Format() string { return a.cfg.Format }

// Build renders ev into the body Send posts. When a user template fails
// (it does not execute, is not JSON, is not the card the format needs, or
// cannot be made to fit), the embedded default is used and the failure
// logged: a broken template never silences a notification.
func (a *Adapter) Build(ev *event.Event) (notify.Payload, error) {
	if ev == nil {
		return notify.Payload{}, errors.New("teams: no event")
	}
	body, err := templates.WithFallback(a.set,
		func(s *templates.Set) ([]byte, error) { return a.build(s, ev) },
		func(err error) {
			a.log.Warn().Err(err).Str("event", ev.Name()).Str("format", a.cfg.Format).
				Msg("user template failed, using the default")
		})
	if err != nil {
		return notify.Payload{}, err
	}
	return notify.Payload{Body: body, ContentType: "application/json"}, nil
}

func (a *Adapter) build(s *templates.Set, ev *event.Event) ([]byte, error) {
	prefix := prefixAdaptive
	if a.cfg.Format == config.FormatMessageCard {
		prefix = prefixMessageCard
	}
	name := templates.Name(prefix, ev, "card")
	if !s.Has(name) {
		name = prefix + "." + fallbackKind + ".card"
	}
	out, err := s.RenderEvent(name, ev, a.cfg.Name)
	if err != nil {
		return nil, err
	}
	card, err := parse(out)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	sanitize(card)

	if a.cfg.Format == config.FormatMessageCard {
		if err := checkMessageCard(card); err != nil {
			return nil, fmt.Errorf("template %s: %w", name, err)
		}
		return fitted(name, card, budget)
	}
	if err := checkAdaptiveCard(card); err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	// The bare card must fit too with the envelope around it: a custom
	// flow most likely posts it in the same one.
	env := envelope(card)
	b, err := fitted(name, env, budget)
	if err != nil {
		return nil, err
	}
	if keepMentions(card) {
		b = env.encode() // smaller than what fitted
	}
	if a.cfg.Format == config.FormatAdaptiveCard {
		return card.encode(), nil
	}
	return b, nil
}

func fitted(name string, n *node, limit int) ([]byte, error) {
	b, err := fit(n, limit)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	return b, nil
}

// envelope wraps an Adaptive Card the way a Teams webhook takes it.
func envelope(card *node) *node {
	return obj(
		"type", str("message"),
		"attachments", arr(obj(
			"contentType", str(adaptiveContentType),
			"contentUrl", lit("null"),
			"content", card,
		)),
	)
}

// Send posts p once. Errors never hold the URL.
func (a *Adapter) Send(ctx context.Context, p notify.Payload) (retry bool, err error) {
	if a.cfg.URL == "" {
		return false, &notify.Error{Reason: "no url configured"}
	}
	accept := acceptWorkflows
	if a.cfg.Format == config.FormatMessageCard {
		accept = acceptConnector
	}
	retry, err = notify.Post(ctx, a.client, a.cfg.URL.Value(), p, accept)
	return retry, err
}

// acceptWorkflows takes a Workflows trigger's answer: 202 (accepted, the
// flow posts later) or 200 from a flow that answers itself.
func acceptWorkflows(status int, h http.Header, body []byte) error {
	if status == http.StatusOK || status == http.StatusAccepted {
		return nil
	}
	return notify.Classify(status, h, body)
}

var (
	// The connector relays Teams' own failure inside a 200, e.g.
	// "Webhook message delivery failed with error: Microsoft Teams
	// endpoint returned HTTP error 429 with ContextId ...".
	throttledRE = regexp.MustCompile(`(?i)HTTP error 429\b`)
	tooLargeRE  = regexp.MustCompile(`(?i)\b413\b|too large`)
)

// throttleWait is asked for when the connector says it throttled us but
// gives no Retry-After: it allows 4 requests a second and 60 in 30 s, so a
// short pause is the least that can help; the delivery layer's backoff
// grows from there.
const throttleWait = 5 * time.Second

// acceptConnector takes a legacy connector's answer: delivered only on 200
// with the body "1".
func acceptConnector(status int, h http.Header, body []byte) error {
	if status != http.StatusOK {
		return notify.Classify(status, h, body)
	}
	b := strings.TrimSpace(string(body))
	switch {
	case b == "1":
		return nil
	case b == "":
		return &notify.Error{Status: status, Reason: "http 200 empty body"}
	case throttledRE.MatchString(b):
		wait := notify.RetryAfter(h, time.Now())
		if wait == 0 {
			wait = throttleWait
		}
		return &notify.Error{Status: status, Reason: "throttled", Retry: true, RetryAfter: wait}
	case tooLargeRE.MatchString(b):
		// Final: resending the same bytes cannot succeed. The delivery
		// worker tries once more with Shrink's smaller card.
		return &notify.Error{Status: status, Reason: "too large", TooLarge: true}
	}
	// Any other text is the connector's error message ("Summary or Text
	// is required."); Classify gives "http 200 <first line>", final.
	return notify.Classify(status, h, body)
}

// Shrink returns p re-rendered smaller, for a platform that refused it as
// too large: it aims at half the size, cutting texts visibly (never below
// 80 characters) and dropping the tails of long lists, as Build does for the
// 28 KB limit. It fails when p cannot be made smaller at all.
func (a *Adapter) Shrink(p notify.Payload) (notify.Payload, error) {
	root, err := parse(p.Body)
	if err != nil {
		return notify.Payload{}, fmt.Errorf("teams: shrink: %w", err)
	}
	b, err := fit(root, len(p.Body)/2)
	if err != nil {
		b = root.encode() // not half, but as small as fit could make it
	}
	if len(b) >= len(p.Body) {
		return notify.Payload{}, errors.New("teams: shrink: the payload cannot be made smaller")
	}
	return notify.Payload{Body: b, ContentType: p.ContentType}, nil
}
