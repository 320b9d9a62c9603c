package slack_test

import (
	"testing"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters/adapterstest"
	"github.com/herald-ci/herald/adapters/slack"
	"github.com/herald-ci/herald/internal/config"
)

// BenchmarkBuild is render + Build of one Slack message with the default
// templates: what the server does per event and Slack destination. The
// issue's budget is 20 µs and 50 allocations per message.
func BenchmarkBuild(b *testing.B) {
	a, err := slack.New(config.Destination{Name: "bench", Type: config.TypeSlack}, nil, nil, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	adapterstest.BenchBuild(b, a.Build, adapterstest.JSONBody)
}
