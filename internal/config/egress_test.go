package config

import (
	"slices"
	"strings"
	"testing"

	"github.com/herald-ci/herald/internal/notify"
)

// parseEgress parses a config of one destination and an egress section.
func parseEgress(egress, typ, url string) (*Config, error) {
	return Parse([]byte("egress: "+egress+"\ndestinations:\n  - {name: d, type: "+typ+", url: \""+url+"\"}\n"), ".")
}

// TestEgressAtLoad is the table of destinations refused (or allowed) when
// the file is loaded, with the exact error: every problem is found before
// herald starts, and no error shows the URL's path.
func TestEgressAtLoad(t *testing.T) {
	t.Parallel()
	const pre = `destination "d": url: `
	tests := []struct {
		name   string
		egress string
		typ    string
		url    string
		want   string // exact error; "" = loads
	}{
		// Odd forms of loopback, refused outright.
		{"decimal", "{}", "webhook", "http://2130706433/SECRET", pre + `host "2130706433" is not a canonical IP address; write IPv4 addresses as four decimal numbers`},
		{"octal", "{allow_private: true}", "webhook", "https://0177.0.0.1/SECRET", pre + `host "0177.0.0.1" is not a canonical IP address; write IPv4 addresses as four decimal numbers`},
		{"hex", "{allow_private: true}", "webhook", "https://0x7f.1/SECRET", pre + `host "0x7f.1" is not a canonical IP address; write IPv4 addresses as four decimal numbers`},
		{"short", "{allow_private: true}", "slack", "https://127.1/SECRET", pre + `host "127.1" is not a canonical IP address; write IPv4 addresses as four decimal numbers`},
		{"mapped loopback", "{}", "webhook", "https://[::ffff:127.0.0.1]/SECRET", pre + `::ffff:127.0.0.1 is a loopback or private address; set egress.allow_private: true to allow it`},
		{"nat64 loopback", "{}", "webhook", "https://[64:ff9b::127.0.0.1]/SECRET", pre + `64:ff9b::7f00:1 is a loopback or private address; set egress.allow_private: true to allow it`},
		{"localhost", "{}", "teams", "https://localhost/SECRET", pre + `localhost is a loopback or private address; set egress.allow_private: true to allow it`},
		{"cgnat", "{}", "webhook", "https://100.64.0.7/SECRET", pre + `100.64.0.7 is a loopback or private address; set egress.allow_private: true to allow it`},
		{"ipv6 zone", "{allow_private: true}", "webhook", "https://[fe80::1%25eth0]/SECRET", pre + `an IPv6 zone is not allowed in a destination`},
		// Never a destination.
		{"metadata", "{allow_private: true}", "webhook", "http://169.254.169.254/latest/meta-data", pre + `169.254.169.254 is a link-local, multicast, broadcast, unspecified or reserved address, never a destination`},
		{"unspecified", "{allow_private: true}", "webhook", "http://0.0.0.0:8080/SECRET", pre + `0.0.0.0 is a link-local, multicast, broadcast, unspecified or reserved address, never a destination`},
		// Plain http.
		{"http", "{}", "slack", "http://hooks.slack.com/services/SECRET", pre + `plain http is not allowed; use https, or set egress.allow_http: true`},
		{"http public address", "{allow_private: true}", "webhook", "http://8.8.8.8/SECRET", pre + `plain http to the public address 8.8.8.8 is not allowed; use https, or set egress.allow_http: true`},
		{"http allowed", "{allow_http: true}", "webhook", "http://ci.example.com/hook", ""},
		// Allowlists.
		{"slack elsewhere", "{}", "slack", "https://example.com/services/T/B/SECRET", pre + `host example.com is not allowed for slack destinations (egress.hosts.slack: hooks.slack.com, hooks.slack-gov.com)`},
		{"teams elsewhere", "{}", "teams", "https://teams.example.com/SECRET", pre + `host teams.example.com is not allowed for teams destinations (egress.hosts.teams: *.webhook.office.com, *.webhook.office365.us, *.logic.azure.com, *.environment.api.powerplatform.com, *.logic.azure.us, *.environment.api.powerplatform.us)`},
		{"teams workflows", "{}", "teams", "https://prod-27.westeurope.logic.azure.com:443/workflows/abc?sig=SECRET", ""},
		{"slack host replaced", "{hosts: {slack: [chat.example.com]}}", "slack", "https://hooks.slack.com/services/SECRET", pre + `host hooks.slack.com is not allowed for slack destinations (egress.hosts.slack: chat.example.com)`},
		{"slack host listed", "{hosts: {slack: [chat.example.com]}}", "slack", "https://chat.example.com/services/SECRET", ""},
		{"webhook restricted", "{hosts: {webhook: [\"*.example.com\"]}}", "webhook", "https://example.org/SECRET", pre + `host example.org is not allowed for webhook destinations (egress.hosts.webhook: *.example.com)`},
		{"loopback sink for slack", "{allow_private: true}", "slack", "http://127.0.0.1:8080/services/SECRET", ""},
		{"loopback sink despite a list", "{allow_private: true, hosts: {teams: [x.example.com]}}", "teams", "http://127.0.0.1:8080/workflows/SECRET", ""},
		// The hosts section itself.
		{"empty list", "{hosts: {slack: []}}", "webhook", "https://ci.example.com/hook", `egress.hosts.slack: empty; leave it out for the default, or use "*" for any public host`},
		{"bad wildcard", "{hosts: {teams: [\"foo.*.com\"]}}", "webhook", "https://ci.example.com/hook", `egress.hosts.teams: "foo.*.com": a wildcard may only be "*" or a leading "*."`},
		{"wildcard too wide", "{hosts: {webhook: [\"*.com\"]}}", "webhook", "https://ci.example.com/hook", `egress.hosts.webhook: "*.com": "*." must be followed by a domain of at least two labels`},
		{"numeric pattern", "{hosts: {slack: [\"2130706433\"]}}", "webhook", "https://ci.example.com/hook", `egress.hosts.slack: "2130706433": host "2130706433" is not a canonical IP address; write IPv4 addresses as four decimal numbers`},
		{"unknown type", "{hosts: {discord: [discord.com]}}", "webhook", "https://ci.example.com/hook", `line 1: field discord is not a known key of EgressHosts`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseEgress(tc.egress, tc.typ, tc.url)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("loaded, want %s", tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n got %s\nwant %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error shows the URL: %s", err)
			}
		})
	}
}

// TestCheckDestinationURL is the check a destination created at run time
// goes through: the same as at load, with this config's egress rules.
func TestCheckDestinationURL(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte("egress: {allow_private: true, hosts: {slack: [chat.example.com]}}\ndestinations: [{name: log, type: console}]\n"), ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ typ, url, want string }{
		{TypeSlack, "https://chat.example.com/services/SECRET", ""},
		{TypeSlack, "http://127.0.0.1:9/services/SECRET", ""},
		{TypeSlack, "https://hooks.slack.com/services/SECRET", "host hooks.slack.com is not allowed for slack destinations (egress.hosts.slack: chat.example.com)"},
		{TypeTeams, "https://x.webhook.office.com/webhookb2/SECRET", ""},
		{TypeWebhook, "https://169.254.169.254/SECRET", "169.254.169.254 is a link-local, multicast, broadcast, unspecified or reserved address, never a destination"},
		{TypeWebhook, "https://0x7f.1/SECRET", `host "0x7f.1" is not a canonical IP address; write IPv4 addresses as four decimal numbers`},
		{TypeWebhook, "", "required"},
		{TypeConsole, "https://example.com/", `type "console" does not post to a url`},
	} {
		err := c.CheckDestinationURL(tc.typ, tc.url)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("CheckDestinationURL(%s, %s) = %q, want %q", tc.typ, tc.url, got, tc.want)
		}
	}
}

// TestEgressPolicy: the file's egress section becomes the client's rules;
// a type left out of hosts keeps its default.
func TestEgressPolicy(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte("egress: {allow_private: true, allow_http: true, hosts: {teams: [\"*.example.com\"]}}\ndestinations: [{name: log, type: console}]\n"), ".")
	if err != nil {
		t.Fatal(err)
	}
	p := c.Egress.Policy()
	if !p.AllowPrivate || !p.AllowHTTP {
		t.Errorf("policy %+v lost a flag", p)
	}
	if got := p.Hosts[TypeTeams]; !slices.Equal(got, []string{"*.example.com"}) {
		t.Errorf("teams hosts = %v", got)
	}
	if _, ok := p.Hosts[TypeSlack]; ok {
		t.Error("slack hosts set although the file leaves them out")
	}
	if err := p.Check(TypeSlack, "https://hooks.slack.com/services/x"); err != nil {
		t.Errorf("slack default lost: %v", err)
	}
}

// TestEgressDefaultsWrittenOut: the defaults, written out as the reference
// file documents them, are valid patterns and behave as the defaults.
func TestEgressDefaultsWrittenOut(t *testing.T) {
	t.Parallel()
	y := `
egress:
  allow_http: false
  allow_private: false
  hosts:
    slack: [hooks.slack.com, hooks.slack-gov.com]
    teams:
      - "*.webhook.office.com"
      - "*.webhook.office365.us"
      - "*.logic.azure.com"
      - "*.environment.api.powerplatform.com"
      - "*.logic.azure.us"
      - "*.environment.api.powerplatform.us"
    webhook: ["*"]
destinations:
  - {name: s, type: slack, url: "https://hooks.slack.com/services/T/B/x"}
  - {name: t, type: teams, url: "https://default0a.b1.environment.api.powerplatform.com:443/powerautomate/x?sig=y"}
  - {name: w, type: webhook, url: "https://ci.example.com/hook"}
`
	c, err := Parse([]byte(y), ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{TypeSlack, TypeTeams, TypeWebhook} {
		if got, want := c.Egress.Policy().Hosts[typ], notify.DefaultHosts(typ); !slices.Equal(got, want) {
			t.Errorf("%s: written out %v, defaults %v", typ, got, want)
		}
	}
}
