package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks headers (https://www.standardwebhooks.com, "Verifying
// webhook authenticity"): the signed content is "<id>.<timestamp>.<body>",
// the signature header a space-separated list of "v1,<base64 HMAC-SHA256>"
// (several while the sender rotates keys; other versions are skipped).
const (
	HeaderWebhookID        = "Webhook-Id"
	HeaderWebhookTimestamp = "Webhook-Timestamp"
	HeaderWebhookSignature = "Webhook-Signature"
)

// HeaderHubSignature carries "sha256=<hex HMAC-SHA256 of the body>", as
// GitHub sends it.
const HeaderHubSignature = "X-Hub-Signature-256"

// checkStandard verifies the Standard Webhooks headers. With a nil body it
// checks only what the headers say and returns ErrNeedBody when they are
// well formed and in time.
func (v *Verifier) checkStandard(h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get(HeaderWebhookID), h.Get(HeaderWebhookTimestamp), h.Get(HeaderWebhookSignature)
	if id == "" && ts == "" && sigs == "" {
		return ErrMissing
	}
	if id == "" || ts == "" || sigs == "" {
		return ErrInvalid
	}
	sec, ok := parseUnix(ts)
	if !ok {
		return ErrInvalid
	}
	// In whole seconds, as the header is; no overflow: 0 <= sec < 10^18.
	if d := now.Unix() - sec; d > int64(Tolerance/time.Second) || -d > int64(Tolerance/time.Second) {
		return ErrExpired
	}
	var given [][]byte
	for _, f := range strings.Fields(sigs) {
		version, sig, ok := strings.Cut(f, ",")
		if !ok || version != "v1" {
			continue
		}
		mac, err := base64.StdEncoding.Strict().DecodeString(sig) // canonical only: one signature, one spelling
		if err != nil || len(mac) != sha256.Size {
			continue
		}
		given = append(given, mac)
	}
	if len(given) == 0 {
		return ErrInvalid
	}
	if body == nil {
		return ErrNeedBody
	}
	for _, key := range v.webhookKeys {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(id))
		m.Write([]byte{'.'})
		m.Write([]byte(ts))
		m.Write([]byte{'.'})
		m.Write(body)
		want := m.Sum(nil)
		for _, mac := range given {
			if hmac.Equal(mac, want) {
				return nil
			}
		}
	}
	return ErrInvalid
}

// parseUnix reads a timestamp of decimal digits only (no sign, no space):
// the bytes signed are the header's, so they must mean one number.
func parseUnix(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// checkHub verifies X-Hub-Signature-256. With a nil body it checks only
// the header's form and returns ErrNeedBody when it is well formed.
func (v *Verifier) checkHub(h http.Header, body []byte) error {
	val := h.Get(HeaderHubSignature)
	if val == "" {
		return ErrMissing
	}
	algo, hexMAC, ok := strings.Cut(strings.TrimSpace(val), "=")
	if !ok || algo != "sha256" || len(hexMAC) != hex.EncodedLen(sha256.Size) {
		return ErrInvalid
	}
	mac, err := hex.DecodeString(hexMAC)
	if err != nil {
		return ErrInvalid
	}
	if body == nil {
		return ErrNeedBody
	}
	m := hmac.New(sha256.New, v.hubSecret)
	m.Write(body)
	if !hmac.Equal(mac, m.Sum(nil)) {
		return ErrInvalid
	}
	return nil
}
