package config_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/sources"
)

const dest = "destinations: [{name: log, type: console}]\n"

// Secrets used below; none may show in a dump or an error.
const (
	tokenA  = "tok-AAAAAAAAAAAAAAAAAAAA"
	tokenB  = "tok-BBBBBBBBBBBBBBBBBBBB"
	passA   = "pass-CCCCCCCC"
	hubA    = "hub-DDDDDDDDDDDD"
	whsecA  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	whsecB  = "whsec_c2VjcmV0LWtleS1iZWluZy1yb3RhdGVkLW91dA=="
	fileTok = "tok-FFFFFFFFFFFFFFFFFFFF"
)

func TestSourceNamesMatchRegistry(t *testing.T) {
	if !slices.Equal(config.SourceNames, sources.Names()) {
		t.Errorf("config.SourceNames %v, sources.Names() %v: keep them equal", config.SourceNames, sources.Names())
	}
}

func writeSecret(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSourcesLoad(t *testing.T) {
	dir := t.TempDir()
	writeSecret(t, dir, "tc-password", passA+"\n")
	writeSecret(t, dir, "ac-token", fileTok+"\n")
	writeSecret(t, dir, "whsec", whsecA+"\n\n"+whsecB+"\n")
	writeSecret(t, dir, "hub", hubA)
	t.Setenv("HERALD_TEST_BEARER", tokenA)
	c, err := config.Parse([]byte(`
limits: {max_body_bytes: 2048}
sources:
  teamcity:
    basic_auth: {username: teamcity, password_file: tc-password}
    bearer_token: ${HERALD_TEST_BEARER}
  appcenter:
    url_token_file: ac-token
    max_body_bytes: 100000
  generic:
    standard_webhooks: {secrets_file: whsec}
    hub_signature: {secret_file: hub}
`+dest), dir)
	if err != nil {
		t.Fatal(err)
	}
	tc, ac, gen := c.Sources["teamcity"], c.Sources["appcenter"], c.Sources["generic"]
	if tc.BasicAuth.Password.Value() != passA || tc.BearerToken.Value() != tokenA {
		t.Errorf("teamcity secrets not read: %q %q", tc.BasicAuth.Password.Value(), tc.BearerToken.Value())
	}
	if ac.URLToken.Value() != fileTok {
		t.Errorf("url_token_file not read: %q", ac.URLToken.Value())
	}
	if gen.HubSignature.Secret.Value() != hubA {
		t.Errorf("hub_signature.secret_file not read")
	}
	keys, err := gen.StandardWebhooks.Keys()
	if err != nil || len(keys) != 2 || string(keys[1]) != "secret-key-being-rotated-out" {
		t.Errorf("standard_webhooks.secrets_file: %d keys, %v", len(keys), err)
	}
	if got := c.SourceMaxBodyBytes("teamcity"); got != 2048 {
		t.Errorf("teamcity max_body_bytes %d, want limits.max_body_bytes 2048", got)
	}
	if got := c.SourceMaxBodyBytes("appcenter"); got != 100000 {
		t.Errorf("appcenter max_body_bytes %d, want 100000", got)
	}
	if c.Limits.MaxConcurrentRequests != config.DefaultMaxConcurrentRequests {
		t.Errorf("limits.max_concurrent_requests default %d", c.Limits.MaxConcurrentRequests)
	}
	for _, n := range config.SourceNames {
		if !c.Sources[n].Authenticated() {
			t.Errorf("%s: not authenticated", n)
		}
	}
}

func TestSourcesEnabled(t *testing.T) {
	none, err := config.Parse([]byte(dest), ".")
	if err != nil {
		t.Fatal(err)
	}
	if got := none.EnabledSources(); !slices.Equal(got, config.SourceNames) {
		t.Errorf("without sources: every source is enabled, got %v", got)
	}
	one, err := config.Parse([]byte("sources: {appcenter: {url_token: "+tokenA+"}}\n"+dest), ".")
	if err != nil {
		t.Fatal(err)
	}
	if got := one.EnabledSources(); !slices.Equal(got, []string{"appcenter"}) {
		t.Errorf("with sources: only the listed ones, got %v", got)
	}
	if one.SourceEnabled("teamcity") || one.SourceEnabled("jenkins") || none.SourceEnabled("jenkins") {
		t.Errorf("an unlisted or unknown source is enabled")
	}
	if got := one.SourceMaxBodyBytes("teamcity"); got != config.DefaultMaxBodyBytes {
		t.Errorf("an unlisted source's limit %d", got)
	}
}

func TestSourcesInvalid(t *testing.T) {
	dir := t.TempDir()
	writeSecret(t, dir, "tok", tokenA)
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown source", `sources: {jenkins: {insecure: true}}`, `source "jenkins": not a known source (valid: appcenter, generic, teamcity)`},
		{"unknown key", "sources:\n  teamcity:\n    token: x", `line 3: field token is not a known key of Source`},
		{"short bearer token", `sources: {generic: {bearer_token: short}}`, `source "generic": bearer_token: 5 characters, want at least 16 (e.g. openssl rand -hex 32)`},
		{"short url token", `sources: {appcenter: {url_token: short}}`, `source "appcenter": url_token: 5 characters, want at least 16 (e.g. openssl rand -hex 32)`},
		{"url token needing escapes", `sources: {appcenter: {url_token: "abcdefgh/ijklmnop?q"}}`, `source "appcenter": url_token: may hold only letters, digits and . _ ~ -`},
		{"token and its file", `sources: {appcenter: {url_token: ` + tokenB + `, url_token_file: tok}}`, `source "appcenter": url_token and url_token_file are both set`},
		{"missing file", `sources: {generic: {bearer_token_file: nope}}`, `source "generic": bearer_token_file: open ` + filepath.Join(dir, "nope") + `: no such file or directory`},
		{"basic without password", `sources: {teamcity: {basic_auth: {username: tc}}}`, `source "teamcity": basic_auth: password or password_file is required`},
		{"basic without username", `sources: {teamcity: {basic_auth: {password: ` + passA + `}}}`, `source "teamcity": basic_auth.username: required`},
		{"basic username with colon", `sources: {teamcity: {basic_auth: {username: "a:b", password: ` + passA + `}}}`, `source "teamcity": basic_auth.username: must not contain ':'`},
		{"whsec not base64", `sources: {generic: {standard_webhooks: {secrets: ["whsec_` + strings.Repeat("!", 30) + `"]}}}`, `source "generic": standard_webhooks.secrets[0]: not whsec_ followed by base64`},
		{"whsec too short", `sources: {generic: {standard_webhooks: {secrets: [whsec_c2hvcnQ=]}}}`, `source "generic": standard_webhooks.secrets[0]: key is 5 bytes, want at least 16`},
		{"whsec none", `sources: {generic: {standard_webhooks: {}}}`, `source "generic": standard_webhooks: secrets or secrets_file is required`},
		{"hub without secret", `sources: {generic: {hub_signature: {}}}`, `source "generic": hub_signature: secret or secret_file is required`},
		{"insecure with a method", `sources: {generic: {insecure: true, bearer_token: ` + tokenA + `}}`, `source "generic": insecure: true has no effect while an authentication method is set; remove it`},
		{"negative body limit", `sources: {generic: {insecure: true, max_body_bytes: -1}}`, `source "generic": max_body_bytes: must be positive`},
		{"negative concurrency", `limits: {max_concurrent_requests: -1}`, `limits.max_concurrent_requests: must be positive`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tc.yaml+"\n"+dest), dir)
			if err == nil {
				t.Fatal("parsed without error")
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n got %s\nwant %s", err, tc.want)
			}
			for _, secret := range []string{tokenA, tokenB, passA, strings.Repeat("!", 30)} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error holds a secret: %s", err)
				}
			}
		})
	}
}

func TestSourcesNoSecretInDump(t *testing.T) {
	c, err := config.Parse([]byte(`
sources:
  teamcity: {basic_auth: {username: teamcity, password: `+passA+`}, bearer_token: `+tokenA+`}
  appcenter: {url_token: `+tokenB+`}
  generic: {standard_webhooks: {secrets: [`+whsecA+`, `+whsecB+`]}, hub_signature: {secret: `+hubA+`}}
`+dest), ".")
	if err != nil {
		t.Fatal(err)
	}
	j, _ := json.Marshal(c)
	y, _ := yaml.Marshal(c)
	dumps := map[string]string{
		"json": string(j), "yaml": string(y),
		"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c),
		"sources %+v": fmt.Sprintf("%+v", c.Sources), "sources %#v": fmt.Sprintf("%#v", c.Sources),
	}
	for how, s := range dumps {
		for _, secret := range []string{passA, tokenA, tokenB, hubA, whsecA[6:], whsecB[6:]} {
			if strings.Contains(s, secret) {
				t.Errorf("%s dump holds %q:\n%s", how, secret, s)
			}
		}
	}
}

func TestListensOnLoopback(t *testing.T) {
	for listen, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.1.2.3:80": true, "[::1]:8080": true, "localhost:8080": true, "LOCALHOST:1": true,
		"0.0.0.0:8080": false, ":8080": false, "[::]:8080": false, "192.168.1.5:8080": false,
		"herald.internal:8080": false, "localhost.example.com:80": false, "127.0.0.1": false,
	} {
		if got := config.ListensOnLoopback(listen); got != want {
			t.Errorf("ListensOnLoopback(%q) = %v, want %v", listen, got, want)
		}
	}
}

func TestCheckExposure(t *testing.T) {
	tests := []struct {
		name, yaml   string
		wantInsecure []string
		wantErr      string // a substring; "" for no error
	}{
		{"loopback, no sources", "listen: 127.0.0.1:8080", nil, ""},
		{"everywhere, no sources", "listen: 0.0.0.0:8080", nil, "listen 0.0.0.0:8080 reaches beyond loopback, and these sources accept requests without authentication: appcenter, generic, teamcity; for each, set one of sources.<name>.basic_auth, bearer_token, standard_webhooks, hub_signature or url_token"},
		{"everywhere, one open", "listen: ':8080'\nsources: {teamcity: {bearer_token: " + tokenA + "}, generic: {}}", nil, "without authentication: generic;"},
		{"everywhere, every listed source authenticated", "listen: ':8080'\nsources: {teamcity: {bearer_token: " + tokenA + "}}", nil, ""},
		{"everywhere, insecure", "listen: ':8080'\nsources: {teamcity: {bearer_token: " + tokenA + "}, generic: {insecure: true}}", []string{"generic"}, ""},
		{"loopback, insecure", "sources: {generic: {insecure: true}}", []string{"generic"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Parse([]byte(tc.yaml+"\n"+dest), ".")
			if err != nil {
				t.Fatal(err)
			}
			insecure, err := c.CheckExposure()
			if !slices.Equal(insecure, tc.wantInsecure) {
				t.Errorf("insecure %v, want %v", insecure, tc.wantInsecure)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want it to hold %q", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), tokenA) {
				t.Errorf("the error holds a secret")
			}
		})
	}
}

// TestExposureExamplesWork: the example the refusal gives for each source
// is valid config that lifts the refusal for it.
func TestExposureExamplesWork(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"teamcity-password", "appcenter-token", "generic-token"} {
		writeSecret(t, dir, f, tokenA)
	}
	for _, name := range config.SourceNames {
		c, err := config.Parse([]byte("listen: ':0'\nsources: {"+name+": {}}\n"+dest), dir)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.CheckExposure()
		if err == nil {
			t.Fatalf("%s: no refusal", name)
		}
		_, example, _ := strings.Cut(err.Error(), "(e.g. ")
		example, _, _ = strings.Cut(example, "), or")
		if !strings.HasPrefix(example, "sources: {"+name+": ") {
			t.Fatalf("%s: the refusal gives no example for it: %s", name, err)
		}
		example = strings.ReplaceAll(example, "/run/secrets/", dir+"/")
		c, err = config.Parse([]byte("listen: ':0'\n"+example+"\n"+dest), dir)
		if err != nil {
			t.Fatalf("%s: the example is not valid config: %v", name, err)
		}
		if _, err := c.CheckExposure(); err != nil {
			t.Errorf("%s: the example does not lift the refusal: %v", name, err)
		}
	}
}
