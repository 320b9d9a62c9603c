package teams

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/notify"
)

// Config is one Teams destination after defaults: where to post and which
// of the three payload shapes to post there.
type Config struct {
	Name   string
	URL    config.SecretURL // the URL is the credential; it prints as scheme://host/***
	Format string           // config.FormatWorkflows, FormatMessageCard or FormatAdaptiveCard, never ""
}

// newConfig checks d and settles its format.
func newConfig(d config.Destination) (Config, error) {
	if d.Type != "" && d.Type != config.TypeTeams {
		return Config{}, fmt.Errorf("teams destination %q: type is %q", d.Name, d.Type)
	}
	// An empty URL is allowed so that `herald render` can build payloads
	// without a destination (config validation requires one to send);
	// Send refuses it.
	raw := d.URL.Value()
	if raw != "" {
		// Not url.Parse's error: it quotes the URL.
		if _, ok := notify.HTTPURL(raw); !ok {
			return Config{}, fmt.Errorf("teams destination %q: url must be an absolute http or https URL", d.Name)
		}
	}
	format, err := ResolveFormat(d.Format, raw)
	if err != nil {
		return Config{}, fmt.Errorf("teams destination %q: %w", d.Name, err)
	}
	return Config{Name: d.Name, URL: d.URL, Format: format}, nil
}

// ResolveFormat settles a destination's payload format. An explicit format
// wins. Otherwise the URL decides: the legacy Office 365 connector lives on
// *.webhook.office.com (and, before 2021, on outlook.office.com and
// outlook.office365.com under /webhook/) and takes a MessageCard; every
// other URL, a Workflows (Power Automate) trigger among them, gets the
// Workflows envelope around an Adaptive Card.
func ResolveFormat(format, rawURL string) (string, error) {
	switch format {
	case config.FormatWorkflows, config.FormatMessageCard, config.FormatAdaptiveCard:
		return format, nil
	case "":
	default:
		return "", fmt.Errorf("format %q is not one of %s, %s, %s",
			format, config.FormatWorkflows, config.FormatMessageCard, config.FormatAdaptiveCard)
	}
	if isConnectorURL(rawURL) {
		return config.FormatMessageCard, nil
	}
	return config.FormatWorkflows, nil
}

func isConnectorURL(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	switch {
	case host == "webhook.office.com", strings.HasSuffix(host, ".webhook.office.com"):
		return true
	case host == "outlook.office.com", host == "outlook.office365.com":
		return strings.HasPrefix(strings.ToLower(u.Path), "/webhook/")
	}
	return false
}
