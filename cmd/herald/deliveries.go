package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/herald-ci/herald/internal/server"
)

// defaultServer is where `herald deliveries` finds a running herald unless
// --server or HERALD_SERVER says otherwise.
const defaultServer = "http://127.0.0.1:8080"

// deliveriesTimeout bounds one API call; above the server's own 30 s limit,
// so its answer arrives rather than our timeout.
const deliveriesTimeout = 40 * time.Second

const deliveriesUsage = `Usage:
  herald deliveries list  [--state pending|delivered|failed|dead] [--destination NAME] [--limit N] [--cursor C] [--server URL] [--token-file F]
  herald deliveries show  [--server URL] [--token-file F] ID
  herald deliveries retry [--server URL] [--token-file F] ID
  herald deliveries retry [--server URL] [--token-file F] --destination NAME [--state failed|dead]

They talk to a running herald's HTTP API: --server, else $HERALD_SERVER, else ` + defaultServer + `,
with an API token (api.tokens in the server's config) from --token-file, else $HERALD_API_TOKEN:
role reader to list and show, developer to retry.
`

func cmdDeliveries(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, deliveriesUsage)
		return usagef("deliveries: give list, show or retry")
	}
	switch args[0] {
	case "list":
		return deliveriesList(ctx, args[1:], stdout, stderr)
	case "show":
		return deliveriesShow(ctx, args[1:], stdout, stderr)
	case "retry":
		return deliveriesRetry(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, deliveriesUsage)
		return nil
	default:
		fmt.Fprint(stderr, deliveriesUsage)
		return usagef("deliveries: unknown command %q", args[0])
	}
}

// apiClient calls a herald server's HTTP API with an API token.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

// apiFlags declares --server and --token-file on fs; the returned function,
// called after parsing, builds the client. The token comes from
// --token-file, else $HERALD_API_TOKEN (never from a flag's value, which
// other users can read in the process list).
func apiFlags(fs *flag.FlagSet) func() (*apiClient, error) {
	def := defaultServer
	if v := os.Getenv("HERALD_SERVER"); v != "" {
		def = v
	}
	base := fs.String("server", def, "herald server base URL (env HERALD_SERVER)")
	tokenFile := fs.String("token-file", "", "file holding the API token (default: env HERALD_API_TOKEN)")
	return func() (*apiClient, error) {
		tok := os.Getenv("HERALD_API_TOKEN")
		if *tokenFile != "" {
			b, err := os.ReadFile(*tokenFile)
			if err != nil {
				return nil, usagef("--token-file: %v", err)
			}
			tok = strings.TrimSpace(string(b))
		}
		return newAPIClient(*base, tok)
	}
}

func newAPIClient(base, token string) (*apiClient, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("--server %q is not an http(s) URL", base)
	}
	return &apiClient{base: strings.TrimRight(base, "/"), token: token, http: &http.Client{Timeout: deliveriesTimeout}}, nil
}

// do calls method path and decodes a 2xx JSON answer into out (or copies it
// raw to a *bytes.Buffer). Other answers become the server's one-line error.
func (c *apiClient) do(ctx context.Context, method, path string, out any) error {
	return c.doJSON(ctx, method, path, nil, out)
}

// doJSON is do with in, when not nil, sent as the JSON body.
func (c *apiClient) doJSON(ctx context.Context, method, path string, in, out any) error {
	var reqBody io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		reqBody = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, reqBody)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("herald server at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("herald server at %s: reading the answer: %w", c.base, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			e.Error = strings.ToLower(http.StatusText(resp.StatusCode))
		}
		return fmt.Errorf("%s (http %d)", e.Error, resp.StatusCode)
	}
	if buf, ok := out.(*bytes.Buffer); ok {
		buf.Write(body)
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("herald server at %s: unreadable answer: %w", c.base, err)
	}
	return nil
}

// parseInterleaved parses flags that may come before or after the
// positional arguments (`show 42 --server X`), which flag alone stops at.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parse(fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func deliveriesList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("deliveries list", stderr)
	client := apiFlags(fs)
	state := fs.String("state", "", "pending, delivered, failed or dead (default: all)")
	dest := fs.String("destination", "", "only this destination")
	limit := fs.Int("limit", 0, "at most this many (default: the server's, 50)")
	cursor := fs.String("cursor", "", "the next page, as printed after a full page")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("deliveries list: unexpected argument %q", pos[0])
	}
	c, err := client()
	if err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range map[string]string{"state": *state, "destination": *dest, "cursor": *cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if *limit != 0 {
		q.Set("limit", strconv.Itoa(*limit))
	}
	path := "/v1/deliveries"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var l server.DeliveryList
	if err := c.do(ctx, http.MethodGet, path, &l); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tDESTINATION\tATTEMPTS\tCREATED\tLAST ATTEMPT\tNEXT ATTEMPT\tLAST ERROR")
	for _, d := range l.Deliveries {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\n", d.ID, d.State, d.Destination, d.Attempts, d.MaxAttempts,
			stamp(&d.CreatedAt), stamp(d.LastAttemptAt), stamp(d.NextAttemptAt), oneLine(d.LastError, 80))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if l.NextCursor != "" {
		fmt.Fprintf(stderr, "more: add --cursor %s\n", l.NextCursor)
	}
	return nil
}

func deliveriesShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("deliveries show", stderr)
	client := apiFlags(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	id, err := oneID("show", pos)
	if err != nil {
		return err
	}
	c, err := client()
	if err != nil {
		return err
	}
	var raw bytes.Buffer
	if err := c.do(ctx, http.MethodGet, "/v1/deliveries/"+id, &raw); err != nil {
		return err
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, raw.Bytes(), "", "  "); err != nil {
		return fmt.Errorf("unreadable answer: %w", err)
	}
	pretty.WriteByte('\n')
	_, err = stdout.Write(pretty.Bytes())
	return err
}

func deliveriesRetry(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("deliveries retry", stderr)
	client := apiFlags(fs)
	dest := fs.String("destination", "", "retry every failed and dead delivery to this destination")
	state := fs.String("state", "", "with --destination: only failed or only dead ones")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	c, err := client()
	if err != nil {
		return err
	}
	if *dest == "" {
		if *state != "" {
			return usagef("deliveries retry: --state needs --destination")
		}
		id, err := oneID("retry", pos)
		if err != nil {
			return err
		}
		var d server.DeliveryView
		if err := c.do(ctx, http.MethodPost, "/v1/deliveries/"+id+"/retry", &d); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "delivery %d to %s requeued\n", d.ID, d.Destination)
		return nil
	}
	if len(pos) > 0 {
		return usagef("deliveries retry: give an ID or --destination, not both")
	}
	q := url.Values{"destination": {*dest}}
	if *state != "" {
		q.Set("state", *state)
	}
	var r server.RetryResult
	if err := c.do(ctx, http.MethodPost, "/v1/deliveries/retry?"+q.Encode(), &r); err != nil {
		return err
	}
	ids := make([]string, len(r.IDs))
	for i, id := range r.IDs {
		ids[i] = strconv.FormatInt(id, 10)
	}
	fmt.Fprintf(stdout, "%d deliveries to %s requeued", r.Count, *dest)
	if len(ids) > 0 {
		fmt.Fprintf(stdout, ": %s", strings.Join(ids, " "))
	}
	fmt.Fprintln(stdout)
	return nil
}

func oneID(cmd string, pos []string) (string, error) {
	if len(pos) != 1 {
		return "", usagef("deliveries %s: give exactly one delivery ID", cmd)
	}
	if n, err := strconv.ParseInt(pos[0], 10, 64); err != nil || n < 1 {
		return "", usagef("deliveries %s: %q is not a delivery ID", cmd, pos[0])
	}
	return pos[0], nil
}

func stamp(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// oneLine keeps a table cell on one line and at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	if s == "" {
		return "-"
	}
	return s
}
