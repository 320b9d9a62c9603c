package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herald-ci/herald/internal/config"
)

// The Standard Webhooks reference libraries' signing example
// (libraries/go/webhook_test.go, TestWebhookSign).
const (
	specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTime   = 1614265330
	specBody   = `{"test": 2432232314}`
	specSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

// GitHub's "Validating webhook deliveries" test values.
const (
	githubSecret = "It's a Secret to Everybody"
	githubBody   = "Hello, World!"
	githubSig    = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
)

var specNow = time.Unix(specTime, 0)

func mustNew(t testing.TB, source string, s config.Source) *Verifier {
	t.Helper()
	v, err := New(source, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// signStandard signs like a Standard Webhooks sender.
func signStandard(secret, id string, ts int64, body string) string {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		panic(err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "." + body))
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func signHub(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestSpecVectors(t *testing.T) {
	t.Parallel()
	if got := signStandard(specSecret, specID, specTime, specBody); got != specSig {
		t.Fatalf("test signer disagrees with the spec's example: %s", got)
	}
	if got := signHub(githubSecret, githubBody); got != githubSig {
		t.Fatalf("test signer disagrees with GitHub's example: %s", got)
	}
	v := mustNew(t, "generic", config.Source{
		StandardWebhooks: &config.StandardWebhooks{Secrets: []config.Secret{specSecret}},
		HubSignature:     &config.HubSignature{Secret: githubSecret},
	})
	std := header(HeaderWebhookID, specID, HeaderWebhookTimestamp, strconv.Itoa(specTime), HeaderWebhookSignature, specSig)
	if err := v.Verify(Request{Header: std}, []byte(specBody), specNow); err != nil {
		t.Errorf("the spec's example does not verify: %v", err)
	}
	if err := v.Verify(Request{Header: header(HeaderHubSignature, githubSig)}, []byte(githubBody), specNow); err != nil {
		t.Errorf("GitHub's example does not verify: %v", err)
	}
}

func TestStandardWebhooks(t *testing.T) {
	t.Parallel()
	const (
		old   = "whsec_" + "c2VjcmV0LWtleS1iZWluZy1yb3RhdGVkLW91dA==" // "secret-key-being-rotated-out"
		other = "whsec_" + "YW5vdGhlci1rZXktbm90LWNvbmZpZ3VyZWQ="     // "another-key-not-configured"
		body  = `{"event":"build"}`
	)
	v := mustNew(t, "generic", config.Source{StandardWebhooks: &config.StandardWebhooks{Secrets: []config.Secret{specSecret, old}}})
	ts := specNow.Unix()
	good := signStandard(specSecret, "msg_1", ts, body)
	h := func(id string, ts int64, sig string) http.Header {
		return header(HeaderWebhookID, id, HeaderWebhookTimestamp, strconv.FormatInt(ts, 10), HeaderWebhookSignature, sig)
	}
	tests := []struct {
		name string
		h    http.Header
		body string
		now  time.Time
		want error
	}{
		{"valid", h("msg_1", ts, good), body, specNow, nil},
		{"signed with the second secret (rotation)", h("msg_1", ts, signStandard(old, "msg_1", ts, body)), body, specNow, nil},
		{"one good signature among several", h("msg_1", ts, "v1a,xxxx v2,"+good[3:]+" v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= "+good), body, specNow, nil},
		{"4 minutes 59 old", h("msg_1", ts, good), body, specNow.Add(299 * time.Second), nil},
		{"5 minutes ahead", h("msg_1", ts, good), body, specNow.Add(-Tolerance), nil},
		{"tampered body", h("msg_1", ts, good), body + " ", specNow, ErrInvalid},
		{"other id", h("msg_2", ts, good), body, specNow, ErrInvalid},
		{"other timestamp", h("msg_1", ts+1, good), body, specNow, ErrInvalid},
		{"secret not configured", h("msg_1", ts, signStandard(other, "msg_1", ts, body)), body, specNow, ErrInvalid},
		{"only a v2 signature", h("msg_1", ts, "v2,"+good[3:]), body, specNow, ErrInvalid},
		{"signature not base64", h("msg_1", ts, "v1,!!!"), body, specNow, ErrInvalid},
		{"too old", h("msg_1", ts, good), body, specNow.Add(Tolerance + time.Second), ErrExpired},
		{"too new", h("msg_1", ts, good), body, specNow.Add(-Tolerance - time.Second), ErrExpired},
		{"timestamp with a sign", header(HeaderWebhookID, "msg_1", HeaderWebhookTimestamp, "+"+strconv.FormatInt(ts, 10), HeaderWebhookSignature, good), body, specNow, ErrInvalid},
		{"timestamp in milliseconds", h("msg_1", ts*1000, signStandard(specSecret, "msg_1", ts*1000, body)), body, specNow, ErrExpired},
		{"no id", header(HeaderWebhookTimestamp, strconv.FormatInt(ts, 10), HeaderWebhookSignature, good), body, specNow, ErrInvalid},
		{"no headers", header(), body, specNow, ErrMissing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := v.Verify(Request{Header: tc.h}, []byte(tc.body), tc.now)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestHubSignature(t *testing.T) {
	t.Parallel()
	v := mustNew(t, "generic", config.Source{HubSignature: &config.HubSignature{Secret: githubSecret}})
	tests := []struct {
		name, sig, body string
		want            error
	}{
		{"valid", githubSig, githubBody, nil},
		{"upper-case hex", "sha256=" + strings.ToUpper(githubSig[7:]), githubBody, nil},
		{"tampered body", githubSig, githubBody + "!", ErrInvalid},
		{"other secret", signHub("guess", githubBody), githubBody, ErrInvalid},
		{"sha1", "sha1=" + githubSig[7:47], githubBody, ErrInvalid},
		{"short", githubSig[:20], githubBody, ErrInvalid},
		{"not hex", "sha256=" + strings.Repeat("zz", 32), githubBody, ErrInvalid},
		{"missing", "", githubBody, ErrMissing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := header()
			if tc.sig != "" {
				h.Set(HeaderHubSignature, tc.sig)
			}
			err := v.Verify(Request{Header: h}, []byte(tc.body), specNow)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestHeaderMethods(t *testing.T) {
	t.Parallel()
	const token = "0123456789abcdef-token"
	creds := &config.BasicAuth{Username: "teamcity", Password: "s3cret:with:colons"}
	tc := mustNew(t, "teamcity", config.Source{BasicAuth: creds})
	ac := mustNew(t, "appcenter", config.Source{BasicAuth: creds, URLToken: token})
	gen := mustNew(t, "generic", config.Source{BearerToken: token})
	tests := []struct {
		name  string
		v     *Verifier
		h     http.Header
		token string
		want  error
	}{
		{"basic", tc, header("Authorization", basic("teamcity", "s3cret:with:colons")), "", nil},
		{"basic, scheme in lower case", tc, header("Authorization", "basic "+basic("teamcity", "s3cret:with:colons")[6:]), "", nil},
		{"basic, wrong password", tc, header("Authorization", basic("teamcity", "s3cret")), "", ErrInvalid},
		{"basic, wrong user", tc, header("Authorization", basic("admin", "s3cret:with:colons")), "", ErrInvalid},
		{"basic, password prefix", tc, header("Authorization", basic("teamcity", "s3cret:with:colons"[:17])), "", ErrInvalid},
		{"basic, not base64", tc, header("Authorization", "Basic %%%"), "", ErrInvalid},
		{"basic, no colon", tc, header("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("teamcity"))), "", ErrInvalid},
		{"basic, nothing", tc, header(), "", ErrMissing},
		{"php-auth headers", tc, header("Php-Auth-User", "teamcity", "Php-Auth-Pw", "s3cret:with:colons"), "", nil},
		{"php-auth headers, wrong", tc, header("Php-Auth-User", "teamcity", "Php-Auth-Pw", "nope"), "", ErrInvalid},
		{"php-auth headers, only the user", tc, header("Php-Auth-User", "teamcity"), "", ErrInvalid},
		{"php-auth wrong, Authorization right", tc, header("Php-Auth-User", "x", "Php-Auth-Pw", "y", "Authorization", basic("teamcity", "s3cret:with:colons")), "", nil},
		{"php-auth headers are TeamCity's only", ac, header("Php-Auth-User", "teamcity", "Php-Auth-Pw", "s3cret:with:colons"), "", ErrMissing},
		{"url token", ac, header(), token, nil},
		{"url token, wrong", ac, header(), token[:len(token)-1], ErrInvalid},
		{"url token, where none is configured", gen, header(), token, ErrMissing},
		{"either method passes", ac, header("Authorization", basic("teamcity", "s3cret:with:colons")), "wrong", nil},
		{"bearer", gen, header("Authorization", "Bearer "+token), "", nil},
		{"bearer, lower case", gen, header("Authorization", "bearer "+token), "", nil},
		{"bearer, wrong", gen, header("Authorization", "Bearer "+token+"x"), "", ErrInvalid},
		{"bearer, empty", gen, header("Authorization", "Bearer "), "", ErrMissing},
		{"bearer given as basic", gen, header("Authorization", basic(token, "")), "", ErrMissing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.v.CheckHeaders(Request{Header: tc.h, URLToken: tc.token}, specNow)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestCheckHeadersBeforeBody: a source that signs its bodies is rejected
// before the body is read when the signature headers are missing, stale or
// malformed, and asks for the body otherwise.
func TestCheckHeadersBeforeBody(t *testing.T) {
	t.Parallel()
	v := mustNew(t, "generic", config.Source{
		StandardWebhooks: &config.StandardWebhooks{Secrets: []config.Secret{specSecret}},
		BearerToken:      "0123456789abcdef-token",
	})
	ts := strconv.Itoa(specTime)
	tests := []struct {
		name string
		h    http.Header
		want error
	}{
		{"signature headers", header(HeaderWebhookID, "m", HeaderWebhookTimestamp, ts, HeaderWebhookSignature, specSig), ErrNeedBody},
		{"bearer alone decides", header("Authorization", "Bearer 0123456789abcdef-token"), nil},
		{"nothing", header(), ErrMissing},
		{"stale", header(HeaderWebhookID, "m", HeaderWebhookTimestamp, "1000", HeaderWebhookSignature, specSig), ErrExpired},
		{"wrong bearer and signature headers", header("Authorization", "Bearer x", HeaderWebhookID, "m", HeaderWebhookTimestamp, ts, HeaderWebhookSignature, specSig), ErrNeedBody},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := v.CheckHeaders(Request{Header: tc.h}, specNow); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestOpenAndDescriptions(t *testing.T) {
	t.Parallel()
	open := mustNew(t, "generic", config.Source{Insecure: true})
	if !open.Open() || open.CheckHeaders(Request{Header: header()}, specNow) != nil {
		t.Errorf("a source without methods should accept every request")
	}
	all := mustNew(t, "teamcity", config.Source{
		BasicAuth:        &config.BasicAuth{Username: "u", Password: "p"},
		BearerToken:      "0123456789abcdef-token",
		StandardWebhooks: &config.StandardWebhooks{Secrets: []config.Secret{specSecret}},
		HubSignature:     &config.HubSignature{Secret: "hub"},
		URLToken:         "0123456789abcdef-url",
	})
	if all.Open() || !all.TakesURLToken() {
		t.Errorf("Open %v, TakesURLToken %v", all.Open(), all.TakesURLToken())
	}
	if got, want := all.Methods(), []string{"basic_auth", "bearer_token", "standard_webhooks", "hub_signature", "url_token"}; !slices.Equal(got, want) {
		t.Errorf("methods %v, want %v", got, want)
	}
	c := all.Challenges()
	if len(c) != 5 || !strings.HasPrefix(c[0], "Basic realm=") || !strings.HasPrefix(c[1], "Bearer realm=") {
		t.Errorf("challenges %q: Basic first, then Bearer", c)
	}
	for _, s := range c {
		for _, secret := range []string{"0123456789abcdef", "hub", specSecret[6:]} {
			if strings.Contains(s, secret) {
				t.Errorf("challenge %q holds a secret", s)
			}
		}
	}
}

func TestNewRejectsBadKeys(t *testing.T) {
	t.Parallel()
	for _, s := range []config.Source{
		{StandardWebhooks: &config.StandardWebhooks{Secrets: []config.Secret{"whsec_not-base64!"}}},
		{StandardWebhooks: &config.StandardWebhooks{}},
		{HubSignature: &config.HubSignature{}},
	} {
		if _, err := New("generic", s); err == nil {
			t.Errorf("New accepted %+v", s)
		} else if strings.Contains(err.Error(), "not-base64") {
			t.Errorf("the error holds the secret: %v", err)
		}
	}
}
