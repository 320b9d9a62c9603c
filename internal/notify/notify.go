// Package notify holds what every destination adapter shares: the payload
// handed from Build to Send, the HTTP client with its egress guard (where
// herald may send, egress.go), the single-attempt HTTP post, and the one
// place that classifies an HTTP answer as delivered, worth a retry, or final.
//
// It must not retry, sleep or log: the delivery layer owns retries, backoff,
// Retry-After and rate limits, once for every adapter.
package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Payload is the exact request body an adapter built for one destination.
type Payload struct {
	Body        []byte `json:"body"`
	ContentType string `json:"content_type"`
}

// MaxResponseBody bounds how much of a platform's answer is read.
const MaxResponseBody = 64 << 10

// Error is a failed attempt, with what the delivery layer needs to decide
// what to do next. Its message never contains the destination URL.
type Error struct {
	Status     int           // HTTP status, 0 for a network error
	Reason     string        // short, for logs and metrics: "http 400 invalid_blocks", "timeout"
	Retry      bool          // worth another attempt
	RetryAfter time.Duration // the platform asked to wait this long (429, throttling); 0 if not
	// TooLarge: the platform refused the payload's size. Resending the same
	// bytes cannot succeed; a smaller rendering may (see delivery's Shrinker).
	TooLarge bool
}

func (e *Error) Error() string { return e.Reason }

// Accept decides whether an answer means delivered. It returns nil for
// success and an *Error otherwise. Platforms that report failures inside a
// 200 (the Teams connector's body "1") supply their own.
type Accept func(status int, header http.Header, body []byte) error

// Post makes one POST of p to rawURL and classifies the answer with accept.
// Redirects are never followed and the egress rules are enforced (the
// client must be built by NewClient, and bound to the destination's type
// by ForType). Network errors are retryable, egress refusals final; errors
// never contain the URL.
func Post(ctx context.Context, client *http.Client, rawURL string, p Payload, accept Accept) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(p.Body))
	if err != nil {
		return false, &Error{Reason: "invalid destination url"}
	}
	ct := p.ContentType
	if ct == "" {
		ct = "application/json"
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("User-Agent", "herald")
	resp, err := client.Do(req)
	if err != nil {
		// The client's egress guard refuses with a final *Error (before
		// the request, or at dial time); anything else is the network's.
		var refused *Error
		if errors.As(err, &refused) {
			return false, refused
		}
		return true, &Error{Reason: networkReason(ctx, err), Retry: true}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody))
	if accept == nil {
		accept = Accept2xx
	}
	if err := accept(resp.StatusCode, resp.Header, body); err != nil {
		var e *Error
		if errors.As(err, &e) {
			// The answer may quote the request: never its credentials (redact.go).
			e.Reason = redact(e.Reason, urlSecrets(rawURL))
			return e.Retry, e
		}
		return false, err
	}
	return false, nil
}

// Accept2xx treats any 2xx as delivered and classifies the rest with Classify.
func Accept2xx(status int, header http.Header, body []byte) error {
	if status >= 200 && status < 300 {
		return nil
	}
	return Classify(status, header, body)
}

// Classify turns a non-success answer into an *Error: 429 waits for
// Retry-After; 408, 425, 5xx retry; every other status is final (Slack's 400
// invalid_blocks, 403, 404 and 410 must never be resent).
func Classify(status int, header http.Header, body []byte) *Error {
	e := &Error{Status: status, Reason: reason(status, body)}
	switch {
	case status == http.StatusTooManyRequests:
		e.Retry = true
		e.RetryAfter = RetryAfter(header, time.Now())
	case status == http.StatusRequestTimeout, status == http.StatusTooEarly, status >= 500:
		e.Retry = true
		if status == http.StatusServiceUnavailable {
			e.RetryAfter = RetryAfter(header, time.Now())
		}
	case status >= 300 && status < 400:
		e.Reason = fmt.Sprintf("http %d redirect not followed", status)
	case status == http.StatusRequestEntityTooLarge:
		e.TooLarge = true
	}
	return e
}

// RetryAfter reads a Retry-After header in seconds or as an HTTP date.
// It returns 0 when absent or unreadable.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// reason is "http <status>" plus the first line of a short, printable body
// (Slack's error codes such as invalid_blocks live there).
func reason(status int, body []byte) string {
	r := "http " + strconv.Itoa(status)
	b := strings.TrimSpace(string(body))
	if i := strings.IndexAny(b, "\r\n"); i >= 0 {
		b = b[:i]
	}
	if len(b) > 120 {
		b = b[:120] + "…"
	}
	if b != "" && isPrintable(b) {
		r += " " + b
	}
	return r
}

func isPrintable(s string) bool {
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// networkReason names a transport failure without the URL that
// *url.Error would print.
func networkReason(ctx context.Context, err error) string {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return "timeout"
		}
		err = ue.Err
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "connection refused"):
		return "connection refused"
	case strings.Contains(msg, "connection reset"):
		return "connection reset"
	case strings.Contains(msg, "no such host"):
		return "no such host"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	}
	return "network error"
}

// RedactURL keeps scheme and host and hides the path and query, where
// webhook URLs carry their credentials: https://hooks.slack.com/***.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<redacted>"
	}
	return u.Scheme + "://" + u.Host + "/***"
}

// HTTPURL parses raw as an absolute http or https URL with a host: what a
// destination or a link may be. ok is false for anything else.
func HTTPURL(raw string) (u *url.URL, ok bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, false
	}
	return u, true
}
