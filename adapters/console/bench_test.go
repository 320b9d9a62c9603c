package console_test

import (
	"fmt"
	"testing"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters/adapterstest"
	"github.com/herald-ci/herald/adapters/console"
	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/notify"
)

// BenchmarkBuild is render + Build of one console line with the default
// templates.
func BenchmarkBuild(b *testing.B) {
	a, err := console.New(config.Destination{Name: "bench", Type: config.TypeConsole}, nil, nil, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	adapterstest.BenchBuild(b, a.Build, func(p notify.Payload) error {
		if len(p.Body) == 0 || p.ContentType != console.ContentType {
			return fmt.Errorf("empty body or content type %q", p.ContentType)
		}
		return nil
	})
}
