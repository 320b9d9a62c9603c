package server

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters"
	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/sources/sourcestest"
)

// Secrets of authConfig.
const (
	tcUser      = "teamcity"
	tcPass      = "tc-password-0001"
	bearerTok   = "bearer-token-0123456789"
	urlTok      = "url-token-0123456789abcdef"
	whsecKey    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	hubSecret   = "hub-secret-0001"
	authConfigY = `
sources:
  teamcity:
    basic_auth: {username: ` + tcUser + `, password: ` + tcPass + `}
  appcenter:
    url_token: ` + urlTok + `
  generic:
    bearer_token: ` + bearerTok + `
    standard_webhooks: {secrets: [` + whsecKey + `]}
    hub_signature: {secret: ` + hubSecret + `}
    max_body_bytes: 8192
`
)

// authNow is the fake clock of the auth tests.
var authNow = time.Unix(1_700_000_000, 0)

// newServerWith is a server on the given config sections (sources,
// limits), with a console destination, its clock at authNow.
func newServerWith(t *testing.T, sections string, st Store, log zerolog.Logger) *Server {
	t.Helper()
	cfg, err := config.Parse([]byte(sections+"\ndestinations: [{name: all, type: console}]\n"), ".")
	if err != nil {
		t.Fatal(err)
	}
	set, err := adapters.NewSet(cfg, notify.Client(0), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	s := New(&Runtime{Config: cfg, Adapters: set}, st, nil, log)
	s.auth.now = func() time.Time { return authNow }
	return s
}

// post sends one ingest request from addr, shaped by edit.
func post(s *Server, path, addr string, body io.Reader, edit func(*http.Request)) (*httptest.ResponseRecorder, string) {
	req := httptest.NewRequest(http.MethodPost, path, body)
	req.RemoteAddr = addr
	req.Header.Set("Content-Type", "application/json")
	if edit != nil {
		edit(req)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	var out struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec, out.Error
}

func setHeader(kv ...string) func(*http.Request) {
	return func(r *http.Request) {
		for i := 0; i+1 < len(kv); i += 2 {
			r.Header.Set(kv[i], kv[i+1])
		}
	}
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func standardSig(id string, ts time.Time, body []byte) func(*http.Request) {
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(whsecKey, "whsec_"))
	stamp := strconv.FormatInt(ts.Unix(), 10)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + stamp + "."))
	m.Write(body)
	return setHeader("Webhook-Id", id, "Webhook-Timestamp", stamp, "Webhook-Signature", "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
}

func hubSig(secret string, body []byte) func(*http.Request) {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return setHeader("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
}

// TestIngestAuthentication: each method accepts its sender and refuses
// others with 401, a challenge naming the methods, a one-line reason that
// echoes nothing, and nothing stored.
func TestIngestAuthentication(t *testing.T) {
	t.Parallel()
	tc := sourcestest.Body(t, "teamcity-build-finished.json")
	ac := sourcestest.Body(t, "appcenter-build-success.json")
	gen := sourcestest.Body(t, "generic-build-succeeded.json")
	tests := []struct {
		name, path string
		body       []byte
		edit       func(*http.Request)
		want       int
		challenge  string // a WWW-Authenticate value the 401 must hold
		reason     string // the start of the 401's reason
	}{
		{"teamcity basic", "/v1/events/teamcity", tc, setHeader("Authorization", basicAuth(tcUser, tcPass)), 202, "", ""},
		{"teamcity php-auth headers", "/v1/events/teamcity", tc, setHeader("Php-Auth-User", tcUser, "Php-Auth-Pw", tcPass), 202, "", ""},
		{"teamcity wrong password", "/v1/events/teamcity", tc, setHeader("Authorization", basicAuth(tcUser, "guess-0001")), 401, `Basic realm="herald", charset="UTF-8"`, "invalid credentials; teamcity accepts basic_auth"},
		{"teamcity no credentials", "/v1/events/teamcity", tc, nil, 401, `Basic realm="herald", charset="UTF-8"`, "credentials required; teamcity accepts basic_auth"},
		{"teamcity bearer is not its method", "/v1/events/teamcity", tc, setHeader("Authorization", "Bearer "+bearerTok), 401, "Basic", "credentials required"},
		{"appcenter token in the path", "/v1/events/appcenter/" + urlTok, ac, nil, 202, "", ""},
		{"appcenter token in the query", "/v1/events/appcenter?token=" + urlTok, ac, nil, 202, "", ""},
		{"appcenter wrong token", "/v1/events/appcenter/" + urlTok[:len(urlTok)-1] + "X", ac, nil, 401, `URL-Token realm="herald"`, "invalid credentials; appcenter accepts url_token"},
		{"appcenter no token", "/v1/events/appcenter", ac, nil, 401, "URL-Token", "credentials required"},
		{"token route of a source without url_token", "/v1/events/generic/" + urlTok, gen, setHeader("Authorization", "Bearer "+bearerTok), 404, "", ""},
		{"generic bearer", "/v1/events/generic", gen, setHeader("Authorization", "Bearer "+bearerTok), 202, "", ""},
		{"generic wrong bearer", "/v1/events/generic", gen, setHeader("Authorization", "Bearer "+bearerTok+"x"), 401, `Bearer realm="herald"`, "invalid credentials; generic accepts bearer_token, standard_webhooks, hub_signature"},
		{"generic standard webhooks", "/v1/events/generic", gen, standardSig("msg_1", authNow.Add(-time.Minute), gen), 202, "", ""},
		{"generic standard webhooks, stale", "/v1/events/generic", gen, standardSig("msg_1", authNow.Add(-6*time.Minute), gen), 401, `Standard-Webhooks realm="herald"`, "webhook-timestamp is more than 5 minutes away"},
		{"generic standard webhooks, other body", "/v1/events/generic", gen, standardSig("msg_1", authNow, append([]byte(" "), gen...)), 401, "Standard-Webhooks", "invalid credentials"},
		{"generic hub signature", "/v1/events/generic", gen, hubSig(hubSecret, gen), 202, "", ""},
		{"generic hub signature, other secret", "/v1/events/generic", gen, hubSig("guess", gen), 401, `X-Hub-Signature-256 realm="herald"`, "invalid credentials"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := &fakeStore{}
			s := newServerWith(t, authConfigY, st, zerolog.Nop())
			rec, reason := post(s, tc.path, "192.0.2.1:4000", bytes.NewReader(tc.body), tc.edit)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
			if tc.want == 202 {
				if st.count() != 1 {
					t.Errorf("accepted but not stored")
				}
				return
			}
			if st.count() != 0 {
				t.Errorf("a refused request was stored")
			}
			if reason == "" || strings.Contains(reason, "\n") {
				t.Errorf("want a one-line JSON reason, got %s", rec.Body)
			}
			for _, secret := range []string{tcPass, "guess-0001", bearerTok, urlTok[:20], whsecKey[6:], hubSecret} {
				if strings.Contains(rec.Body.String(), secret) || strings.Contains(strings.Join(rec.Header().Values("WWW-Authenticate"), " "), secret) {
					t.Errorf("the answer holds a credential: %s", rec.Body)
				}
			}
			if tc.want != 401 {
				return
			}
			if !strings.HasPrefix(reason, tc.reason) {
				t.Errorf("reason %q, want it to start with %q", reason, tc.reason)
			}
			if got := rec.Header().Values("WWW-Authenticate"); !containsPrefix(got, tc.challenge) {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.challenge)
			}
		})
	}
}

func containsPrefix(values []string, prefix string) bool {
	for _, v := range values {
		if strings.HasPrefix(v, prefix) {
			return true
		}
	}
	return false
}

// TestIngestOnlyListedSources: once sources: lists one, the others answer
// 404 like an unknown source.
func TestIngestOnlyListedSources(t *testing.T) {
	t.Parallel()
	s := newServerWith(t, "sources: {appcenter: {url_token: "+urlTok+"}}", &fakeStore{}, zerolog.Nop())
	rec, reason := post(s, "/v1/events/teamcity", "192.0.2.1:4000", bytes.NewReader(sourcestest.Body(t, "teamcity-build-finished.json")), nil)
	if rec.Code != http.StatusNotFound || reason != "unknown source; valid: appcenter" {
		t.Errorf("unlisted source: %d %q", rec.Code, reason)
	}
	rec, _ = post(s, "/v1/events/appcenter/"+urlTok, "192.0.2.1:4000", bytes.NewReader(sourcestest.Body(t, "appcenter-build-success.json")), nil)
	if rec.Code != http.StatusAccepted {
		t.Errorf("listed source: %d %s", rec.Code, rec.Body)
	}
}

// countingReader records whether anyone read the body.
type countingReader struct {
	mu   sync.Mutex
	r    io.Reader
	read int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.r.Read(p)
	c.read += n
	return n, err
}

func (c *countingReader) bytesRead() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.read
}

// TestIngestRefusesBeforeReading: a request the headers already refuse (a
// header method failed and no signature headers came) or whose
// Content-Length is over the source's limit is answered without reading
// its body.
func TestIngestRefusesBeforeReading(t *testing.T) {
	t.Parallel()
	s := newServerWith(t, authConfigY, &fakeStore{}, zerolog.Nop())
	gen := sourcestest.Body(t, "generic-build-succeeded.json")
	tests := []struct {
		name   string
		path   string
		body   []byte
		length int64 // Content-Length; -1: unknown (chunked)
		edit   func(*http.Request)
		want   int
	}{
		{"wrong basic", "/v1/events/teamcity", gen, int64(len(gen)), setHeader("Authorization", basicAuth(tcUser, "guess-0001")), 401},
		{"no signature headers", "/v1/events/generic", gen, -1, nil, 401},
		{"stale signature", "/v1/events/generic", gen, -1, standardSig("m", authNow.Add(-time.Hour), gen), 401},
		{"declared too large", "/v1/events/generic", bytes.Repeat([]byte(" "), 9000), 9000, setHeader("Authorization", "Bearer "+bearerTok), 413},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := &countingReader{r: bytes.NewReader(tc.body)}
			rec, _ := post(s, tc.path, "192.0.2.2:4000", body, func(r *http.Request) {
				r.ContentLength = tc.length
				if tc.edit != nil {
					tc.edit(r)
				}
			})
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
			if n := body.bytesRead(); n != 0 {
				t.Errorf("%d bytes of the body were read before refusing", n)
			}
		})
	}
}

// TestSourceBodyLimit: sources.<name>.max_body_bytes replaces the global
// limit for that source, for declared and chunked bodies.
func TestSourceBodyLimit(t *testing.T) {
	t.Parallel()
	s := newServerWith(t, "limits: {max_body_bytes: 4096}\nsources: {generic: {insecure: true, max_body_bytes: 100000}, teamcity: {insecure: true, max_body_bytes: 1024}}", &fakeStore{}, zerolog.Nop())
	big := []byte(`{"eventType":"BUILD_STARTED","payload":{"x":"` + strings.Repeat("a", 2000) + `"}}`)
	for _, chunked := range []bool{false, true} {
		rec, reason := post(s, "/v1/events/teamcity", "192.0.2.3:4000", bytes.NewReader(big), func(r *http.Request) {
			if chunked {
				r.ContentLength = -1
			}
		})
		if rec.Code != http.StatusRequestEntityTooLarge || reason != "body exceeds the limit of 1024 bytes" {
			t.Errorf("chunked %v: %d %q, want 413 at teamcity's 1024", chunked, rec.Code, reason)
		}
	}
	gen := sourcestest.Body(t, "generic-build-succeeded.json")
	padded := append(bytes.Repeat([]byte(" "), 5000), gen...)
	if rec, _ := post(s, "/v1/events/generic", "192.0.2.3:4000", bytes.NewReader(padded), nil); rec.Code != http.StatusAccepted {
		t.Errorf("generic body over the global limit but within its own: %d %s", rec.Code, rec.Body)
	}
}

// TestAuthFailuresThrottled: after AuthFailureLimit failures within the
// window an address gets 429 with Retry-After, even with the right
// credentials, until the window passes; other addresses are not affected.
func TestAuthFailuresThrottled(t *testing.T) {
	t.Parallel()
	s := newServerWith(t, authConfigY, &fakeStore{}, zerolog.Nop())
	now := authNow
	var mu sync.Mutex
	s.auth.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	body := sourcestest.Body(t, "teamcity-build-finished.json")
	good, bad := setHeader("Authorization", basicAuth(tcUser, tcPass)), setHeader("Authorization", basicAuth(tcUser, "guess-0001"))
	const attacker = "198.51.100.7:5000"

	for i := range AuthFailureLimit {
		if rec, _ := post(s, "/v1/events/teamcity", attacker, bytes.NewReader(body), bad); rec.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i+1, rec.Code)
		}
		advance(time.Second)
	}
	rec, reason := post(s, "/v1/events/teamcity", attacker, bytes.NewReader(body), good)
	if rec.Code != http.StatusTooManyRequests || reason == "" {
		t.Fatalf("after %d failures: %d %s, want 429", AuthFailureLimit, rec.Code, rec.Body)
	}
	if got, want := rec.Header().Get("Retry-After"), strconv.Itoa(int((AuthFailureWindow - AuthFailureLimit*time.Second).Seconds())); got != want {
		t.Errorf("Retry-After %q, want %q (the rest of the window)", got, want)
	}
	// Another port of the same address is the same address.
	if rec, _ := post(s, "/v1/events/teamcity", "198.51.100.7:5001", bytes.NewReader(body), good); rec.Code != http.StatusTooManyRequests {
		t.Errorf("another port: %d, want 429", rec.Code)
	}
	if rec, _ := post(s, "/v1/events/teamcity", "192.0.2.50:5000", bytes.NewReader(body), good); rec.Code != http.StatusAccepted {
		t.Errorf("another address: %d, want 202", rec.Code)
	}
	advance(AuthFailureWindow)
	if rec, _ := post(s, "/v1/events/teamcity", attacker, bytes.NewReader(body), good); rec.Code != http.StatusAccepted {
		t.Errorf("after the window: %d %s, want 202", rec.Code, rec.Body)
	}
	// Each refusal is counted under its own outcome.
	for outcome, want := range map[string]float64{"unauthorized": AuthFailureLimit, "throttled": 2, "accepted": 2} {
		if got := testutil.ToFloat64(s.metrics.Events.WithLabelValues("teamcity", outcome)); got != want {
			t.Errorf("herald_events_received_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
}

// TestCredentialsNeverLogged: tokens in the path or query, and passwords,
// appear in no log line, whatever the outcome.
func TestCredentialsNeverLogged(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	s := newServerWith(t, authConfigY, &fakeStore{}, zerolog.New(&logs).Level(zerolog.DebugLevel))
	ac := sourcestest.Body(t, "appcenter-build-success.json")
	requests := []struct {
		path string
		body []byte
		edit func(*http.Request)
	}{
		{"/v1/events/appcenter/" + urlTok, ac, nil},
		{"/v1/events/appcenter?token=" + urlTok, ac, nil},
		{"/v1/events/appcenter/" + urlTok + "WRONG", ac, nil},
		{"/v1/events/appcenter?token=" + urlTok + "WRONG", ac, nil},
		{"/v1/events/appcenter/" + urlTok, []byte(`{"not":"appcenter"}`), nil},
		{"/v1/events/appcenter/" + urlTok, []byte(`{`), nil},
		{"/v1/events/jenkins/" + urlTok, ac, nil},
		{"/v1/events/generic/" + urlTok, ac, nil},
		{"/v1/events/teamcity", ac, setHeader("Authorization", basicAuth(tcUser, tcPass+"WRONG"))},
		{"/v1/events/generic", ac, setHeader("Authorization", "Bearer "+bearerTok+"WRONG")},
	}
	for _, r := range requests {
		rec, _ := post(s, r.path, "192.0.2.4:4000", bytes.NewReader(r.body), r.edit)
		if strings.Contains(rec.Body.String(), urlTok) {
			t.Errorf("%d answer to a request holds the token: %s", rec.Code, rec.Body)
		}
	}
	out := logs.String()
	if !strings.Contains(out, "authentication failed") {
		t.Fatalf("no failure was logged, so this test proves nothing:\n%s", out)
	}
	for _, secret := range []string{urlTok, tcPass, bearerTok} {
		if strings.Contains(out, secret) {
			t.Errorf("the logs hold a credential:\n%s", out)
		}
	}
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
