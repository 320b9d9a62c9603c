package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"

	"github.com/herald-ci/herald/internal/config"
)

// FuzzStandardWebhooks: any headers and body, seeded with signed examples.
// Verification never panics, and it passes only when the signature header
// holds the true MAC of exactly the id, timestamp and body given: a
// mutation of any of them does not verify.
func FuzzStandardWebhooks(f *testing.F) {
	ts := strconv.Itoa(specTime)
	f.Add(specID, ts, specSig, []byte(specBody))
	f.Add("msg_2", ts, "v1,bad "+signStandard(specSecret, "msg_2", specTime, "{}"), []byte("{}"))
	f.Add("msg_3", ts, signStandard(specSecret, "msg_3", specTime, "")+" v2,abc", []byte(""))
	f.Add("", "", "", []byte(nil))
	// Valid headers over another body, id or time: must not verify.
	f.Add(specID, ts, specSig, []byte(specBody+" "))
	f.Add(specID+"x", ts, specSig, []byte(specBody))
	f.Add(specID, strconv.Itoa(specTime+1), specSig, []byte(specBody))
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(specSecret, "whsec_"))
	v := mustNew(f, "generic", config.Source{StandardWebhooks: &config.StandardWebhooks{Secrets: []config.Secret{specSecret}}})
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := header(HeaderWebhookID, id, HeaderWebhookTimestamp, ts, HeaderWebhookSignature, sig)
		err := v.Verify(Request{Header: h}, body, specNow)
		if err != nil {
			return
		}
		m := hmac.New(sha256.New, key)
		m.Write([]byte(h.Get(HeaderWebhookID) + "." + h.Get(HeaderWebhookTimestamp) + "."))
		m.Write(body)
		if want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)); !strings.Contains(sig, want) {
			t.Fatalf("verified without the true signature: id %q ts %q sig %q body %q", id, ts, sig, body)
		}
	})
}

// FuzzHubSignature: verification never panics, and passes only for the
// true MAC of the body.
func FuzzHubSignature(f *testing.F) {
	f.Add(githubSig, []byte(githubBody))
	f.Add(signHub(githubSecret, "{}"), []byte("{}"))
	f.Add("sha256=", []byte(nil))
	f.Add(githubSig, []byte(githubBody+"!")) // must not verify
	v := mustNew(f, "generic", config.Source{HubSignature: &config.HubSignature{Secret: githubSecret}})
	f.Fuzz(func(t *testing.T, sig string, body []byte) {
		err := v.Verify(Request{Header: header(HeaderHubSignature, sig)}, body, specNow)
		if err != nil {
			return
		}
		m := hmac.New(sha256.New, []byte(githubSecret))
		m.Write(body)
		if got := strings.ToLower(strings.TrimSpace(sig)); got != "sha256="+hex.EncodeToString(m.Sum(nil)) {
			t.Fatalf("verified without the true signature: sig %q body %q", sig, body)
		}
	})
}

// FuzzAuthorization: any Authorization header, any URL token. Never
// panics, and passes only with the configured credentials.
func FuzzAuthorization(f *testing.F) {
	const token = "0123456789abcdef-token"
	f.Add(basic("teamcity", "pw"), "")
	f.Add("Bearer "+token, "")
	f.Add("Basic", token)
	f.Add("bearer  "+token+"  ", "x")
	f.Add(basic("teamcity", "pX"), token[1:]) // must not verify
	f.Add("Bearer "+token[1:], "")
	v := mustNew(f, "teamcity", config.Source{
		BasicAuth:   &config.BasicAuth{Username: "teamcity", Password: "pw"},
		BearerToken: token,
		URLToken:    token,
	})
	f.Fuzz(func(t *testing.T, authz, urlToken string) {
		err := v.CheckHeaders(Request{Header: header("Authorization", authz), URLToken: urlToken}, specNow)
		if err != nil {
			return
		}
		got := header("Authorization", authz).Get("Authorization")
		ok := urlToken == token || strings.Contains(got, token)
		if scheme, cred, _ := strings.Cut(got, " "); strings.EqualFold(scheme, "basic") {
			raw, _ := base64.StdEncoding.DecodeString(strings.TrimLeft(cred, " "))
			ok = ok || string(raw) == "teamcity:pw"
		}
		if !ok {
			t.Fatalf("accepted Authorization %q with URL token %q", authz, urlToken)
		}
	})
}
