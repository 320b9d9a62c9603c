package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSecretFileLimit: a *_file secret is read up to 64 KiB; a larger file,
// or one that never ends (/dev/zero), is refused at once with an error that
// names the key and never quotes the content.
func TestSecretFileLimit(t *testing.T) {
	dir := t.TempDir()
	const marker = "SecretFileContentM4rker"
	fill := func(n int) string { return marker + strings.Repeat("x", n-len(marker)) }
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	atLimit := write("at-limit", fill(maxSecretFileBytes))
	overLimit := write("over-limit", fill(maxSecretFileBytes+1))
	write("token", marker+"-0123456789\n")

	v, err := readSecretFile(atLimit)
	if err != nil || len(v) != maxSecretFileBytes {
		t.Errorf("a file of exactly 64 KiB: %d bytes, %v; want all of it", len(v), err)
	}
	if v, err := readSecretFile(filepath.Join(dir, "token")); err != nil || v != marker+"-0123456789" {
		t.Errorf("a short secret: %q, %v; want it without the newline", v, err)
	}
	if _, err := readSecretFile(overLimit); err == nil || err.Error() != "larger than 64 KiB" {
		t.Errorf("a file one byte over 64 KiB: %v; want \"larger than 64 KiB\"", err)
	}

	// Through the config, every *_file names its key.
	big := "over-limit"
	if _, err := os.Stat("/dev/zero"); err == nil {
		big = "/dev/zero" // never ends: read whole, it would hang the load
	}
	cfg := `listen: 127.0.0.1:0
api: {tokens: [{name: ops, role: manager, token_file: BIG}]}
sources:
  teamcity: {basic_auth: {username: tc, password_file: BIG}}
  appcenter: {url_token_file: BIG}
  generic:
    bearer_token_file: over-limit
    hub_signature: {secret_file: BIG}
    standard_webhooks: {secrets_file: BIG}
destinations:
  - {name: hook, type: webhook, url: "https://example.org/hook", basic_auth: {username: u, password_file: BIG}}
`
	done := make(chan error, 1)
	go func() {
		_, err := Parse([]byte(strings.ReplaceAll(cfg, "BIG", big)), dir)
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("loading a config whose *_file is %s did not finish in 10 s", big)
	}
	if err == nil {
		t.Fatalf("a config with *_file secrets over 64 KiB loaded")
	}
	for _, want := range []string{
		`api.tokens[0]: token_file: larger than 64 KiB`,
		`source "teamcity": basic_auth.password_file: larger than 64 KiB`,
		`source "appcenter": url_token_file: larger than 64 KiB`,
		`source "generic": bearer_token_file: larger than 64 KiB`,
		`source "generic": hub_signature.secret_file: larger than 64 KiB`,
		`source "generic": standard_webhooks.secrets_file: larger than 64 KiB`,
		`destination "hook": basic_auth.password_file: larger than 64 KiB`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), marker) || strings.Contains(err.Error(), "xxxx") {
		t.Errorf("the error quotes a file's content:\n%v", err)
	}
}
