package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
)

// SourceNames are the sources herald serves, the keys allowed under
// sources:. A fixed list, because package sources cannot be imported here
// without a cycle; a test holds it equal to sources.Names().
var SourceNames = []string{"appcenter", "generic", "teamcity"}

// Inbound defaults.
const (
	// DefaultMaxConcurrentRequests bounds the ingest requests served at
	// once. Each holds at most limits.max_body_bytes in memory, so the
	// default bounds the bodies held at once to 256 MiB at the default size.
	DefaultMaxConcurrentRequests = 256
	// MinTokenLength is the shortest bearer_token or url_token accepted:
	// 16 characters, since anyone who can reach the port can try them.
	MinTokenLength = 16
	// MinWebhookKeyBytes is the shortest Standard Webhooks key accepted,
	// decoded (the spec asks for 24 to 64 bytes).
	MinWebhookKeyBytes = 16
	// WebhookSecretPrefix starts a Standard Webhooks secret; the base64 key
	// follows it.
	WebhookSecretPrefix = "whsec_"
)

// Source is the inbound configuration of one source (teamcity, appcenter,
// generic): how its requests authenticate and how large they may be.
//
// Any number of methods may be set; a request that passes any one of them
// is accepted. With none set the source accepts every request, which
// herald serve refuses beyond loopback unless Insecure says so.
type Source struct {
	// BasicAuth: HTTP Basic (Authorization: Basic ...). For teamcity, the
	// php-auth-user / php-auth-pw header pair carries the same credentials.
	BasicAuth *BasicAuth `yaml:"basic_auth,omitempty"`
	// BearerToken: Authorization: Bearer <token>.
	BearerToken     Secret `yaml:"bearer_token,omitempty"`
	BearerTokenFile string `yaml:"bearer_token_file,omitempty"`
	// StandardWebhooks: webhook-id / webhook-timestamp / webhook-signature
	// (https://www.standardwebhooks.com), HMAC-SHA256 keyed by whsec_ secrets.
	StandardWebhooks *StandardWebhooks `yaml:"standard_webhooks,omitempty"`
	// HubSignature: X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>,
	// as GitHub and many others send.
	HubSignature *HubSignature `yaml:"hub_signature,omitempty"`
	// URLToken: a token in the URL, for senders that cannot set headers
	// (App Center): POST /v1/events/{source}/{token} or ?token=.
	URLToken     Secret `yaml:"url_token,omitempty"`
	URLTokenFile string `yaml:"url_token_file,omitempty"`

	// Insecure accepts the source's requests without authentication even
	// when herald listens beyond loopback (logged at every start).
	Insecure bool `yaml:"insecure,omitempty"`

	// MaxBodyBytes bounds the source's request bodies (default
	// limits.max_body_bytes).
	MaxBodyBytes int64 `yaml:"max_body_bytes,omitempty"`
}

// StandardWebhooks holds the signing secrets of a Standard Webhooks sender.
// Several secrets may be listed while a key is rotated.
type StandardWebhooks struct {
	Secrets []Secret `yaml:"secrets,omitempty"`
	// SecretsFile holds one secret per line.
	SecretsFile string `yaml:"secrets_file,omitempty"`
}

// HubSignature holds the shared secret of X-Hub-Signature-256.
type HubSignature struct {
	Secret     Secret `yaml:"secret,omitempty"`
	SecretFile string `yaml:"secret_file,omitempty"`
}

// Keys decodes the secrets into HMAC keys: each is "whsec_" followed by
// base64 (the prefix may be left out). Errors name the secret by position,
// never by value.
func (w *StandardWebhooks) Keys() ([][]byte, error) {
	if w == nil {
		return nil, nil
	}
	keys := make([][]byte, 0, len(w.Secrets))
	for i, s := range w.Secrets {
		k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s.Value(), WebhookSecretPrefix))
		if err != nil {
			return nil, fmt.Errorf("secrets[%d]: not %s followed by base64", i, WebhookSecretPrefix)
		}
		if len(k) < MinWebhookKeyBytes {
			return nil, fmt.Errorf("secrets[%d]: key is %d bytes, want at least %d", i, len(k), MinWebhookKeyBytes)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// Authenticated reports whether the source sets at least one
// authentication method.
func (s Source) Authenticated() bool {
	return s.BasicAuth != nil || s.BearerToken != "" || s.BearerTokenFile != "" ||
		s.StandardWebhooks != nil || s.HubSignature != nil || s.URLToken != "" || s.URLTokenFile != ""
}

// SourceEnabled reports whether herald serves the source: every known
// source when sources: is empty, otherwise only the listed ones.
func (c *Config) SourceEnabled(name string) bool {
	if !slices.Contains(SourceNames, name) {
		return false
	}
	if len(c.Sources) == 0 {
		return true
	}
	_, ok := c.Sources[name]
	return ok
}

// EnabledSources lists the sources herald serves, sorted.
func (c *Config) EnabledSources() []string {
	var out []string
	for _, n := range SourceNames {
		if c.SourceEnabled(n) {
			out = append(out, n)
		}
	}
	return out
}

// SourceMaxBodyBytes is the body limit of the source's requests.
func (c *Config) SourceMaxBodyBytes(name string) int64 {
	if s, ok := c.Sources[name]; ok && s.MaxBodyBytes > 0 {
		return s.MaxBodyBytes
	}
	return c.Limits.MaxBodyBytes
}

// ListensOnLoopback reports whether listen (host:port) binds loopback only:
// localhost, 127.0.0.0/8 or ::1. An empty host binds every interface.
func ListensOnLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// authKeys is how the error of CheckExposure tells the user what to set.
const authKeys = "basic_auth, bearer_token, standard_webhooks, hub_signature or url_token"

// exposureExamples show, per source, the method its sender most likely
// supports (TeamCity sends Basic; App Center can set no header at all).
var exposureExamples = map[string]string{
	"teamcity":  "sources: {teamcity: {basic_auth: {username: teamcity, password_file: /run/secrets/teamcity-password}}}",
	"appcenter": "sources: {appcenter: {url_token_file: /run/secrets/appcenter-token}}",
	"generic":   "sources: {generic: {bearer_token_file: /run/secrets/generic-token}}",
}

// CheckExposure refuses a config that listens beyond loopback while an
// enabled source accepts requests without authentication and does not say
// insecure: true. It returns the enabled sources that accept requests
// without authentication because of insecure: true, to be warned about.
func (c *Config) CheckExposure() (insecure []string, _ error) {
	var open []string
	for _, name := range c.EnabledSources() {
		s := c.Sources[name]
		switch {
		case s.Authenticated():
		case s.Insecure:
			insecure = append(insecure, name)
		default:
			open = append(open, name)
		}
	}
	if len(open) == 0 || ListensOnLoopback(c.Listen) {
		return insecure, nil
	}
	return insecure, fmt.Errorf("listen %s reaches beyond loopback, and these sources accept requests without authentication: %s; "+
		"for each, set one of sources.<name>.%s (e.g. %s), "+
		"or sources.<name>.insecure: true to accept unauthenticated requests anyway; once sources: lists a source, the unlisted ones are disabled",
		c.Listen, strings.Join(open, ", "), authKeys, exposureExamples[open[0]])
}

func (c *Config) setSourceDefaults() {
	// The concurrency cap is an inbound limit: defaulted here, with the
	// sources, so that config.go keeps one line for it.
	if c.Limits.MaxConcurrentRequests == 0 {
		c.Limits.MaxConcurrentRequests = DefaultMaxConcurrentRequests
	}
	for name, s := range c.Sources {
		if s.MaxBodyBytes == 0 {
			s.MaxBodyBytes = c.Limits.MaxBodyBytes
		}
		c.Sources[name] = s
	}
}

// sortedSources lists the configured source names, sorted, so errors come
// out in a stable order.
func (c *Config) sortedSources() []string {
	names := make([]string, 0, len(c.Sources))
	for n := range c.Sources {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// readSourceFiles reads the sources' *_file secrets.
func (c *Config) readSourceFiles() []error {
	var errs []error
	for _, name := range c.sortedSources() {
		s := c.Sources[name]
		fail := func(err error) { errs = append(errs, fmt.Errorf("source %q: %w", name, err)) }
		if s.BasicAuth != nil {
			b := *s.BasicAuth // not shared with any other holder of the pointer
			if err := b.readFile(c); err != nil {
				fail(err)
			}
			s.BasicAuth = &b
		}
		if err := c.readSecret(&s.BearerToken, s.BearerTokenFile, "bearer_token"); err != nil {
			fail(err)
		}
		if err := c.readSecret(&s.URLToken, s.URLTokenFile, "url_token"); err != nil {
			fail(err)
		}
		if h := s.HubSignature; h != nil {
			hs := *h
			if err := c.readSecret(&hs.Secret, hs.SecretFile, "hub_signature.secret"); err != nil {
				fail(err)
			}
			s.HubSignature = &hs
		}
		if w := s.StandardWebhooks; w != nil {
			ws := *w
			if err := c.readSecretList(&ws); err != nil {
				fail(err)
			}
			s.StandardWebhooks = &ws
		}
		c.Sources[name] = s
	}
	return errs
}

// readSecret reads file (relative to the config's directory) into *dst.
func (c *Config) readSecret(dst *Secret, file, key string) error {
	if file == "" {
		return nil
	}
	if *dst != "" {
		return fmt.Errorf("%s and %s_file are both set", key, key)
	}
	v, err := readSecretFile(c.path(file))
	if err != nil {
		return fmt.Errorf("%s_file: %w", key, err)
	}
	*dst = Secret(v)
	return nil
}

// readSecretList reads standard_webhooks.secrets_file: one secret per line,
// blank lines skipped.
func (c *Config) readSecretList(w *StandardWebhooks) error {
	if w.SecretsFile == "" {
		return nil
	}
	if len(w.Secrets) > 0 {
		return errors.New("standard_webhooks: secrets and secrets_file are both set")
	}
	v, err := readSecretFile(c.path(w.SecretsFile))
	if err != nil {
		return fmt.Errorf("standard_webhooks.secrets_file: %w", err)
	}
	for _, line := range strings.Split(v, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			w.Secrets = append(w.Secrets, Secret(line))
		}
	}
	return nil
}

// urlTokenRE keeps URL tokens to characters that need no escaping in a
// path segment or a query.
var urlTokenRE = regexp.MustCompile(`^[A-Za-z0-9._~-]+$`)

// validateSources lists the problems of the sources section, after the
// files are read. Errors name keys, never values.
func (c *Config) validateSources() []error {
	var errs []error
	if c.Limits.MaxConcurrentRequests < 0 {
		errs = append(errs, errors.New("limits.max_concurrent_requests: must be positive"))
	}
	for _, name := range c.sortedSources() {
		s := c.Sources[name]
		add := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("source %q: "+format, append([]any{name}, args...)...))
		}
		if !slices.Contains(SourceNames, name) {
			add("not a known source (valid: %s)", strings.Join(SourceNames, ", "))
			continue
		}
		if b := s.BasicAuth; b != nil {
			if b.Username == "" {
				add("basic_auth.username: required")
			} else if strings.Contains(b.Username, ":") {
				add("basic_auth.username: must not contain ':'")
			}
			if b.Password == "" {
				add("basic_auth: password or password_file is required")
			}
		}
		if s.BearerTokenFile != "" || s.BearerToken != "" {
			if n := len(s.BearerToken.Value()); n < MinTokenLength {
				add("bearer_token: %d characters, want at least %d (e.g. openssl rand -hex 32)", n, MinTokenLength)
			}
		}
		if s.URLTokenFile != "" || s.URLToken != "" {
			v := s.URLToken.Value()
			switch {
			case len(v) < MinTokenLength:
				add("url_token: %d characters, want at least %d (e.g. openssl rand -hex 32)", len(v), MinTokenLength)
			case !urlTokenRE.MatchString(v):
				add("url_token: may hold only letters, digits and . _ ~ -")
			}
		}
		if h := s.HubSignature; h != nil && h.Secret == "" {
			add("hub_signature: secret or secret_file is required")
		}
		if w := s.StandardWebhooks; w != nil {
			if len(w.Secrets) == 0 {
				add("standard_webhooks: secrets or secrets_file is required")
			} else if _, err := w.Keys(); err != nil {
				add("standard_webhooks.%w", err)
			}
		}
		if s.Insecure && s.Authenticated() {
			add("insecure: true has no effect while an authentication method is set; remove it")
		}
		if s.MaxBodyBytes < 0 {
			add("max_body_bytes: must be positive")
		}
	}
	return errs
}
