package webhook

import (
	"fmt"
	"net/url"

	"github.com/herald-ci/herald/internal/config"
)

// Config is what a webhook destination needs: the URL the events are
// forwarded to, which may carry a credential and never appears in errors.
type Config struct {
	Name string
	URL  string
}

// newConfig takes the destination's settings. An empty URL is allowed so
// that `herald render` can build payloads; Send then fails, final.
func newConfig(d config.Destination) (Config, error) {
	c := Config{Name: d.Name, URL: d.URL.Value()}
	if c.URL == "" {
		return c, nil
	}
	u, err := url.Parse(c.URL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return c, fmt.Errorf("webhook: url %s must be an absolute http or https URL", d.URL)
	}
	return c, nil
}
