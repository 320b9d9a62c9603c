package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

const slackURL = "https://hooks.slack.com/services/T0SECRET/B0SECRET/XXXXSECRETTOKEN"

func TestLoadGood(t *testing.T) {
	t.Setenv("HERALD_TEST_SLACK_URL", slackURL)
	c, err := Load("testdata/conf.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9090" {
		t.Errorf("listen = %q", c.Listen)
	}
	if got := c.Destinations[0].URL.Value(); got != slackURL {
		t.Errorf("url not expanded from the environment: %q", got)
	}
	if c.Destinations[1].Format != FormatAdaptiveCard {
		t.Errorf("format = %q", c.Destinations[1].Format)
	}
	abs, _ := filepath.Abs("testdata/templates")
	if c.TemplatesDir != abs {
		t.Errorf("templates_dir = %q, want %q (relative to the file)", c.TemplatesDir, abs)
	}
	if c.Limits.MaxBodyBytes != DefaultMaxBodyBytes || c.Delivery.Timeout != DefaultTimeout {
		t.Errorf("defaults not set: %+v %+v", c.Limits, c.Delivery)
	}
}

func TestLoadInvalid(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"conf.unknown-key.yaml", "line 5: field colour is not a known key of Destination"},
		{"conf.unknown-type.yaml", `destination "builds": type "discord" is not one of slack, teams, webhook, console`},
		{"conf.private-url.yaml", `destination "builds": url: 127.0.0.1 is a loopback or private address; set egress.allow_private: true to allow it`},
		{"conf.bad-event.yaml", `destination "builds": events: "build.exploded": unknown status (valid: build.queued, build.changes_loaded, build.started, build.succeeded, build.failed, build.interrupted, build.problems_changed)`},
		{"conf.unset-env.yaml", "line 4: environment variable HERALD_TEST_UNSET_VARIABLE is not set"},
		{"conf.duplicate-name.yaml", `destination "builds": name is used twice`},
		{"conf.format-not-teams.yaml", `destination "builds": format applies to teams destinations only`},
		{"conf.no-destinations.yaml", "destinations: at least one is required"},
		{"conf.retry-count-and-max-attempts.yaml", `destination "builds": retry_count and max_attempts are both set; retry_count: N means max_attempts: N+1`},
		{"conf.negative-retry-count.yaml", `destination "builds": retry_count: must not be negative`},
		{"conf.bad-rate-limit.yaml", `destination "builds": rate_limit.per_second: must be positive`},
		{"conf.bad-window.yaml", `destination "builds": rate_limit.window.period: must be positive`},
		{"conf.burst-without-rate.yaml", `destination "builds": rate_limit.burst: needs rate_limit.per_second`},
		{"conf.shared-url.yaml", `destination "releases": shares its url with "builds" but sets a different rate_limit, max_in_flight or circuit_breaker`},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", tc.file))
			if err == nil {
				t.Fatal("loaded without error")
			}
			want := "testdata/" + tc.file + ": " + tc.want
			if err.Error() != want {
				t.Errorf("error:\n got %s\nwant %s", err, want)
			}
		})
	}
}

func TestEnvValuesDoNotInjectStructure(t *testing.T) {
	t.Setenv("HERALD_TEST_NAME", "x\n  type: slack")
	_, err := Parse([]byte("destinations:\n  - name: ${HERALD_TEST_NAME}\n    type: console\n"), ".")
	if err == nil || !strings.Contains(err.Error(), "name may hold") {
		t.Fatalf("want a name error, got %v", err)
	}
}

func TestEnvDefault(t *testing.T) {
	c, err := Parse([]byte("listen: ${HERALD_TEST_UNSET_LISTEN:-127.0.0.1:7070}\ndestinations: [{name: a, type: console}]\n"), ".")
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:7070" {
		t.Errorf("listen = %q", c.Listen)
	}
}

func TestURLFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "url"), []byte(slackURL+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Parse([]byte("destinations: [{name: a, type: slack, url_file: url}]\n"), dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Destinations[0].URL.Value() != slackURL {
		t.Errorf("url_file not read: %q", c.Destinations[0].URL.Value())
	}
}

func TestDefault(t *testing.T) {
	env := map[string]string{}
	c, err := Default(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != DefaultListen || c.Store.DSN.Value() != DefaultSQLiteDSN || len(c.Destinations) != 1 || c.Destinations[0].Type != TypeConsole {
		t.Fatalf("default without env: %+v", c)
	}
	env["SLACK_WEBHOOK_URL"] = slackURL
	env["TEAMS_WEBHOOK_URL"] = "https://example.webhook.office.com/webhookb2/abc/IncomingWebhook/def/ghi"
	c, err = Default(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Destinations) != 2 || c.Destinations[0].Type != TypeSlack || c.Destinations[1].Type != TypeTeams {
		t.Fatalf("default with env: %+v", c.Destinations)
	}
}

// TestNoSecretInDump prints the whole config every way an operator or a
// log line might, and finds no secret in any.
func TestNoSecretInDump(t *testing.T) {
	t.Setenv("HERALD_TEST_SLACK_URL", slackURL)
	c, err := Load("testdata/conf.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c.Store.DSN = "postgres://herald:PGPASSWORD@db/herald"
	j, _ := json.Marshal(c)
	y, _ := yaml.Marshal(c)
	dumps := map[string]string{
		"json": string(j), "yaml": string(y),
		"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c),
	}
	for how, s := range dumps {
		for _, secret := range []string{"XXXXSECRETTOKEN", "SECRETSIG", "PGPASSWORD", "/services/"} {
			if strings.Contains(s, secret) {
				t.Errorf("%s dump holds %q:\n%s", how, secret, s)
			}
		}
	}
	if !strings.Contains(string(j), "https://hooks.slack.com/***") {
		t.Errorf("json dump should show the redacted url: %s", j)
	}
}

func TestExampleConfigLoads(t *testing.T) {
	t.Setenv("SLACK_WEBHOOK_URL", slackURL)
	t.Setenv("TEAMS_WEBHOOK_URL", "https://example.webhook.office.com/webhookb2/abc/IncomingWebhook/def/ghi")
	t.Setenv("TEAMCITY_WEBHOOK_PASSWORD", "a-teamcity-password")
	t.Setenv("APPCENTER_WEBHOOK_TOKEN", "an-appcenter-token-0123456789")
	t.Setenv("GENERIC_WEBHOOK_TOKEN", "a-generic-bearer-token-0123456789")
	if _, err := Load("../../config.example.yaml"); err != nil {
		t.Fatal(err)
	}
}

func TestDeliveryKeys(t *testing.T) {
	c, err := Parse([]byte(`
delivery:
  timeout: 7s
destinations:
  - name: tc
    type: slack
    url: https://hooks.slack.com/services/T000/B000/XXXX
    retry_count: 3
  - name: once
    type: webhook
    url: https://example.com/hook
    retry_count: 0
  - name: tuned
    type: teams
    url: https://example.webhook.office.com/webhookb2/abc
    max_attempts: 10
    max_age: 2h
    timeout: 30s
    max_in_flight: 1
    rate_limit:
      per_second: 2
      window: {limit: 20}
    circuit_breaker: {failures: 3, open_for: 1m}
`), ".")
	if err != nil {
		t.Fatal(err)
	}
	tc, once, tuned := c.Destinations[0], c.Destinations[1], c.Destinations[2]
	if tc.Attempts() != 4 || once.Attempts() != 1 || tuned.Attempts() != 10 {
		t.Errorf("attempts = %d, %d, %d; want 4 (retry_count 3), 1 (retry_count 0), 10", tc.Attempts(), once.Attempts(), tuned.Attempts())
	}
	if tc.Timeout != 7*time.Second || tc.MaxAge != DefaultMaxAge {
		t.Errorf("slack defaults: timeout %s, max_age %s", tc.Timeout, tc.MaxAge)
	}
	// Unset fields of a partial rate_limit keep the type's default.
	want := RateLimit{PerSecond: 2, Burst: 1, Window: &Window{Limit: 20, Period: 30 * time.Second}}
	if got := *tuned.RateLimit; got.PerSecond != want.PerSecond || got.Burst != want.Burst || *got.Window != *want.Window {
		t.Errorf("teams rate_limit = %+v %+v, want %+v %+v", got, got.Window, want, want.Window)
	}
	if tuned.Timeout != 30*time.Second || tuned.MaxAge != 2*time.Hour || tuned.MaxInFlight != 1 {
		t.Errorf("teams overrides lost: %+v", tuned)
	}
	if cb := *tuned.CircuitBreaker; cb != (CircuitBreaker{Failures: 3, OpenFor: time.Minute, MaxOpenFor: DefaultBreakerMaxOpenFor}) {
		t.Errorf("circuit_breaker = %+v", cb)
	}
	if once.RateLimit != nil {
		t.Errorf("webhook has a rate limit by default: %+v", once.RateLimit)
	}
	if c.LongestTimeout() != 30*time.Second {
		t.Errorf("LongestTimeout = %s", c.LongestTimeout())
	}
}
