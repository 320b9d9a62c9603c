package webhook_test

import (
	"testing"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters/adapterstest"
	"github.com/herald-ci/herald/adapters/webhook"
	"github.com/herald-ci/herald/internal/config"
)

// BenchmarkBuild is Build of one webhook body: the sender's own payload,
// re-encoded for TeamCity's envelope and forwarded as is for the others.
func BenchmarkBuild(b *testing.B) {
	a, err := webhook.New(config.Destination{Name: "bench", Type: config.TypeWebhook}, nil, nil, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	adapterstest.BenchBuild(b, a.Build, adapterstest.JSONBody)
}
