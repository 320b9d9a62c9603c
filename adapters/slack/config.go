package slack

import (
	"fmt"

	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/notify"
)

// Config is what a Slack destination needs: its name (for templates) and
// the incoming-webhook URL, which is also its credential and never appears
// in errors or logs.
type Config struct {
	Name string
	URL  string
}

// newConfig takes a Slack destination's settings from d. The config package
// has already validated URLs (scheme, egress rules); this guards the adapter
// when it is built by hand. An empty URL is allowed so that `herald render`
// can build messages without a destination; Send then fails, final.
func newConfig(d config.Destination) (Config, error) {
	c := Config{Name: d.Name, URL: d.URL.Value()}
	if c.URL == "" {
		return c, nil
	}
	if _, ok := notify.HTTPURL(c.URL); !ok {
		return c, fmt.Errorf("slack: url %s must be an absolute http or https URL", d.URL)
	}
	return c, nil
}
