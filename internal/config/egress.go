package config

import (
	"errors"
	"fmt"

	"github.com/herald-ci/herald/internal/notify"
)

// Egress controls where herald may send. The rules themselves live in
// notify.Egress, which enforces them again on every request and on the
// address each connection dials; here they are read from the file and
// applied to every destination at load.
type Egress struct {
	// AllowPrivate permits destinations on loopback and private addresses:
	// local test sinks and on-premise chat servers. Off by default. Such a
	// destination skips the host allowlist and may use plain http.
	AllowPrivate bool `yaml:"allow_private"`
	// AllowHTTP permits plain http to any destination. Off by default:
	// webhook URLs are credentials.
	AllowHTTP bool `yaml:"allow_http"`
	// Hosts replaces a destination type's default host allowlist.
	Hosts EgressHosts `yaml:"hosts,omitempty"`
}

// EgressHosts are host patterns per destination type: "hooks.slack.com",
// "*.webhook.office.com" (any name below it), or "*" (any public host). A
// type left out keeps its default (notify.DefaultHosts).
type EgressHosts struct {
	Slack   []string `yaml:"slack,omitempty"`
	Teams   []string `yaml:"teams,omitempty"`
	Webhook []string `yaml:"webhook,omitempty"`
}

// byType lists the configured patterns per destination type; a type left
// out is absent.
func (h EgressHosts) byType() map[string][]string {
	m := map[string][]string{}
	for typ, l := range map[string][]string{TypeSlack: h.Slack, TypeTeams: h.Teams, TypeWebhook: h.Webhook} {
		if l != nil {
			m[typ] = l
		}
	}
	return m
}

// Policy is the egress section as the HTTP client enforces it:
// notify.NewClient(timeout, c.Egress.Policy()).
func (e Egress) Policy() notify.Egress {
	return notify.Egress{AllowPrivate: e.AllowPrivate, AllowHTTP: e.AllowHTTP, Hosts: e.Hosts.byType()}
}

// CheckDestinationURL reports whether a destination of type typ (slack,
// teams, webhook) may post to rawURL under this config's egress rules:
// the check every configured destination passes at load, and the one a
// destination created at run time must pass too. The error names the host
// at most, never the URL.
func (c *Config) CheckDestinationURL(typ, rawURL string) error {
	if rawURL == "" {
		return errors.New("required")
	}
	switch typ {
	case TypeSlack, TypeTeams, TypeWebhook:
	default:
		return fmt.Errorf("type %q does not post to a url", typ)
	}
	return c.Egress.Policy().Check(typ, rawURL)
}

// validateEgress lists the problems of the egress section.
func (c *Config) validateEgress() []error {
	var errs []error
	for _, typ := range []string{TypeSlack, TypeTeams, TypeWebhook} {
		l, ok := c.Egress.Hosts.byType()[typ]
		if !ok {
			continue
		}
		if len(l) == 0 {
			errs = append(errs, fmt.Errorf("egress.hosts.%s: empty; leave it out for the default, or use \"*\" for any public host", typ))
		}
		for _, p := range l {
			if err := notify.CheckHostPattern(p); err != nil {
				errs = append(errs, fmt.Errorf("egress.hosts.%s: %w", typ, err))
			}
		}
	}
	return errs
}
