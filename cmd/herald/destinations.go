package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/herald-ci/herald/internal/server"
)

const destinationsUsage = `Usage:
  herald destinations list    [--server URL] [--token-file F]
  herald destinations test    [--server URL] [--token-file F] NAME
  herald destinations enable  [--server URL] [--token-file F] NAME
  herald destinations disable [--server URL] [--token-file F] NAME

They talk to a running herald's admin API: --server, else $HERALD_SERVER, else ` + defaultServer + `,
with an API token (api.tokens in the server's config) from --token-file, else $HERALD_API_TOKEN:
role reader to list, developer to test, enable and disable. test sends one clearly
marked test message now and exits 0 only if the platform accepted it. A disabled
destination is kept (its queued messages still go out) but gets no new event.
Creating, changing and deleting destinations (role manager) is the API's own:
POST, PATCH and DELETE /v1/destinations (README, "Destinations at run time").
`

func cmdDestinations(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, destinationsUsage)
		return usagef("destinations: give list, test, enable or disable")
	}
	switch args[0] {
	case "list":
		return destinationsList(ctx, args[1:], stdout, stderr)
	case "test":
		return destinationsTest(ctx, args[1:], stdout, stderr)
	case "enable":
		return destinationsEnable(ctx, args[1:], true, stdout, stderr)
	case "disable":
		return destinationsEnable(ctx, args[1:], false, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, destinationsUsage)
		return nil
	default:
		fmt.Fprint(stderr, destinationsUsage)
		return usagef("destinations: unknown command %q", args[0])
	}
}

func destinationsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("destinations list", stderr)
	client := apiFlags(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("destinations list: unexpected argument %q", pos[0])
	}
	c, err := client()
	if err != nil {
		return err
	}
	var l server.DestinationList
	if err := c.do(ctx, http.MethodGet, "/v1/destinations", &l); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tORIGIN\tENABLED\tEVENTS\tURL")
	for _, d := range l.Destinations {
		events := strings.Join(d.Events, ",")
		if events == "" {
			events = "*"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\t%s\n", d.Name, d.Type, d.Origin, d.Enabled, oneLine(events, 60), oneLine(d.URL, 60))
	}
	return tw.Flush()
}

func destinationsTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("destinations test", stderr)
	client := apiFlags(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	name, err := oneName("test", pos)
	if err != nil {
		return err
	}
	c, err := client()
	if err != nil {
		return err
	}
	var r server.TestResult
	if err := c.doJSON(ctx, http.MethodPost, "/v1/destinations/"+url.PathEscape(name)+"/test", nil, &r); err != nil {
		return err
	}
	if r.Result == server.TestAccepted {
		fmt.Fprintf(stdout, "%s: test message accepted in %d ms\n", r.Destination, r.TookMS)
		return nil
	}
	msg := fmt.Sprintf("%s: test message %s", r.Destination, strings.ReplaceAll(r.Result, "_", " "))
	if r.Reason != "" {
		msg += ": " + r.Reason
	}
	if r.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %d s)", r.RetryAfter)
	}
	return fmt.Errorf("%s", msg)
}

func destinationsEnable(ctx context.Context, args []string, enable bool, stdout, stderr io.Writer) error {
	verb := map[bool]string{true: "enable", false: "disable"}[enable]
	fs := newFlags("destinations "+verb, stderr)
	client := apiFlags(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	name, err := oneName(verb, pos)
	if err != nil {
		return err
	}
	c, err := client()
	if err != nil {
		return err
	}
	var ch server.DestinationChange
	if err := c.doJSON(ctx, http.MethodPatch, "/v1/destinations/"+url.PathEscape(name), map[string]bool{"enabled": enable}, &ch); err != nil {
		return err
	}
	for _, w := range ch.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	fmt.Fprintf(stdout, "destination %s %sd\n", name, verb)
	return nil
}

func oneName(cmd string, pos []string) (string, error) {
	if len(pos) != 1 || pos[0] == "" {
		return "", usagef("destinations %s: give exactly one destination NAME", cmd)
	}
	return pos[0], nil
}
