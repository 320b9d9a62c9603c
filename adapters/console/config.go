package console

import (
	"errors"

	"github.com/herald-ci/herald/internal/config"
)

// Config is what a console destination needs: only its name. It takes no
// URL; the config package rejects one, and so does New.
type Config struct {
	Name string
}

func newConfig(d config.Destination) (Config, error) {
	if d.URL != "" {
		return Config{}, errors.New("console: a console destination takes no url")
	}
	return Config{Name: d.Name}, nil
}
