package server

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters"
	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/internal/store"
)

func TestAPITokenRoles(t *testing.T) {
	t.Parallel()
	st := &fakeDeliveries{get: map[int64]store.DeliveryInfo{7: {ID: 7, State: store.DeliveryFailed}}}
	s := newTestServer(t, st)
	const (
		reader    = "test-reader-token-00001"
		developer = "test-developer-token-01"
		manager   = testManagerToken
	)
	for _, tc := range []struct {
		name, token, method, path string
		code                      int
		want                      string
	}{
		{"no token", "", "GET", "/v1/deliveries", 401, "an API token is required"},
		{"unknown token", "not-a-configured-token", "GET", "/v1/deliveries", 401, "not valid"},
		{"a prefix of a token", reader[:len(reader)-1], "GET", "/v1/deliveries", 401, "not valid"},
		{"reader reads", reader, "GET", "/v1/deliveries", 200, `"deliveries"`},
		{"reader reads one", reader, "GET", "/v1/deliveries/7", 200, `"id":7`},
		{"reader cannot replay", reader, "POST", "/v1/deliveries/7/retry", 403, "token viewer has role reader; this needs developer"},
		{"reader cannot bulk replay", reader, "POST", "/v1/deliveries/retry?destination=failures", 403, "needs developer"},
		{"developer replays", developer, "POST", "/v1/deliveries/7/retry", 200, `"id":7`},
		{"manager replays", manager, "POST", "/v1/deliveries/retry?destination=failures", 200, `"count":0`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, _ := doAs(s, tc.token, tc.method, tc.path, "", nil)
			if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.want) {
				t.Fatalf("%s %s as %q = %d %s; want %d containing %q", tc.method, tc.path, tc.token, rec.Code, rec.Body, tc.code, tc.want)
			}
			if tc.code == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("401 without a Bearer challenge: %v", rec.Header())
			}
			if tc.token != "" && strings.Contains(rec.Body.String(), tc.token) {
				t.Errorf("the answer echoes the token: %s", rec.Body)
			}
		})
	}
	// Other schemes are not bearer tokens.
	req := httptest.NewRequest("GET", "/v1/deliveries", nil)
	req.SetBasicAuth("ops", manager)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != 401 {
		t.Errorf("basic auth accepted as a token: %d", rec.Code)
	}
}

func TestAPIOffWithoutTokens(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse([]byte("destinations: [{name: all, type: console}]"), ".")
	if err != nil {
		t.Fatal(err)
	}
	set, err := adapters.NewSet(cfg, notify.Client(0), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	s := New(&Runtime{Config: cfg, Adapters: set}, &fakeDeliveries{}, nil, zerolog.Nop())
	for _, tok := range []string{"", testManagerToken} {
		rec, _ := doAs(s, tok, "GET", "/v1/deliveries", "", nil)
		if rec.Code != 404 || !strings.Contains(rec.Body.String(), "configure api.tokens") {
			t.Errorf("token %q: %d %s; want 404 saying the API is off", tok, rec.Code, rec.Body)
		}
	}
}

func TestAPITokensFollowReload(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, &fakeDeliveries{})
	if rec, _ := do(s, "GET", "/v1/deliveries", "", nil); rec.Code != 200 {
		t.Fatalf("before reload: %d", rec.Code)
	}
	cfg, err := config.Parse([]byte(`
api: {tokens: [{name: new, role: reader, token: a-brand-new-token-after-reload}]}
destinations: [{name: all, type: console}]`), ".")
	if err != nil {
		t.Fatal(err)
	}
	set, err := adapters.NewSet(cfg, notify.Client(0), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	s.Swap(&Runtime{Config: cfg, Adapters: set})
	if rec, _ := do(s, "GET", "/v1/deliveries", "", nil); rec.Code != 401 {
		t.Errorf("old token after reload: %d; want 401", rec.Code)
	}
	if rec, _ := doAs(s, "a-brand-new-token-after-reload", "GET", "/v1/deliveries", "", nil); rec.Code != 200 {
		t.Errorf("new token after reload: %d; want 200", rec.Code)
	}
}

// TestAPITokenGuessesThrottled: unknown tokens count against the address;
// past the limit even a valid token from it waits, other addresses don't.
func TestAPITokenGuessesThrottled(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, &fakeDeliveries{})
	get := func(addr, tok string) int {
		req := httptest.NewRequest("GET", "/v1/deliveries", nil)
		req.RemoteAddr = addr
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	for i := range AuthFailureLimit {
		if code := get("203.0.113.9:4000", "guess-guess-guess-"+strconv.Itoa(i)); code != 401 {
			t.Fatalf("guess %d: %d, want 401", i, code)
		}
	}
	if code := get("203.0.113.9:4001", testManagerToken); code != 429 {
		t.Errorf("a valid token after %d guesses: %d, want 429", AuthFailureLimit, code)
	}
	if code := get("192.0.2.1:4000", testManagerToken); code != 200 {
		t.Errorf("another address: %d, want 200", code)
	}
}
