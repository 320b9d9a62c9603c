package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herald-ci/herald/sources/sourcestest"
)

// The secrets of TestSecretsNeverLeak. Each is a distinct marker of
// letters and digits only, so that no JSON, URL or YAML escaping can hide
// a copy of it from the search.
const (
	leakSlackOKToken   = "SlackOkPathTok3nQ1w2e3r4"   // Slack URL path token, answered 200 ok
	leakSlackGoneToken = "SlackGonePathTok3nZ9x8c7"   // Slack URL path token, answered 404 no_service
	leakTeamsPath      = "TeamsWorkflowIdP0o9i8u7"    // the Workflows URL's path
	leakTeamsSig       = "TeamsSigM4rkerA1s2d3f4g5"   // the Workflows URL's sig=
	leakSlackEchoToken = "SlackEchoPathTok3nW2e3r4t"  // Slack URL path token, echoed back in a 400
	leakTeamsEchoPath  = "TeamsEchoFlowIdY7u8i9o0"    // Workflows URL path, echoed back in a 400
	leakTeamsEchoSig   = "TeamsEchoSigM4rkerG6h7j8"   // Workflows URL sig=, echoed back in a 400
	leakEchoPath       = "WebhookPathTok3nH6j7k8l9"   // webhook URL path token
	leakEchoQuery      = "WebhookQueryTok3nV5b6n7m8"  // webhook URL query token
	leakEchoPassword   = "WebhookPassw0rdR4t5y6u7"    // webhook destination basic_auth.password
	leakRefusedPath    = "RefusedPathTok3nC3v4b5n6"   // webhook URL that refuses connections
	leakTeamCityPass   = "TeamcityPassw0rdE2r3t4y5"   // sources.teamcity.basic_auth.password
	leakURLToken       = "AppcenterUrlTok3nK8l9z0x1"  // sources.appcenter.url_token
	leakBearer         = "GenericBearerTok3nF5g6h7j8" // sources.generic.bearer_token
	leakWhsecKey       = "SwhRawKeyBytesN1m2q3w4e5"   // the Standard Webhooks key, decoded (24 bytes)
	leakHubSecret      = "HubSignatureSecr3tT7y8u9i0" // sources.generic.hub_signature.secret
	leakAPIManager     = "ApiManagerTok3nD1f2g3h4j5"  // api token, role manager
	leakAPIReader      = "ApiReaderTok3nS6d7f8g9h0"   // api token, role reader
	// A password short enough (10 characters) that yaml.v3 quotes it whole
	// in a type error; longer values it cuts to their first 7 characters.
	leakShortPassword = "Sh0rtPw9z7"
)

// leakSecret is one text that must never appear in what herald prints,
// logs or answers.
type leakSecret struct{ name, value string }

// leakSecrets lists the configured secrets and the forms a leak of them
// could take: Basic credentials as a client sends them, and the Standard
// Webhooks key as configured (base64) and decoded.
func leakSecrets() []leakSecret {
	basic := func(user, pass string) string { return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass)) }
	return []leakSecret{
		{"slack path token (ok)", leakSlackOKToken},
		{"slack path token (404)", leakSlackGoneToken},
		{"teams workflows path", leakTeamsPath},
		{"teams workflows sig", leakTeamsSig},
		{"slack path token (echoed)", leakSlackEchoToken},
		{"teams workflows path (echoed)", leakTeamsEchoPath},
		{"teams workflows sig (echoed)", leakTeamsEchoSig},
		{"webhook path token", leakEchoPath},
		{"webhook query token", leakEchoQuery},
		{"webhook basic_auth password", leakEchoPassword},
		{"webhook basic_auth credentials (base64)", basic("fwd", leakEchoPassword)},
		{"refused webhook path token", leakRefusedPath},
		{"teamcity basic_auth password", leakTeamCityPass},
		{"teamcity basic_auth credentials (base64)", basic("teamcity", leakTeamCityPass)},
		{"appcenter url_token", leakURLToken},
		{"generic bearer_token", leakBearer},
		{"standard_webhooks secret (base64)", base64.StdEncoding.EncodeToString([]byte(leakWhsecKey))},
		{"standard_webhooks key (raw bytes)", leakWhsecKey},
		{"hub_signature secret", leakHubSecret},
		{"api token (manager)", leakAPIManager},
		{"api token (reader)", leakAPIReader},
		{"short password (broken config)", leakShortPassword},
	}
}

// leakTexts collects, by name, everything herald said during the test.
type leakTexts struct {
	mu    sync.Mutex
	names []string
	texts map[string]*strings.Builder
}

func (c *leakTexts) add(name, text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.texts == nil {
		c.texts = map[string]*strings.Builder{}
	}
	b, ok := c.texts[name]
	if !ok {
		b = &strings.Builder{}
		c.texts[name] = b
		c.names = append(c.names, name)
	}
	b.WriteString(text)
	b.WriteString("\n")
}

// leakClient calls a running herald and records every answer (status,
// headers, body; never the request, which holds the secrets on purpose).
type leakClient struct {
	t     *testing.T
	base  string
	texts *leakTexts
	http  *http.Client
}

func (c *leakClient) do(bucket, label, method, path string, hdr http.Header, body []byte) (int, string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s: %v", label, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	var rec strings.Builder
	fmt.Fprintf(&rec, "## %s: HTTP %d\n", label, resp.StatusCode)
	keys := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&rec, "%s: %s\n", k, strings.Join(resp.Header[k], ", "))
	}
	rec.Write(b)
	c.texts.add(bucket, rec.String())
	return resp.StatusCode, string(b)
}

func bearerHeader(tok string) http.Header {
	return http.Header{"Authorization": {"Bearer " + tok}}
}

// leakConfig is the config under test: every kind of secret herald takes,
// given inline, from ${ENV} and from *_file, and one destination per way a
// platform answers: 200 ok, 404 no_service, 202, a 400 that echoes the
// request (one per destination type), and a refused connection.
func leakConfig(sinkURL, refusedURL string) string {
	return fmt.Sprintf(`listen: 127.0.0.1:0
store: {driver: sqlite, dsn: herald.db}
egress: {allow_private: true}
api:
  tokens:
    - {name: ops, role: manager, token_file: secrets/api-manager}
    - {name: viewer, role: reader, token: %[3]s}
sources:
  teamcity:
    basic_auth: {username: teamcity, password: %[4]s}
  appcenter:
    url_token: %[5]s
  generic:
    bearer_token: ${HERALD_LEAK_BEARER}
    standard_webhooks: {secrets: [whsec_%[6]s]}
    hub_signature: {secret_file: secrets/hub}
destinations:
  - name: slack-ok
    type: slack
    url: %[1]s/services/T0/B0/%[7]s
    rate_limit: {per_second: 100, burst: 20}
  - name: slack-gone         # paced, so that deliveries wait their turn (a debug line)
    type: slack
    url: %[1]s/services/T0/B1/%[8]s
    rate_limit: {per_second: 10, burst: 1}
  - name: slack-echo
    type: slack
    url: %[1]s/services/T0/B2/%[12]s
    rate_limit: {per_second: 100, burst: 20}
  - name: teams
    type: teams
    format: workflows
    url_file: secrets/teams-url
    rate_limit: {per_second: 100, burst: 20, window: {limit: 1000, period: 1s}}
  - name: teams-echo
    type: teams
    format: workflows
    url: %[1]s/flows/%[13]s/triggers/manual/paths/invoke?api-version=1&sig=%[14]s
    rate_limit: {per_second: 100, burst: 20, window: {limit: 1000, period: 1s}}
  - name: echo
    type: webhook
    url: %[1]s/hook/%[9]s?t=%[10]s
    basic_auth: {username: fwd, password_file: secrets/echo-password}
  - name: refused
    type: webhook
    url: %[2]s/gone/%[11]s
    max_attempts: 1
    circuit_breaker: {failures: 1000}
`, sinkURL, refusedURL, leakAPIReader, leakTeamCityPass, leakURLToken,
		base64.StdEncoding.EncodeToString([]byte(leakWhsecKey)), leakSlackOKToken, leakSlackGoneToken,
		leakEchoPath, leakEchoQuery, leakRefusedPath, leakSlackEchoToken, leakTeamsEchoPath, leakTeamsEchoSig)
}

// leakBrokenConfigs are configs herald must refuse, each holding secrets
// where an error message could quote them.
func leakBrokenConfigs(sinkURL string) map[string]string {
	head := "listen: 127.0.0.1:0\nstore: {driver: sqlite, dsn: herald.db}\n"
	whsec := "whsec_" + base64.StdEncoding.EncodeToString([]byte(leakWhsecKey))
	return map[string]string{
		// Secrets tagged with a wrong type: yaml.v3 quotes such values,
		// and stops at the first.
		"wrong-tag": head + fmt.Sprintf(`egress: {allow_private: true}
sources:
  appcenter: {url_token: !!int %[2]s}
destinations:
  - name: slack-ok
    type: slack
    url: !!int %[1]s/services/T0/B0/%[3]s
`, sinkURL, leakURLToken, leakSlackOKToken),
		// Secrets where YAML wants another type: yaml.v3 quotes such
		// values (whole up to 10 characters, else their first 7).
		"wrong-types": head + fmt.Sprintf(`egress: {allow_private: true}
api: {tokens: [{name: ops, role: manager, token: [%[2]s]}]}
sources:
  teamcity: {basic_auth: %[3]s}
  generic: {standard_webhooks: {secrets: %[4]s}, bearer_token: {value: %[5]s}}
  appcenter: {url_token: [%[6]s]}
destinations:
  - name: slack-ok
    type: slack
    url: [%[1]s/services/T0/B0/%[7]s]
  - name: teams
    type: teams
    url: ["%[1]s/workflows/%[8]s/triggers/manual/paths/invoke?api-version=1&sig=%[9]s"]
  - name: echo
    type: webhook
    url: {"%[1]s/hook/%[10]s": %[11]s}
    basic_auth: {username: fwd, password: [%[12]s]}
    max_in_flight: %[13]s
`, sinkURL, leakAPIManager, leakShortPassword, whsec, leakBearer, leakURLToken, leakSlackOKToken,
			leakTeamsPath, leakTeamsSig, leakEchoPath, leakEchoQuery, leakEchoPassword, leakHubSecret),
		// Well-formed YAML whose values fail validation.
		"invalid-values": head + fmt.Sprintf(`api:
  tokens:
    - {name: ops, role: manager, token: %[2]s}
    - {name: ops2, role: boss, token: %[2]s}
sources:
  appcenter: {url_token: "%[3]s!"}
  generic: {bearer_token: "%[4]s", insecure: true, standard_webhooks: {secrets: ["whsec_%[5]s!"]}}
  teamcity: {basic_auth: {username: "tc:x", password: "%[6]s"}}
destinations:
  - {name: slack-ok, type: slack, url: "https://hooks.example.org/services/T0/B0/%[7]s"}
  - {name: slack-gone, type: slack, url: "%[1]s/services/T0/B1/%[8]s"}
  - {name: teams, type: teams, url: "ftp://127.0.0.1/workflows/%[9]s?api-version=1&sig=%[10]s"}
  - {name: echo, type: webhook, url: "http://127.0.0.1:1/hook/%%zz%[11]s?t=%[12]s", basic_auth: {username: "", password: "%[13]s"}}
  - {name: refused, type: slack, url: "http://169.254.169.254/services/%[14]s"}
  - {name: hub, type: console, url: "https://example.org/%[15]s"}
`, sinkURL, leakAPIManager, leakURLToken, leakBearer, leakWhsecKey, leakTeamCityPass, leakSlackOKToken,
			leakSlackGoneToken, leakTeamsPath, leakTeamsSig, leakEchoPath, leakEchoQuery, leakEchoPassword,
			leakRefusedPath, leakHubSecret),
		// Broken YAML syntax right after a secret.
		"bad-syntax": head + fmt.Sprintf(`destinations:
  - name: slack-ok
    type: slack
    url: "%[1]s/services/T0/B0/%[2]s
  - {name: echo, type: webhook, url: %[1]s/hook/%[3]s?t=%[4]s, basic_auth: {username: fwd, password: %[5]s}
`, sinkURL, leakSlackOKToken, leakEchoPath, leakEchoQuery, leakEchoPassword),
	}
}

// TestSecretsNeverLeak runs herald's scenarios with debug logging against a
// config holding a distinct marker in every kind of secret: events through
// every source authentication method (and failed attempts up to the 429),
// deliveries to platforms that accept, refuse finally, echo the request
// back in their error, or refuse the connection, replays, previews, refused
// reloads, and the CLI commands that load the config or send. Then it
// asserts that no marker occurs in anything herald said: its whole log,
// /metrics, every API answer (deliveries, dead-letter reasons, preview,
// reload, health), and the CLI's output.
func TestSecretsNeverLeak(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	texts := &leakTexts{}

	// One loopback sink answers as each platform would, by path.
	var echoMu sync.Mutex
	var echoBodies []string
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 4<<20))
		switch {
		case strings.HasPrefix(r.URL.Path, "/services/T0/B0/"):
			_, _ = io.WriteString(w, "ok")
		case strings.HasPrefix(r.URL.Path, "/services/T0/B1/"):
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, "no_service")
		case strings.HasPrefix(r.URL.Path, "/workflows/"):
			w.WriteHeader(http.StatusAccepted)
		case strings.HasPrefix(r.URL.Path, "/hook/"), strings.HasPrefix(r.URL.Path, "/services/T0/B2/"), strings.HasPrefix(r.URL.Path, "/flows/"):
			// A platform (or a proxy before it) that quotes the request in
			// its error: the credentials, then the URL with its tokens, on
			// one line short enough that herald keeps all of it (120 chars).
			echo := strings.TrimSpace(r.Header.Get("Authorization") + " " + r.URL.RequestURI())
			echoMu.Lock()
			echoBodies = append(echoBodies, echo)
			echoMu.Unlock()
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, echo)
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(sink.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedURL := "http://" + ln.Addr().String()
	_ = ln.Close()

	dir := t.TempDir()
	writeFile(t, dir, "secrets/api-manager", leakAPIManager+"\n")
	writeFile(t, dir, "secrets/hub", leakHubSecret+"\n")
	writeFile(t, dir, "secrets/echo-password", leakEchoPassword+"\n")
	writeFile(t, dir, "secrets/teams-url", fmt.Sprintf("%s/workflows/%s/triggers/manual/paths/invoke?api-version=1&sp=%%2Ftriggers%%2Fmanual%%2Frun&sv=1.0&sig=%s\n",
		sink.URL, leakTeamsPath, leakTeamsSig))
	good := leakConfig(sink.URL, refusedURL)
	cfgPath := writeFile(t, dir, "herald.yaml", good)
	broken := leakBrokenConfigs(sink.URL)
	brokenNames := make([]string, 0, len(broken))
	for name, text := range broken {
		writeFile(t, dir, filepath.Join("broken", name+".yaml"), text)
		brokenNames = append(brokenNames, name)
	}
	sort.Strings(brokenNames)
	env := []string{"HERALD_LEAK_BEARER=" + leakBearer}

	p := start(t, dir, env, "--config", cfgPath, "--log-level", "debug")
	direct := &leakClient{t: t, base: "http://" + p.addr, texts: texts, http: &http.Client{Timeout: 10 * time.Second}}
	// Wrong credentials come from another loopback address: herald's
	// failure throttle (429 after 10 within a minute) keys on the peer's
	// address, and this test's own calls must not be throttled.
	intruder := &leakClient{t: t, base: direct.base, texts: texts, http: &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{DialContext: (&net.Dialer{
			LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)},
			Timeout:   5 * time.Second,
		}).DialContext},
	}}

	// Events through every authentication method, each accepted.
	tcFailure, tcSuccess := sourcestest.Body(t, "teamcity-build-finished-failure"), sourcestest.Body(t, "teamcity-build-finished")
	acBuild, acCrash := sourcestest.Body(t, "appcenter-build-success"), sourcestest.Body(t, "appcenter-crash")
	generic := func(id string) []byte {
		return fmt.Appendf(nil, `{"kind":"build","status":"failed","project":"leak","number":1,"id":%q}`, id)
	}
	swh := func(key, id string, ts time.Time, body []byte) http.Header {
		sec := strconv.FormatInt(ts.Unix(), 10)
		m := hmac.New(sha256.New, []byte(key))
		fmt.Fprintf(m, "%s.%s.%s", id, sec, body)
		return http.Header{
			"Webhook-Id":        {id},
			"Webhook-Timestamp": {sec},
			"Webhook-Signature": {"v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))},
		}
	}
	hub := func(key string, body []byte) http.Header {
		m := hmac.New(sha256.New, []byte(key))
		m.Write(body)
		return http.Header{"X-Hub-Signature-256": {"sha256=" + hex.EncodeToString(m.Sum(nil))}}
	}
	basicAuth := func(user, pass string) http.Header {
		return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}}
	}
	withKey := func(h http.Header, key string) http.Header {
		h = h.Clone()
		h.Set("Idempotency-Key", key)
		return h
	}
	swhBody, hubBody := generic("leak-standard-webhooks"), generic("leak-hub")
	valid := []struct {
		label, path string
		hdr         http.Header
		body        []byte
	}{
		{"teamcity basic_auth", "/v1/events/teamcity", withKey(basicAuth("teamcity", leakTeamCityPass), "leak-1"), tcFailure},
		{"teamcity php-auth headers", "/v1/events/teamcity",
			http.Header{"Php-Auth-User": {"teamcity"}, "Php-Auth-Pw": {leakTeamCityPass}, "Idempotency-Key": {"leak-2"}}, tcSuccess},
		{"appcenter url_token in the path", "/v1/events/appcenter/" + leakURLToken, nil, acBuild},
		{"appcenter url_token in the query", "/v1/events/appcenter?token=" + leakURLToken, nil, acCrash},
		{"generic bearer_token", "/v1/events/generic", bearerHeader(leakBearer), generic("leak-bearer")},
		{"generic standard_webhooks", "/v1/events/generic", swh(leakWhsecKey, "msg_leak_1", time.Now(), swhBody), swhBody},
		{"generic hub_signature", "/v1/events/generic", hub(leakHubSecret, hubBody), hubBody},
	}
	deliveries := 0
	for _, v := range valid {
		code, body := direct.do("ingest answers", v.label, http.MethodPost, v.path, v.hdr, v.body)
		var acc struct {
			Status     string
			Deliveries []struct{ ID int64 }
		}
		if err := json.Unmarshal([]byte(body), &acc); err != nil || code != http.StatusAccepted || acc.Status != "accepted" {
			t.Fatalf("%s: %d %s, want 202 accepted", v.label, code, body)
		}
		deliveries += len(acc.Deliveries)
	}
	if deliveries < len(valid)*7 {
		t.Fatalf("%d deliveries for %d events, want every event at every destination", deliveries, len(valid))
	}

	// Wrong credentials, near misses that begin with the right secret (so
	// that an echo of what the sender sent is caught too), until the
	// address is throttled; and a wrong API token.
	wrong := []struct {
		label, path string
		hdr         http.Header
		body        []byte
		want        int
	}{
		{"teamcity wrong basic_auth", "/v1/events/teamcity", basicAuth("teamcity", leakTeamCityPass+"-wrong"), tcFailure, 401},
		{"teamcity wrong php-auth-pw", "/v1/events/teamcity", http.Header{"Php-Auth-User": {"teamcity"}, "Php-Auth-Pw": {leakTeamCityPass + "x"}}, tcFailure, 401},
		{"appcenter wrong url_token in the path", "/v1/events/appcenter/" + leakURLToken + "x", nil, acBuild, 401},
		{"appcenter wrong url_token in the query", "/v1/events/appcenter?token=" + leakURLToken + "x", nil, acBuild, 401},
		{"generic wrong bearer_token", "/v1/events/generic", bearerHeader(leakBearer + "x"), generic("w1"), 401},
		{"generic token in the path of a source without url_token", "/v1/events/generic/" + leakBearer, bearerHeader(leakBearer), generic("w2"), 404},
		{"generic standard_webhooks signed with a wrong key", "/v1/events/generic", swh(leakWhsecKey+"x", "msg_leak_2", time.Now(), swhBody), swhBody, 401},
		{"generic standard_webhooks stale timestamp", "/v1/events/generic", swh(leakWhsecKey, "msg_leak_3", time.Now().Add(-time.Hour), swhBody), swhBody, 401},
		{"generic hub_signature with a wrong key", "/v1/events/generic", hub(leakHubSecret+"x", hubBody), hubBody, 401},
		{"deliveries with a wrong api token", "/v1/deliveries", bearerHeader(leakAPIManager + "x"), nil, 401},
	}
	for _, w := range wrong {
		method := http.MethodPost
		if w.body == nil {
			method = http.MethodGet
		}
		if code, body := intruder.do("refused answers", w.label, method, w.path, w.hdr, w.body); code != w.want {
			t.Errorf("%s: %d %s, want %d", w.label, code, body, w.want)
		}
	}
	throttled := false
	for i := 0; i < 20 && !throttled; i++ {
		code, _ := intruder.do("refused answers", "teamcity wrong basic_auth, again", http.MethodPost, "/v1/events/teamcity",
			basicAuth("teamcity", leakTeamCityPass+strconv.Itoa(i)), tcFailure)
		throttled = code == http.StatusTooManyRequests
	}
	if !throttled {
		t.Errorf("20 more failed authentications were never answered 429")
	}
	if code, _ := intruder.do("refused answers", "teamcity right basic_auth, throttled", http.MethodPost, "/v1/events/teamcity",
		basicAuth("teamcity", leakTeamCityPass), tcFailure); code != http.StatusTooManyRequests {
		t.Errorf("a throttled address with the right credentials got %d, want 429", code)
	}
	if code, _ := direct.do("refused answers", "reload as a reader", http.MethodPost, "/-/reload", bearerHeader(leakAPIReader), nil); code != http.StatusForbidden {
		t.Errorf("POST /-/reload as a reader: %d, want 403", code)
	}

	// Settle, replay the dead letters, settle again.
	settle := func() {
		t.Helper()
		waitFor(t, 20*time.Second, func() bool {
			code, body := direct.do("deliveries while settling", "pending", http.MethodGet, "/v1/deliveries?state=pending&limit=1", bearerHeader(leakAPIReader), nil)
			return code == http.StatusOK && strings.Contains(body, `"deliveries":[]`)
		}, "every delivery to settle; logs:\n"+maskLeaks(p.logs.String()))
	}
	settle()
	ids := map[string][]int64{} // by destination
	states := map[string]string{}
	var list func(cursor string)
	list = func(cursor string) {
		_, body := direct.do("GET /v1/deliveries", "all deliveries", http.MethodGet, "/v1/deliveries?limit=100&cursor="+cursor, bearerHeader(leakAPIReader), nil)
		var page struct {
			Deliveries []struct {
				ID                 int64
				Destination, State string
			}
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal([]byte(body), &page); err != nil {
			t.Fatalf("GET /v1/deliveries: %v: %s", err, maskLeaks(body))
		}
		for _, d := range page.Deliveries {
			ids[d.Destination] = append(ids[d.Destination], d.ID)
			states[d.Destination+" "+d.State] = d.Destination
		}
		if page.NextCursor != "" {
			list(page.NextCursor)
		}
	}
	list("")
	for _, want := range []string{"slack-ok delivered", "slack-gone failed", "slack-echo failed", "teams delivered",
		"teams-echo failed", "echo failed", "refused dead|refused failed"} {
		a, b, _ := strings.Cut(want, "|")
		if _, ok := states[a]; !ok && (b == "" || states[b] == "") {
			t.Errorf("no delivery is %q; states: %v", want, slices.Sorted(maps.Keys(states)))
		}
	}
	if len(ids["echo"]) == 0 || len(ids["refused"]) == 0 {
		t.Fatalf("no echo or refused deliveries: %v", ids)
	}
	direct.do("replays", "retry one echo delivery", http.MethodPost, fmt.Sprintf("/v1/deliveries/%d/retry", ids["echo"][0]), bearerHeader(leakAPIManager), nil)
	direct.do("replays", "retry every refused delivery", http.MethodPost, "/v1/deliveries/retry?destination=refused", bearerHeader(leakAPIManager), nil)
	settle()

	// The sink did echo the secrets back: a leak of its answer is visible.
	echoMu.Lock()
	sample := strings.Join(echoBodies, "\n")
	echoMu.Unlock()
	for _, s := range []string{leakEchoPath, leakEchoQuery, base64.StdEncoding.EncodeToString([]byte("fwd:" + leakEchoPassword)),
		leakSlackEchoToken, leakTeamsEchoPath, leakTeamsEchoSig} {
		if !strings.Contains(sample, s) {
			t.Fatalf("the echo sink's answers do not hold the secrets they should")
		}
	}
	for _, line := range strings.Split(sample, "\n") {
		if len(line) > 120 {
			t.Fatalf("the echo sink's answer is %d bytes; herald cuts at 120, which could hide a leak", len(line))
		}
	}

	// Everything herald answers about them.
	for _, state := range []string{"", "pending", "delivered", "failed", "dead"} {
		direct.do("GET /v1/deliveries", "state="+state, http.MethodGet, "/v1/deliveries?limit=500&state="+state, bearerHeader(leakAPIReader), nil)
	}
	var all []int64
	for _, l := range ids {
		all = append(all, l...)
	}
	slices.Sort(all)
	for _, id := range all {
		direct.do("GET /v1/deliveries/{id}", strconv.FormatInt(id, 10), http.MethodGet, fmt.Sprintf("/v1/deliveries/%d", id), bearerHeader(leakAPIReader), nil)
	}
	direct.do("GET /v1/deliveries/{id}", "unknown id", http.MethodGet, "/v1/deliveries/99999999", bearerHeader(leakAPIReader), nil)
	direct.do("POST /v1/preview/teamcity", "every destination", http.MethodPost, "/v1/preview/teamcity", bearerHeader(leakAPIReader), tcFailure)
	for _, d := range []string{"echo", "teams", "slack-echo"} {
		direct.do("POST /v1/preview/teamcity", d, http.MethodPost, "/v1/preview/teamcity?destination="+d, bearerHeader(leakAPIReader), tcFailure)
	}
	metricsCode, metricsText := direct.do("GET /metrics", "metrics", http.MethodGet, "/metrics", nil, nil)
	if metricsCode != http.StatusOK || !strings.Contains(metricsText, `herald_deliveries_total{destination="echo",outcome="failed"}`) {
		t.Errorf("/metrics does not count the echo failures: %d", metricsCode)
	}
	direct.do("GET /healthz, /readyz", "healthz", http.MethodGet, "/healthz", nil, nil)
	direct.do("GET /healthz, /readyz", "readyz", http.MethodGet, "/readyz", nil, nil)

	// The CLI: config print, validate, send-test, deliveries.
	cli := func(bucket string, extraEnv []string, args ...string) (int, string) {
		t.Helper()
		cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
		defer ccancel()
		cmd := exec.CommandContext(cctx, heraldBin, args...)
		cmd.Dir = dir
		cmd.Env = append(append(os.Environ(), env...), extraEnv...)
		out, err := cmd.CombinedOutput()
		code := 0
		if err != nil {
			ee, ok := err.(*exec.ExitError)
			if !ok {
				t.Fatalf("herald %s: %v", args[0], err)
			}
			code = ee.ExitCode()
		}
		texts.add(bucket, fmt.Sprintf("## herald %s: exit %d\n%s", strings.Join(args[:min(2, len(args))], " "), code, out))
		return code, string(out)
	}
	if code, out := cli("herald config print", nil, "config", "print", "--config", cfgPath); code != 0 || !strings.Contains(out, "<secret>") {
		t.Errorf("config print: exit %d\n%s", code, maskLeaks(out))
	}
	for _, name := range brokenNames {
		if code, _ := cli("herald validate (broken configs)", nil, "validate", "--config", filepath.Join(dir, "broken", name+".yaml")); code == 0 {
			t.Errorf("validate accepted the broken config %s", name)
		}
	}
	if code, out := cli("herald send-test", nil, "send-test", "--config", cfgPath, "--destination", "slack-gone"); code != exitError || !strings.Contains(out, "no_service") {
		t.Errorf("send-test slack-gone: exit %d\n%s", code, maskLeaks(out))
	}
	if code, out := cli("herald send-test", nil, "send-test", "--config", cfgPath, "--destination", "echo"); code != exitError || !strings.Contains(out, "http 400") {
		t.Errorf("send-test echo: exit %d\n%s", code, maskLeaks(out))
	}
	for _, d := range []string{"slack-echo", "teams-echo", "refused"} {
		cli("herald send-test", nil, "send-test", "--config", cfgPath, "--destination", d)
	}
	apiEnv := []string{"HERALD_API_TOKEN=" + leakAPIReader, "HERALD_SERVER=" + direct.base}
	cli("herald deliveries", apiEnv, "deliveries", "list")
	cli("herald deliveries", apiEnv, "deliveries", "show", strconv.FormatInt(ids["echo"][0], 10))
	cli("herald deliveries", apiEnv, "deliveries", "show", strconv.FormatInt(ids["refused"][0], 10))

	// Reloads of broken configs holding secrets: by HTTP, by SIGHUP, and
	// by the file watch; then the good config again.
	for _, name := range brokenNames {
		saveFile(t, cfgPath, broken[name])
		if code, body := direct.do("POST /-/reload (broken configs)", name, http.MethodPost, "/-/reload", bearerHeader(leakAPIManager), nil); code != http.StatusInternalServerError {
			t.Errorf("reload of the broken config %s: %d %s, want 500", name, code, maskLeaks(body))
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool {
		return p.logged("config reload failed; the running configuration stays", map[string]string{"trigger": "sighup"}) &&
			p.logged("config reload failed; the running configuration stays", map[string]string{"trigger": "watch"})
	}, "refused reloads by SIGHUP and by the file watch; logs:\n"+maskLeaks(p.logs.String()))
	saveFile(t, cfgPath, good)
	waitFor(t, 10*time.Second, func() bool { return p.logged("config reloaded", map[string]string{"trigger": "watch"}) },
		"the good config reloaded; logs:\n"+maskLeaks(p.logs.String()))

	// Stop herald so that its log is complete, shutdown included.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-ctx.Done():
		t.Fatal("herald did not stop after SIGTERM")
	}
	logs := p.logs.String()
	if !strings.Contains(logs, `"level":"debug"`) {
		t.Errorf("no debug line in the log: was --log-level debug applied?")
	}
	texts.add("serve log (stderr, --log-level debug)", logs)

	// The assertion: no secret, in any form, in anything collected.
	for _, name := range texts.names {
		text := texts.texts[name].String()
		masked := maskLeaks(text) // excerpts are cut from the masked text: no secret, whole or in part, in a failure message
		for _, s := range leakSecrets() {
			if n := strings.Count(text, s.value); n > 0 {
				tag := maskLeaks(s.value)
				i := strings.Index(masked, tag)
				from, to := max(0, i-160), min(len(masked), i+len(tag)+160)
				t.Errorf("%s holds the %s %d times:\n…%s…", name, s.name, n, masked[from:to])
			}
		}
		// HERALD_LEAK_DUMP=DIR writes each text, masked, to DIR for review.
		if dump := os.Getenv("HERALD_LEAK_DUMP"); dump != "" {
			_ = os.WriteFile(filepath.Join(dump, strings.NewReplacer("/", "_", " ", "_").Replace(name)+".txt"), []byte(masked), 0o644)
		}
	}
	if t.Failed() {
		t.Logf("texts checked: %s", strings.Join(texts.names, "; "))
	}
}

// maskLeaks replaces every test secret in s by its name, so that a failure
// message shows where a secret is without repeating it.
func maskLeaks(s string) string {
	var pairs []string
	for _, l := range leakSecrets() {
		pairs = append(pairs, l.value, "<SECRET: "+l.name+">")
	}
	return strings.NewReplacer(pairs...).Replace(s)
}
