package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters"
	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/sources"
)

const sendTestUsage = `Usage:
  herald send-test [--config FILE] --destination NAME [--source teamcity|appcenter|generic --event EVENT.json]

Renders a clearly marked test message (or the given event) for one
destination with its own templates and sends it once through its real
adapter and HTTP client, then prints the platform's answer. Nothing is
queued or retried. Exit 0 when the platform accepted the message.
`

func cmdSendTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("send-test", stderr)
	fs.Usage = func() { fmt.Fprint(stderr, sendTestUsage) }
	configPath := fs.String("config", "", "config file (default: built-in, see README)")
	dest := fs.String("destination", "", "destination name from the config")
	source := fs.String("source", "", "the event's source, with --event")
	eventFile := fs.String("event", "", "send this event (as the source posts it) instead of a test message")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dest == "" || fs.NArg() != 0 {
		return usagef("send-test: give --destination NAME (and no other argument)")
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	ev := event.TestMessage(*dest, time.Now())
	if *eventFile != "" {
		dec, ok := sources.Lookup(*source)
		if !ok {
			return usagef("send-test: --source %q is not one of %v", *source, sources.Names())
		}
		body, err := readInput(*eventFile)
		if err != nil {
			return usagef("send-test: %v", err)
		}
		if ev, err = dec.Decode(body); err != nil {
			return usagef("send-test: %s: %v", *eventFile, err)
		}
	}
	var found bool
	for _, d := range cfg.Destinations {
		found = found || d.Name == *dest
	}
	if !found {
		return usagef("send-test: no destination %q in the config", *dest)
	}
	log := zerolog.New(stderr).With().Timestamp().Logger()
	set, err := adapters.NewSet(cfg, notify.NewClient(cfg.LongestTimeout(), cfg.Egress.Policy()), log)
	if err != nil {
		return err
	}
	a, _ := set.Get(*dest)
	p, err := a.Build(ev)
	if err != nil {
		return fmt.Errorf("send-test: render for %s: %w", *dest, err)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.LongestTimeout())
	defer cancel()
	start := time.Now()
	retry, err := a.Send(ctx, p)
	took := time.Since(start).Round(time.Millisecond)
	if err != nil {
		var ne *notify.Error
		if errors.As(err, &ne) && ne.RetryAfter > 0 {
			return fmt.Errorf("%s: %w (throttled: retry after %s)", *dest, err, ne.RetryAfter)
		}
		if retry {
			return fmt.Errorf("%s: %w (temporary: the queue would retry it)", *dest, err)
		}
		return fmt.Errorf("%s: %w (final: the queue would not retry it)", *dest, err)
	}
	fmt.Fprintf(stdout, "%s: %s sent and accepted in %s (%d bytes)\n", *dest, ev.Name(), took, len(p.Body))
	return nil
}
