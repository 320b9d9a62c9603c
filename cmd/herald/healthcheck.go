package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/herald-ci/herald/internal/config"
)

// healthcheckTimeout bounds the whole check. Docker's HEALTHCHECK defaults to
// a 30 s timeout and Kubernetes' exec probes to 1 s; /readyz itself gives the
// store ReadHeaderTimeout (5 s) to answer, so 3 s is a "store is slow" answer
// the operator can read, not a hang.
const healthcheckTimeout = 3 * time.Second

// healthcheckBodyLimit bounds what is read of /readyz's answer: a few lines
// of JSON naming the problems.
const healthcheckBodyLimit = 4 << 10

// reasonMax bounds the one line of reason (oneLine, in deliveries.go, also
// folds it onto one line): Docker keeps the check's output in its state.
const reasonMax = 300

// cmdHealthcheck asks a running herald whether it is ready: GET /readyz on
// the address serve listens on. It exists for distroless images, which have
// no shell or curl for a Docker HEALTHCHECK or an exec probe. Ready is exit
// 0; anything else is exit 1 (never 2, which Docker reserves) with a
// one-line reason on stderr.
func cmdHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("healthcheck", stderr)
	configPath := fs.String("config", "", "config file serve runs with, for its listen address")
	listen := fs.String("listen", "", "host:port serve listens on, overriding the config's listen")
	rawURL := fs.String("url", "", "URL to check instead (default http://127.0.0.1:PORT/readyz)")
	timeout := fs.Duration("timeout", healthcheckTimeout, "how long to wait for the answer")
	if err := parse(fs, args); err != nil {
		if errors.As(err, new(helpRequest)) {
			return err
		}
		return fmt.Errorf("healthcheck: %v", err) // not a usageError: exit 1, never 2
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("healthcheck: unexpected argument %q", fs.Arg(0))
	}
	target := *rawURL
	if target == "" {
		addr := *listen
		if addr == "" {
			addr = config.DefaultListen
			if *configPath != "" {
				cfg, err := config.Load(*configPath)
				if err != nil {
					return fmt.Errorf("healthcheck: %v", oneLine(err.Error(), reasonMax))
				}
				addr = cfg.Listen
			}
		}
		u, err := readyzURL(addr)
		if err != nil {
			return fmt.Errorf("healthcheck: %v", err)
		}
		target = u
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// Not echoed: a URL may carry credentials.
		return errors.New("healthcheck: --url is not an http(s) URL")
	}
	if *timeout <= 0 {
		return fmt.Errorf("healthcheck: --timeout must be positive")
	}
	msg, err := checkReady(ctx, u, *timeout)
	if err != nil {
		return fmt.Errorf("healthcheck: %v", err)
	}
	fmt.Fprintln(stdout, msg)
	return nil
}

// readyzURL turns serve's listen address into the URL to check: an
// unspecified host (0.0.0.0, ::, empty) is reached on loopback, since the
// check runs in the same network namespace as serve.
func readyzURL(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("listen: %q is not host:port", listen)
	}
	if host == "" {
		host = "127.0.0.1"
	} else if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}

// checkReady makes one GET and says why the answer is not "ready".
func checkReady(ctx context.Context, u *url.URL, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	shown := u.Redacted()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	client := &http.Client{
		// Its own transport: no proxy from the environment (the check is
		// local), no connection kept after the one request.
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
		// A redirect from /readyz is not a readiness answer.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return "", fmt.Errorf("%s: no answer within %s", shown, timeout)
		}
		return "", fmt.Errorf("%s: %s", shown, oneLine(err.Error(), reasonMax))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, healthcheckBodyLimit))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return "ready: " + shown, nil
	}
	reason := fmt.Sprintf("%s: not ready (%d)", shown, resp.StatusCode)
	if p := problems(body); p != "" {
		reason += ": " + p
	}
	return "", errors.New(reason)
}

// problems reads /readyz's {"status": "not ready", "problems": {"store":
// "not reachable"}} into "store not reachable; ...". Anything else gives "".
func problems(body []byte) string {
	var r struct {
		Problems map[string]string `json:"problems"`
	}
	if json.Unmarshal(body, &r) != nil || len(r.Problems) == 0 {
		return ""
	}
	keys := make([]string, 0, len(r.Problems))
	for k := range r.Problems {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = oneLine(k+" "+r.Problems[k], reasonMax)
	}
	return strings.Join(parts, "; ")
}
