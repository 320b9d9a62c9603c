package webhook

import (
	"fmt"

	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/fields"
	"github.com/herald-ci/herald/internal/notify"
)

// Config is what a webhook destination needs: the URL the events are
// forwarded to, which may carry a credential and never appears in errors;
// the selections of the forwarded payload by event type; and the basic
// auth credentials of the outgoing requests, if any.
type Config struct {
	Name string
	URL  string
	// Fields maps an event type (TeamCity's eventType, such as
	// BUILD_INTERRUPTED; another source's event Type) to the selection
	// applied to what is forwarded. Parsed once, here.
	Fields map[string]fields.Selector
	// BasicAuth is set when the destination has basic_auth. Its password
	// is a config.Secret: it prints as <secret>.
	BasicAuth *config.BasicAuth
}

// newConfig takes the destination's settings. An empty URL is allowed so
// that `herald render` can build payloads; Send then fails, final. Every
// fields selection is parsed here, so a malformed one fails the config
// load (and `herald validate`) rather than the first event.
func newConfig(d config.Destination) (Config, error) {
	c := Config{Name: d.Name, URL: d.URL.Value()}
	sel, err := fields.ParseAll(d.Fields)
	if err != nil {
		return c, fmt.Errorf("webhook: %w", err)
	}
	c.Fields = sel
	if d.BasicAuth != nil {
		ba := *d.BasicAuth
		c.BasicAuth = &ba
	}
	if c.URL == "" {
		return c, nil
	}
	if _, ok := notify.HTTPURL(c.URL); !ok {
		return c, fmt.Errorf("webhook: url %s must be an absolute http or https URL", d.URL)
	}
	return c, nil
}
