package teams_test

import (
	"testing"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters/adapterstest"
	"github.com/herald-ci/herald/adapters/teams"
	"github.com/herald-ci/herald/internal/config"
)

// BenchmarkBuild is render + Build of one Teams message with the default
// templates, for each payload format: what the server does per event and
// Teams destination. The budget is 20 µs and 50 allocations per
// message.
func BenchmarkBuild(b *testing.B) {
	for _, format := range []string{config.FormatWorkflows, config.FormatMessageCard, config.FormatAdaptiveCard} {
		a, err := teams.New(config.Destination{Name: "bench", Type: config.TypeTeams, Format: format}, nil, nil, zerolog.Nop())
		if err != nil {
			b.Fatal(err)
		}
		b.Run(format, func(b *testing.B) {
			adapterstest.BenchBuild(b, a.Build, adapterstest.JSONBody)
		})
	}
}
