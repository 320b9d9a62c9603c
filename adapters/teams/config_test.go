package teams_test

import (
	"io"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters/teams"
	"github.com/herald-ci/herald/internal/config"
)

func TestResolveFormat(t *testing.T) {
	t.Parallel()
	const (
		wf = config.FormatWorkflows
		mc = config.FormatMessageCard
		ac = config.FormatAdaptiveCard
	)
	tests := []struct {
		name, format, url, want string
	}{
		{"connector", "", "https://contoso.webhook.office.com/webhookb2/a@b/IncomingWebhook/c/d", mc},
		{"connector upper case host", "", "https://Contoso.WEBHOOK.office.com/webhookb2/x", mc},
		{"connector trailing dot", "", "https://contoso.webhook.office.com./webhookb2/x", mc},
		{"connector bare host", "", "https://webhook.office.com/webhookb2/x", mc},
		{"connector with port", "", "https://contoso.webhook.office.com:443/webhookb2/x", mc},
		{"legacy outlook.office.com", "", "https://outlook.office.com/webhook/a@b/IncomingWebhook/c/d", mc},
		{"legacy outlook.office365.com", "", "https://outlook.office365.com/webhook/a@b/IncomingWebhook/c/d", mc},
		{"outlook.office.com other path", "", "https://outlook.office.com/mail/", wf},
		{"lookalike host", "", "https://webhook.office.com.evil.example/webhookb2/x", wf},
		{"lookalike suffix", "", "https://notwebhook.office.com/webhookb2/x", wf},
		{"workflows logic.azure.com", "", "https://prod-12.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=x", wf},
		{"workflows power platform", "", "https://abc.environment.api.powerplatform.com/powerautomate/automations/direct/workflows/x", wf},
		{"private sink", "", "http://127.0.0.1:9000/hook", wf},
		{"no url", "", "", wf},
		{"unparsable url", "", "http://[::1", wf},
		{"explicit messagecard wins", mc, "https://prod-1.logic.azure.com/workflows/x", mc},
		{"explicit workflows wins", wf, "https://contoso.webhook.office.com/webhookb2/x", wf},
		{"explicit adaptive-card", ac, "https://contoso.webhook.office.com/webhookb2/x", ac},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := teams.ResolveFormat(tc.format, tc.url)
			if err != nil {
				t.Fatalf("ResolveFormat(%q, %q): %v", tc.format, tc.url, err)
			}
			if got != tc.want {
				t.Errorf("ResolveFormat(%q, %q) = %q, want %q", tc.format, tc.url, got, tc.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	const secret = "https://contoso.webhook.office.com/webhookb2/SECRETPATH?sig=SECRETSIG"
	tests := []struct {
		name       string
		d          config.Destination
		wantFormat string
		wantErr    string
	}{
		{"connector url", config.Destination{Name: "t", Type: "teams", URL: secret}, config.FormatMessageCard, ""},
		{"no url renders only", config.Destination{Name: "render", Type: "teams"}, config.FormatWorkflows, ""},
		{"explicit format", config.Destination{Name: "t", Type: "teams", URL: secret, Format: "adaptive-card"}, config.FormatAdaptiveCard, ""},
		{"unknown format", config.Destination{Name: "t", Type: "teams", URL: secret, Format: "card"}, "", `teams destination "t": format "card" is not one of workflows, messagecard, adaptive-card`},
		{"wrong type", config.Destination{Name: "t", Type: "slack", URL: secret}, "", `teams destination "t": type is "slack"`},
		{"relative url", config.Destination{Name: "t", Type: "teams", URL: "/webhookb2/SECRETPATH?sig=SECRETSIG"}, "", `teams destination "t": url must be an absolute http or https URL`},
		{"bad scheme", config.Destination{Name: "t", Type: "teams", URL: "ftp://host/SECRETPATH?sig=SECRETSIG"}, "", `teams destination "t": url must be an absolute http or https URL`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, err := teams.New(tc.d, nil, nil, zerolog.New(io.Discard))
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("New error = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "SECRET") {
					t.Errorf("error %q holds the URL", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if got := a.Format(); got != tc.wantFormat {
				t.Errorf("Format() = %q, want %q", got, tc.wantFormat)
			}
		})
	}
}
