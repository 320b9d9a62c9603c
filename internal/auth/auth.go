// Package auth decides whether an inbound request comes from the sender a
// source is configured for: HTTP Basic (and TeamCity's php-auth-user /
// php-auth-pw pair), bearer tokens, tokens in the URL, Standard Webhooks
// signatures and X-Hub-Signature-256.
//
// A Verifier is pure: headers, the URL token, the raw body and the time in,
// a verdict out. It does no I/O, keeps no clock and logs nothing. Throttle
// counts failures per remote address, in bounded memory, with the time
// passed in.
//
// Every comparison against a secret is constant-time, and no error holds
// any part of the request or of a secret.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/herald-ci/herald/internal/config"
)

// Failures, from the least to the most specific. Their texts are safe to
// send back to the client.
var (
	// ErrMissing: the request carries no credentials for any configured method.
	ErrMissing = errors.New("credentials required")
	// ErrInvalid: credentials or a signature were given and are wrong or malformed.
	ErrInvalid = errors.New("invalid credentials")
	// ErrExpired: a Standard Webhooks timestamp outside the tolerance.
	ErrExpired = errors.New("webhook-timestamp is more than 5 minutes away from the server's clock")
)

// ErrNeedBody is what CheckHeaders returns when only the body can decide:
// the headers of a signature method are present and well formed.
var ErrNeedBody = errors.New("the signature is checked against the body")

// Tolerance is how far a Standard Webhooks timestamp may be from now, in
// either direction (the spec's recommendation: 5 minutes).
const Tolerance = 5 * time.Minute

// teamcity is the source whose sender may carry Basic credentials in the
// php-auth-user / php-auth-pw headers (TeamCity's webhook docs name them).
const teamcity = "teamcity"

// Request is what verification looks at, besides the body.
type Request struct {
	Header http.Header
	// URLToken is the token of POST /v1/events/{source}/{token} or ?token=.
	URLToken string
}

// digest is the SHA-256 of a secret: comparing digests takes the same time
// whatever the lengths of the two values.
type digest [sha256.Size]byte

func digestOf(s string) digest { return sha256.Sum256([]byte(s)) }

func (d digest) matches(s string) bool {
	got := digestOf(s)
	return subtle.ConstantTimeCompare(got[:], d[:]) == 1
}

// Verifier checks requests against one source's methods.
type Verifier struct {
	basic       *basicCreds
	phpHeaders  bool
	bearer      *digest
	urlToken    *digest
	webhookKeys [][]byte
	hubSecret   []byte
}

type basicCreds struct{ user, pass digest }

// New builds the verifier of source from its config. A source with no
// method configured gets a verifier that accepts every request.
func New(source string, s config.Source) (*Verifier, error) {
	v := &Verifier{}
	if b := s.BasicAuth; b != nil {
		v.basic = &basicCreds{user: digestOf(b.Username), pass: digestOf(b.Password.Value())}
		v.phpHeaders = source == teamcity
	}
	if s.BearerToken != "" {
		d := digestOf(s.BearerToken.Value())
		v.bearer = &d
	}
	if s.URLToken != "" {
		d := digestOf(s.URLToken.Value())
		v.urlToken = &d
	}
	if s.StandardWebhooks != nil {
		keys, err := s.StandardWebhooks.Keys()
		if err != nil {
			return nil, err
		}
		if len(keys) == 0 {
			return nil, errors.New("standard_webhooks: no secret")
		}
		v.webhookKeys = keys
	}
	if h := s.HubSignature; h != nil {
		if h.Secret == "" {
			return nil, errors.New("hub_signature: no secret")
		}
		v.hubSecret = []byte(h.Secret.Value())
	}
	return v, nil
}

// Open reports whether the verifier accepts every request: no method is
// configured.
func (v *Verifier) Open() bool {
	return v.basic == nil && v.bearer == nil && v.urlToken == nil && v.webhookKeys == nil && v.hubSecret == nil
}

// TakesURLToken reports whether a token in the URL can authenticate.
func (v *Verifier) TakesURLToken() bool { return v.urlToken != nil }

// Methods names the configured methods by their config keys, for messages.
func (v *Verifier) Methods() []string {
	var m []string
	if v.basic != nil {
		m = append(m, "basic_auth")
	}
	if v.bearer != nil {
		m = append(m, "bearer_token")
	}
	if v.webhookKeys != nil {
		m = append(m, "standard_webhooks")
	}
	if v.hubSecret != nil {
		m = append(m, "hub_signature")
	}
	if v.urlToken != nil {
		m = append(m, "url_token")
	}
	return m
}

// Challenges are the WWW-Authenticate values of a 401, one per method.
// Basic comes first: TeamCity's client sends its credentials only when
// challenged with it. The signature and URL token methods are not HTTP
// authentication schemes; their names only tell a human what to use.
func (v *Verifier) Challenges() []string {
	const realm = ` realm="herald"`
	var c []string
	if v.basic != nil {
		c = append(c, "Basic"+realm+`, charset="UTF-8"`)
	}
	if v.bearer != nil {
		c = append(c, "Bearer"+realm)
	}
	if v.webhookKeys != nil {
		c = append(c, "Standard-Webhooks"+realm)
	}
	if v.hubSecret != nil {
		c = append(c, "X-Hub-Signature-256"+realm)
	}
	if v.urlToken != nil {
		c = append(c, "URL-Token"+realm)
	}
	return c
}

// CheckHeaders verifies what is known before the body is read. It returns
// nil when a method accepts, ErrNeedBody when the headers of a signature
// method are present and well formed (CheckBody decides), and otherwise
// the most specific failure.
func (v *Verifier) CheckHeaders(r Request, now time.Time) error {
	if v.Open() {
		return nil
	}
	var fail error
	for _, check := range []func(Request) error{v.checkBasic, v.checkBearer, v.checkURLToken} {
		err := check(r)
		if err == nil {
			return nil
		}
		fail = worse(fail, err)
	}
	if v.webhookKeys != nil {
		fail = worse(fail, v.checkStandard(r.Header, nil, now))
	}
	if v.hubSecret != nil {
		fail = worse(fail, v.checkHub(r.Header, nil))
	}
	return fail
}

// CheckBody verifies the signature methods over the raw body. It returns
// nil when one accepts.
func (v *Verifier) CheckBody(r Request, body []byte, now time.Time) error {
	if body == nil {
		body = []byte{}
	}
	var fail error = ErrMissing
	if v.webhookKeys != nil {
		if err := v.checkStandard(r.Header, body, now); err == nil {
			return nil
		} else {
			fail = worse(fail, err)
		}
	}
	if v.hubSecret != nil {
		if err := v.checkHub(r.Header, body); err == nil {
			return nil
		} else {
			fail = worse(fail, err)
		}
	}
	return fail
}

// Verify is CheckHeaders followed, when needed, by CheckBody.
func (v *Verifier) Verify(r Request, body []byte, now time.Time) error {
	err := v.CheckHeaders(r, now)
	if errors.Is(err, ErrNeedBody) {
		return v.CheckBody(r, body, now)
	}
	return err
}

// rank orders failures: a request that needs its body may still pass, and
// beyond that the more specific failure is the more useful answer.
func rank(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrMissing):
		return 1
	case errors.Is(err, ErrInvalid):
		return 2
	case errors.Is(err, ErrExpired):
		return 3
	case errors.Is(err, ErrNeedBody):
		return 4
	}
	return 2
}

func worse(a, b error) error {
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// cutScheme splits an Authorization value "<scheme> <rest>", the scheme
// compared case-insensitively (RFC 9110 section 11.1).
func cutScheme(authz, scheme string) (string, bool) {
	if len(authz) <= len(scheme) || authz[len(scheme)] != ' ' || !strings.EqualFold(authz[:len(scheme)], scheme) {
		return "", false
	}
	return strings.TrimLeft(authz[len(scheme)+1:], " "), true
}

func (v *Verifier) checkBasic(r Request) error {
	if v.basic == nil {
		return ErrMissing
	}
	if v.phpHeaders {
		user, pass := r.Header.Get("Php-Auth-User"), r.Header.Get("Php-Auth-Pw")
		if user != "" || pass != "" {
			if v.basic.matches(user, pass) {
				return nil
			}
			// Basic in Authorization may still match.
			if _, ok := cutScheme(r.Header.Get("Authorization"), "Basic"); !ok {
				return ErrInvalid
			}
		}
	}
	cred, ok := cutScheme(r.Header.Get("Authorization"), "Basic")
	if !ok {
		return ErrMissing
	}
	raw, err := base64.StdEncoding.DecodeString(cred)
	if err != nil {
		return ErrInvalid
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok || !v.basic.matches(user, pass) {
		return ErrInvalid
	}
	return nil
}

// matches compares both halves every time, so the time taken does not say
// which one was wrong.
func (b *basicCreds) matches(user, pass string) bool {
	u, p := digestOf(user), digestOf(pass)
	return subtle.ConstantTimeCompare(u[:], b.user[:])&subtle.ConstantTimeCompare(p[:], b.pass[:]) == 1
}

func (v *Verifier) checkBearer(r Request) error {
	if v.bearer == nil {
		return ErrMissing
	}
	token, ok := cutScheme(r.Header.Get("Authorization"), "Bearer")
	token = strings.TrimRight(token, " ")
	if !ok || token == "" {
		return ErrMissing
	}
	if !v.bearer.matches(token) {
		return ErrInvalid
	}
	return nil
}

func (v *Verifier) checkURLToken(r Request) error {
	if v.urlToken == nil || r.URLToken == "" {
		return ErrMissing
	}
	if !v.urlToken.matches(r.URLToken) {
		return ErrInvalid
	}
	return nil
}
