package main

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/herald-ci/herald/internal/config"
)

// TestConfigPrint: `herald config print` shows the loaded config, defaults
// and durations as written, and never a secret, whichever way it came in
// (inline, ${ENV}, *_file).
func TestConfigPrint(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "password.txt", "FILEPASSWORD\n")
	t.Setenv("H7_SLACK_URL", "https://hooks.slack.com/services/T0/B0/ENVSLACKSECRET")
	cfg := writeFile(t, dir, "herald.yaml", `
store: {driver: postgres, dsn: "postgres://herald:PGPASSWORD@db.example.com/herald"}
delivery: {timeout: 15s}
destinations:
  - {name: slack, type: slack, url: "${H7_SLACK_URL}"}
  - {name: teams, type: teams, url: "https://example.webhook.office.com/webhookb2/TEAMSSECRET"}
  - name: hook
    type: webhook
    url: "https://hooks.example.com/in?token=QUERYSECRET"
    basic_auth: {username: bob, password_file: password.txt}
`)
	code, stdout, stderr := runCLI(t, "config", "print", "--config", cfg)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, secret := range []string{"PGPASSWORD", "ENVSLACKSECRET", "TEAMSSECRET", "QUERYSECRET", "FILEPASSWORD", "services/T0"} {
		if strings.Contains(stdout, secret) || strings.Contains(stderr, secret) {
			t.Errorf("config print shows %s:\n%s", secret, stdout)
		}
	}
	var printed struct {
		Store    struct{ DSN string }
		Delivery struct {
			Timeout string
		}
		Destinations []struct {
			Name, URL string
			Timeout   string
			BasicAuth struct{ Username, Password string } `yaml:"basic_auth"`
			RateLimit *struct {
				PerSecond float64 `yaml:"per_second"`
			} `yaml:"rate_limit"`
		}
	}
	if err := yaml.Unmarshal([]byte(stdout), &printed); err != nil {
		t.Fatalf("not YAML: %v\n%s", err, stdout)
	}
	if printed.Store.DSN != config.Redacted || printed.Delivery.Timeout != "15s" || len(printed.Destinations) != 3 {
		t.Fatalf("printed %+v; want the dsn redacted, timeout 15s, 3 destinations:\n%s", printed, stdout)
	}
	d := printed.Destinations
	if d[0].URL != "https://hooks.slack.com/***" || d[2].BasicAuth.Password != config.Redacted || d[2].BasicAuth.Username != "bob" {
		t.Errorf("destinations printed as %+v", d)
	}
	if d[0].RateLimit == nil || d[0].RateLimit.PerSecond != 1 || d[0].Timeout != "15s" {
		t.Errorf("slack's defaults are not shown: %+v", d[0])
	}

	if code, _, _ := runCLI(t, "config", "show"); code != exitUsage {
		t.Errorf("config show: exit %d, want %d", code, exitUsage)
	}
}

// TestPrintConfigRedactsEverySecretField sets every Secret and SecretURL
// the config type holds, wherever it is (sections added later included),
// to a marker, and prints it: no marker may show.
func TestPrintConfigRedactsEverySecretField(t *testing.T) {
	c := &config.Config{}
	n := fillSecrets(reflect.ValueOf(c).Elem(), 0)
	if n < 4 {
		t.Fatalf("found %d secret fields in config.Config, want at least 4 (store.dsn, url, basic_auth.password, ...)", n)
	}
	t.Logf("%d secret fields", n)
	var out bytes.Buffer
	if err := printConfig(&out, c); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "MARKER") {
		t.Errorf("a secret printed:\n%s", out.String())
	}
	if got := strings.Count(out.String(), config.Redacted) + strings.Count(out.String(), "/***"); got != n {
		t.Errorf("%d redacted values printed, want %d:\n%s", got, n, out.String())
	}
}

var (
	secretType    = reflect.TypeFor[config.Secret]()
	secretURLType = reflect.TypeFor[config.SecretURL]()
)

// fillSecrets sets every Secret and SecretURL reachable from v (allocating
// pointers, one element per slice and map) to a marker and counts them.
func fillSecrets(v reflect.Value, depth int) int {
	if depth > 8 {
		return 0
	}
	switch {
	case v.Type() == secretType:
		v.SetString(fmt.Sprintf("MARKER-%p", v.Addr().Interface()))
		return 1
	case v.Type() == secretURLType:
		v.SetString(fmt.Sprintf("https://hooks.example.com/MARKER-%p", v.Addr().Interface()))
		return 1
	}
	n := 0
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return fillSecrets(v.Elem(), depth+1)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				n += fillSecrets(v.Field(i), depth+1)
			}
		}
	case reflect.Slice:
		e := reflect.New(v.Type().Elem()).Elem()
		if k := fillSecrets(e, depth+1); k > 0 {
			v.Set(reflect.Append(v, e))
			n += k
		}
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return 0
		}
		e := reflect.New(v.Type().Elem()).Elem()
		if k := fillSecrets(e, depth+1); k > 0 {
			if v.IsNil() {
				v.Set(reflect.MakeMap(v.Type()))
			}
			v.SetMapIndex(reflect.ValueOf("key").Convert(v.Type().Key()), e)
			n += k
		}
	}
	return n
}
