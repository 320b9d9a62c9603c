// Package slack delivers events to Slack incoming webhooks as Block Kit
// messages.
//
// Build renders the template slack.<kind>.message (slack.event.message for a
// kind without one), parses the result with slack-go's block types (a
// template that yields invalid JSON or an unknown block type falls back to
// the embedded default), fits it to Block Kit's limits by truncating
// visibly and removes control characters, and writes it again with the
// same types, so the body is deterministic and always within what Slack
// accepts. Send makes
// one POST: success is 200 with body "ok"; everything else is classified by
// internal/notify (429 waits for Retry-After, 5xx retries, 400 invalid_blocks,
// 403, 404 and 410 are final).
//
// The package must not retry, sleep or queue, and must never put the webhook
// URL into an error or a log line.
package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	slackapi "github.com/slack-go/slack"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/templates"
)

// fallbackKind names the message of a kind without one of its own:
// slack.event.message.
const fallbackKind = "event"

// Adapter builds and sends Slack messages for one destination.
type Adapter struct {
	cfg    Config
	set    *templates.Set
	client *http.Client
	log    zerolog.Logger

	// OnFallback, when set, is called each time a user template failed
	// and the embedded default was used instead (for a metric). It is
	// called in addition to a warning in the log. Set it before use.
	OnFallback func(template string, err error)
}

// New builds the adapter for destination d. set holds the destination's
// templates (defaults when nil), client is the shared HTTP client built by
// notify.NewClient (one with the default egress rules is made when nil), log
// is scoped to d.
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
	// Every request is held to the slack host allowlist as well.
	if client, err = notify.ForType(client, config.TypeSlack); err != nil {
		return nil, fmt.Errorf("slack: %w", err)
	}
	return &Adapter{cfg: cfg, set: set, client: client, log: log}, nil
}

// Build renders ev into the exact incoming-webhook body Send posts. It does
// no I/O; the same event always gives the same bytes.
func (a *Adapter) Build(ev *event.Event) (notify.Payload, error) {
	if ev == nil {
		return notify.Payload{}, errors.New("slack: nil event")
	}
	name := templates.Name("slack", ev, "message")
	body, err := templates.WithFallback(a.set, func(s *templates.Set) ([]byte, error) {
		n := name
		if !s.Has(n) {
			n = "slack." + fallbackKind + ".message"
		}
		return build(s, n, ev, a.cfg.Name)
	}, func(err error) {
		a.log.Warn().Err(err).Str("template", name).Msg("template failed, using the default")
		if a.OnFallback != nil {
			a.OnFallback(name, err)
		}
	})
	if err != nil {
		return notify.Payload{}, err
	}
	return notify.Payload{Body: body, ContentType: "application/json"}, nil
}

// build renders one template set's message and turns it into the body.
func build(s *templates.Set, name string, ev *event.Event, destination string) ([]byte, error) {
	out, err := s.RenderEvent(name, ev, destination)
	if err != nil {
		return nil, fmt.Errorf("slack: render %s: %w", name, err)
	}
	m, err := parse(out)
	if err != nil {
		return nil, fmt.Errorf("slack: template %s: %w", name, err)
	}
	// fit uses the fallback only when the template's text is empty once
	// cleaned (fitMrkdwn's result is then empty too, or ends in "…"), so
	// it is built only then: it is several allocations per message.
	var fallback string
	if strings.TrimSpace(templates.Clean(m.Text)) == "" {
		fallback = fallbackText(ev)
	}
	fit(m, fallback)
	return marshal(m)
}

// Send posts p to the webhook once. retry says whether a failure is worth
// another attempt; the error never contains the URL.
func (a *Adapter) Send(ctx context.Context, p notify.Payload) (bool, error) {
	return notify.Post(ctx, a.client, a.cfg.URL, p, accept)
}

// accept is Slack's rule for an incoming webhook: delivered means 200 with
// the body "ok". Anything else, a 200 with another body included, is
// classified by notify.Classify, which puts Slack's error code (the body,
// e.g. invalid_blocks or no_text) in the reason.
func accept(status int, header http.Header, body []byte) error {
	if status == http.StatusOK && strings.TrimSpace(string(body)) == "ok" {
		return nil
	}
	return notify.Classify(status, header, body)
}

// message is the incoming-webhook body. slack-go's WebhookMessage always
// writes replace_original and delete_original, which belong to response
// URLs and which Slack's own webhook types reject, so the body is written
// through this narrower struct; text objects, blocks and attachments are
// slack-go's types.
type message struct {
	Text        string           `json:"text"`
	Username    string           `json:"username,omitempty"`
	IconEmoji   string           `json:"icon_emoji,omitempty"`
	IconURL     string           `json:"icon_url,omitempty"`
	Channel     string           `json:"channel,omitempty"`
	Blocks      *slackapi.Blocks `json:"blocks,omitempty"`
	Attachments []attachment     `json:"attachments,omitempty"`
	UnfurlLinks *bool            `json:"unfurl_links,omitempty"`
	UnfurlMedia *bool            `json:"unfurl_media,omitempty"`
}

// attachment is slack-go's Attachment with its blocks left out when there
// are none (the embedded field would write "blocks": null).
type attachment struct {
	slackapi.Attachment
	Blocks *slackapi.Blocks `json:"blocks,omitempty"`
}

// parse reads a template's output as an incoming-webhook message. Unknown
// top-level or attachment keys, trailing data, block types Slack does not
// accept in messages and an empty message are errors, so that the caller
// falls back to the default template rather than post something Slack
// would reject.
func parse(b []byte) (*message, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var w slackapi.WebhookMessage
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("output is not a Slack message: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("output has data after the message")
	}
	m := &message{
		Text:        w.Text,
		Username:    w.Username,
		IconEmoji:   w.IconEmoji,
		IconURL:     w.IconURL,
		Channel:     w.Channel,
		UnfurlLinks: w.UnfurlLinks,
		UnfurlMedia: w.UnfurlMedia,
	}
	if w.Blocks != nil && len(w.Blocks.BlockSet) > 0 {
		if err := checkBlocks("blocks", w.Blocks.BlockSet); err != nil {
			return nil, err
		}
		m.Blocks = &slackapi.Blocks{BlockSet: w.Blocks.BlockSet}
	}
	for i, at := range w.Attachments {
		a := attachment{Attachment: at}
		a.Attachment.Blocks = slackapi.Blocks{}
		if len(at.Blocks.BlockSet) > 0 {
			if err := checkBlocks(fmt.Sprintf("attachments[%d].blocks", i), at.Blocks.BlockSet); err != nil {
				return nil, err
			}
			a.Blocks = &slackapi.Blocks{BlockSet: at.Blocks.BlockSet}
		}
		m.Attachments = append(m.Attachments, a)
	}
	if strings.TrimSpace(m.Text) == "" && m.Blocks == nil && len(m.Attachments) == 0 {
		return nil, errors.New("output is an empty message")
	}
	return m, nil
}

// checkBlocks accepts the block types a message may carry; slack-go parses
// other types (and types it does not know) too, but Slack rejects them in
// an incoming-webhook message.
func checkBlocks(where string, blocks []slackapi.Block) error {
	for i, b := range blocks {
		switch b.(type) {
		case *slackapi.HeaderBlock, *slackapi.SectionBlock, *slackapi.ContextBlock,
			*slackapi.ActionBlock, *slackapi.DividerBlock, *slackapi.ImageBlock,
			*slackapi.MarkdownBlock, *slackapi.RichTextBlock:
		case nil:
			return fmt.Errorf("%s[%d] is null", where, i)
		default:
			return fmt.Errorf("%s[%d]: block type %q is not allowed in a message", where, i, b.BlockType())
		}
	}
	return nil
}

// marshal writes the message with slack-go's types: deterministic, and
// without HTML escaping so that golden files stay readable (the body is
// never embedded in HTML).
func marshal(m *message) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("slack: encode message: %w", err)
	}
	return unescapeHTML(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil
}

// unescapeHTML turns the \u003c, \u003e and \u0026 escapes that slack-go's
// nested json.Marshal calls write back into <, > and &: the same JSON
// string, easier to read in logs, `herald render` and golden files. Only
// real escapes are touched: a backslash pair (\\) is copied as it is.
//
// It works in place, b's bytes being overwritten by the result (never
// longer than what is read): b must be the caller's own.
func unescapeHTML(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\u00`)) {
		return b
	}
	out := b[:0]
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			out = append(out, b[i])
			continue
		}
		if b[i+1] == 'u' && i+6 <= len(b) {
			switch string(b[i+2 : i+6]) {
			case "003c":
				out, i = append(out, '<'), i+5
				continue
			case "003e":
				out, i = append(out, '>'), i+5
				continue
			case "0026":
				out, i = append(out, '&'), i+5
				continue
			}
		}
		out = append(out, b[i], b[i+1])
		i++
	}
	return out
}

// fallbackText is the notification text for a message whose template gave
// none: "<emoji> Build #42 failed — Project".
// Each part is cut first: it is built for every message, and an event's
// fields may be megabytes.
func fallbackText(ev *event.Event) string {
	kind := templates.Truncate(40, string(ev.Kind))
	if kind == "" {
		kind = "event"
	}
	s := templates.StatusEmoji(ev) + " " + strings.ToUpper(kind[:1]) + kind[1:]
	if ev.Number != "" {
		s += " #" + templates.Truncate(40, ev.Number)
	}
	if w := templates.StatusWord(ev); w != "" {
		s += " " + templates.Truncate(40, w)
	}
	if ev.Project != "" {
		s += " — " + templates.Truncate(150, ev.Project)
	}
	return templates.SlackEscape(s)
}
