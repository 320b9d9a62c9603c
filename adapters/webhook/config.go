package webhook

import (
	"fmt"

	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/notify"
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
	if _, ok := notify.HTTPURL(c.URL); !ok {
		return c, fmt.Errorf("webhook: url %s must be an absolute http or https URL", d.URL)
	}
	return c, nil
}
