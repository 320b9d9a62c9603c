package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters"
	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/internal/store"
	"github.com/herald-ci/herald/internal/store/storetest"
)

// reply is one scripted answer of a fake platform.
type reply struct {
	status int
	body   string
	header http.Header
}

// fakePlatform is a webhook endpoint on loopback. Request i gets script[i];
// every later request gets then (the platform's success answer), so a
// failure that is wrongly retried ends up delivered, and fails its case at
// once instead of hanging until a deadline. It records when each request
// arrived, on its own clock.
type fakePlatform struct {
	t      *testing.T
	script []reply
	then   reply
	want   notify.Payload // the request every attempt must carry
	// resized: requests after the first carry a smaller re-rendering of
	// want (the answer to "too large"), not want itself.
	resized bool

	mu sync.Mutex
	at []time.Time
}

func (f *fakePlatform) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	body, err := io.ReadAll(r.Body)
	f.mu.Lock()
	f.at = append(f.at, now)
	n := len(f.at)
	f.mu.Unlock()
	if err != nil {
		f.t.Errorf("request %d: reading the body: %v", n, err)
	}
	if f.resized && n > 1 {
		if r.Method != http.MethodPost || !json.Valid(body) || len(body) >= len(f.want.Body) {
			f.t.Errorf("request %d: %d bytes, want a valid JSON payload smaller than the refused %d bytes", n, len(body), len(f.want.Body))
		}
	} else if r.Method != http.MethodPost || r.Header.Get("Content-Type") != f.want.ContentType || !bytes.Equal(body, f.want.Body) {
		f.t.Errorf("request %d: %s %s, Content-Type %q, %d bytes; want POST of the stored payload (%q, %d bytes)",
			n, r.Method, r.URL.Path, r.Header.Get("Content-Type"), len(body), f.want.ContentType, len(f.want.Body))
	}
	a := f.then
	if n <= len(f.script) {
		a = f.script[n-1]
	}
	for k, v := range a.header {
		w.Header()[k] = v
	}
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

func (f *fakePlatform) requests() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.at)
}

// hitCounter counts requests: the target of a redirect that must never be
// followed.
type hitCounter struct {
	mu sync.Mutex
	n  int
}

func (c *hitCounter) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	_, _ = io.WriteString(w, "ok")
}

func (c *hitCounter) hits() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// firstAttemptHook wraps a real adapter and runs hook once, right after the
// first Send returned and before the worker sees its result, so a test can
// change the world between attempt 1 and attempt 2 without racing the
// retry. It records that first result. It changes nothing about the
// attempt itself: the adapter, its HTTP client and its classification are
// the real ones.
type firstAttemptHook struct {
	Sender
	hook func()

	mu        sync.Mutex
	done      bool
	firstErr  error
	firstRetr bool
}

func (s *firstAttemptHook) Send(ctx context.Context, p notify.Payload) (bool, error) {
	retry, err := s.Sender.Send(ctx, p)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.done {
		s.done, s.firstErr, s.firstRetr = true, err, retry
		s.hook()
	}
	return retry, err
}

func (s *firstAttemptHook) first() (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.firstRetr, s.firstErr
}

// platformEvent is the event every case delivers; its payload is built by
// the destination's real adapter.
var platformEvent = &event.Event{
	Source: "teamcity", Type: "BUILD_FINISHED", Kind: event.KindBuild, Status: event.StatusFailed,
	Project: "Sample Web", BuildConfig: "Client", BuildID: "1042", Number: "118", Branch: "main",
	URL: "https://ci.example.com/build/1042",
}

// bigEvent has texts long enough that its card can be re-rendered at half
// its size, for the "too large" cases.
var bigEvent = func() *event.Event {
	ev := *platformEvent
	ev.StatusText = strings.Repeat("Tests failed: integration suite timed out waiting for the database. ", 60)
	ev.Commit = event.Commit{SHA: "d1a9f4773431d60bb53d9a9c5476c6813c266775", Author: "jdoe",
		Message: strings.Repeat("Refactor the checkout flow and its tests. ", 40)}
	return &ev
}()

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// TestPlatformAnswers is the delivery issue's table of platform answers,
// end to end: each case posts through the real adapter (adapters.New, the
// production HTTP client from notify.Client) to a fake platform on
// loopback, worked by the real Worker over a real store, and checks what
// the store recorded (final state, attempts, snoozes, reason) and what the
// platform saw (how many requests, and when).
func TestPlatformAnswers(t *testing.T) {
	t.Parallel()
	const (
		teamsThrottled = "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with ContextId tracingid=0a1b2c3d,correlationId=4e5f,activityId=6a7b."
		teamsTooLarge  = "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 413 with ContextId tracingid=0a1b2c3d,correlationId=4e5f,activityId=6a7b."
		teamsOther     = "Summary or Text is required."
	)
	slackOK := reply{status: 200, body: "ok"}
	connectorOK := reply{status: 200, body: "1"}
	workflowsOK := reply{status: 202}
	slackDest := config.Destination{Type: config.TypeSlack}
	connectorDest := config.Destination{Type: config.TypeTeams, Format: config.FormatMessageCard}
	workflowsDest := config.Destination{Type: config.TypeTeams, Format: config.FormatWorkflows}

	cases := []struct {
		name   string
		dest   config.Destination // URL filled in by the test
		script []reply
		then   reply // every later answer: the platform's success
		// closedFirst: the first attempt goes to a closed port; the fake
		// starts listening on it right after that attempt.
		closedFirst bool
		redirect    bool // script[0] is a 302 to another server
		resized     bool // a "too large" answer: the next request is smaller

		wantState    string
		wantAttempt  int
		wantSnoozes  int
		wantRequests int           // seen by the fake platform
		wantReason   string        // the recorded error, exactly ("": none)
		minGap       time.Duration // between request 1 and 2, on the fake's clock
	}{
		// Slack incoming webhooks.
		{name: "slack 200 ok", dest: slackDest, then: slackOK,
			wantState: "completed", wantAttempt: 1, wantRequests: 1},
		{name: "slack 400 invalid_blocks", dest: slackDest, script: []reply{{400, "invalid_blocks", nil}}, then: slackOK,
			wantState: "cancelled", wantAttempt: 1, wantRequests: 1, wantReason: "http 400 invalid_blocks"},
		{name: "slack 400 no_text", dest: slackDest, script: []reply{{400, "no_text", nil}}, then: slackOK,
			wantState: "cancelled", wantAttempt: 1, wantRequests: 1, wantReason: "http 400 no_text"},
		{name: "slack 403 invalid_token", dest: slackDest, script: []reply{{403, "invalid_token", nil}}, then: slackOK,
			wantState: "cancelled", wantAttempt: 1, wantRequests: 1, wantReason: "http 403 invalid_token"},
		{name: "slack 404 channel_not_found", dest: slackDest, script: []reply{{404, "channel_not_found", nil}}, then: slackOK,
			wantState: "cancelled", wantAttempt: 1, wantRequests: 1, wantReason: "http 404 channel_not_found"},
		{name: "slack 410 channel_is_archived", dest: slackDest, script: []reply{{410, "channel_is_archived", nil}}, then: slackOK,
			wantState: "cancelled", wantAttempt: 1, wantRequests: 1, wantReason: "http 410 channel_is_archived"},
		// Delivered means 200 with the body "ok", not any 2xx.
		{name: "slack 200 other body", dest: slackDest, script: []reply{{200, "no_service", nil}}, then: slackOK,
			wantState: "cancelled", wantAttempt: 1, wantRequests: 1, wantReason: "http 200 no_service"},
		{name: "slack 500 then ok", dest: slackDest, script: []reply{{500, "internal_error", nil}}, then: slackOK,
			wantState: "completed", wantAttempt: 2, wantRequests: 2, wantReason: "http 500 internal_error"},
		{name: "slack 429 retry-after 2 then ok", dest: slackDest,
			script: []reply{{429, "rate_limited", hdr("Retry-After", "2")}}, then: slackOK,
			wantState: "completed", wantAttempt: 1, wantSnoozes: 1, wantRequests: 2, minGap: 2 * time.Second},
		{name: "slack closed port then ok", dest: slackDest, closedFirst: true, then: slackOK,
			wantState: "completed", wantAttempt: 2, wantRequests: 1, wantReason: "connection refused"},
		{name: "slack 302 not followed", dest: slackDest, redirect: true, then: slackOK,
			wantState: "cancelled", wantAttempt: 1, wantRequests: 1, wantReason: "http 302 redirect not followed"},

		// Teams legacy Office 365 connector (MessageCard).
		{name: "connector 200 1", dest: connectorDest, then: connectorOK,
			wantState: "completed", wantAttempt: 1, wantRequests: 1},
		// No Retry-After in the answer: the adapter's own wait (5 s).
		{name: "connector 200 throttled then 1", dest: connectorDest, script: []reply{{200, teamsThrottled, nil}}, then: connectorOK,
			wantState: "completed", wantAttempt: 1, wantSnoozes: 1, wantRequests: 2, minGap: 5 * time.Second},
		{name: "connector 200 too large, smaller card accepted", dest: connectorDest, script: []reply{{200, teamsTooLarge, nil}}, then: connectorOK,
			resized: true, wantState: "completed", wantAttempt: 1, wantRequests: 2},
		{name: "connector 200 too large twice", dest: connectorDest, script: []reply{{200, teamsTooLarge, nil}, {200, teamsTooLarge, nil}}, then: connectorOK,
			resized: true, wantState: "cancelled", wantAttempt: 1, wantRequests: 2, wantReason: "too large"},
		{name: "connector 200 other body", dest: connectorDest, script: []reply{{200, teamsOther, nil}}, then: connectorOK,
			wantState: "cancelled", wantAttempt: 1, wantRequests: 1, wantReason: "http 200 " + teamsOther},

		// Teams Workflows (Power Automate) trigger.
		{name: "workflows 202", dest: workflowsDest, then: workflowsOK,
			wantState: "completed", wantAttempt: 1, wantRequests: 1},
		{name: "workflows 200", dest: workflowsDest, then: reply{status: 200},
			wantState: "completed", wantAttempt: 1, wantRequests: 1},
		{name: "workflows 302 not followed", dest: workflowsDest, redirect: true, then: workflowsOK,
			wantState: "cancelled", wantAttempt: 1, wantRequests: 1, wantReason: "http 302 redirect not followed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, func(t *testing.T, d storetest.Driver) {
				start := time.Now()
				fake := &fakePlatform{t: t, script: tc.script, then: tc.then, resized: tc.resized}
				target := &hitCounter{}
				if tc.redirect {
					ts := httptest.NewServer(target)
					t.Cleanup(ts.Close)
					fake.script = []reply{{status: http.StatusFound, header: hdr("Location", ts.URL+"/elsewhere")}}
				}

				// The platform's address: a port nobody listens on yet, or
				// a running fake.
				var addr string
				var reopen func()
				if tc.closedFirst {
					ln, err := net.Listen("tcp", "127.0.0.1:0")
					if err != nil {
						t.Fatal(err)
					}
					addr = ln.Addr().String()
					ln.Close()
					reopen = func() {
						ln, err := net.Listen("tcp", addr)
						if err != nil {
							t.Errorf("listening again on %s: %v", addr, err)
							return
						}
						srv := httptest.NewUnstartedServer(fake)
						srv.Listener.Close()
						srv.Listener = ln
						srv.Start()
						t.Cleanup(srv.Close)
					}
				} else {
					srv := httptest.NewServer(fake)
					t.Cleanup(srv.Close)
					addr = srv.Listener.Addr().String()
				}

				dest := tc.dest
				dest.Name = "platform"
				dest.URL = config.SecretURL("http://" + addr + "/webhook/T0/B0/secret")
				a, err := adapters.New(dest, adapters.Deps{Client: notify.NewClient(5*time.Second, notify.Egress{AllowPrivate: true}), Logger: zerolog.Nop()})
				if err != nil {
					t.Fatalf("adapters.New with a loopback URL: %v", err)
				}
				ev := platformEvent
				if tc.resized {
					ev = bigEvent
				}
				p, err := a.Build(ev)
				if err != nil {
					t.Fatal(err)
				}
				fake.want = p
				var sender Sender = a
				var hooked *firstAttemptHook
				if tc.closedFirst {
					hooked = &firstAttemptHook{Sender: a, hook: reopen}
					sender = hooked
				}

				h := newHarness(t, d, map[string]Sender{"platform": sender}, Config{BackoffBase: 50 * time.Millisecond}, store.Config{})
				acc, err := h.store.Accept(t.Context(),
					store.EventRecord{Source: "teamcity", Type: "BUILD_FINISHED", Kind: "build", Status: "failed"},
					[]store.Delivery{{Destination: "platform", Payload: p}})
				if err != nil {
					t.Fatal(err)
				}
				st := h.final(t, acc.EventID)
				took := time.Since(start)

				if st.State != tc.wantState || st.Attempt != tc.wantAttempt || st.Snoozes != tc.wantSnoozes {
					t.Errorf("%s after attempt %d with %d snoozes, want %s after %d with %d (%+v)",
						st.State, st.Attempt, st.Snoozes, tc.wantState, tc.wantAttempt, tc.wantSnoozes, st)
				}
				// River records a cancel as "JobCancelError: <the adapter's reason>".
				if got := strings.TrimPrefix(st.LastError, "JobCancelError: "); got != tc.wantReason {
					t.Errorf("recorded reason %q, want %q", st.LastError, tc.wantReason)
				}
				at := fake.requests()
				if len(at) != tc.wantRequests {
					t.Errorf("the platform got %d requests, want %d", len(at), tc.wantRequests)
				}
				var gap time.Duration
				if len(at) >= 2 {
					gap = at[1].Sub(at[0])
				}
				if tc.minGap > 0 && gap < tc.minGap {
					t.Errorf("request 2 came %s after request 1, want at least %s (Retry-After)", gap, tc.minGap)
				}
				if tc.redirect {
					if n := target.hits(); n != 0 {
						t.Errorf("the redirect was followed: its target got %d requests", n)
					}
				}
				if hooked != nil {
					retry, err := hooked.first()
					var ne *notify.Error
					if !retry || !errors.As(err, &ne) || ne.Status != 0 || ne.Reason != "connection refused" {
						t.Errorf("first attempt to the closed port: retry %v, err %#v; want a retryable connection refused", retry, err)
					}
				}
				t.Logf("%s after attempt %d, %d snoozes, %d requests, gap %s, reason %q, in %s",
					st.State, st.Attempt, st.Snoozes, len(at), gap.Round(time.Millisecond), st.LastError, took.Round(time.Millisecond))
			})
		})
	}
}
