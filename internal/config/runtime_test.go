package config

import (
	"strings"
	"testing"
	"time"
)

// TestDecodeDestination: the admin API's JSON reads as the file's keys do,
// strictly, without ${VAR} expansion and without paths on herald's host.
func TestDecodeDestination(t *testing.T) {
	t.Setenv("HERALD_TEST_SECRET", "leaked") // not parallel: the environment is the test's
	d, err := DecodeDestination([]byte(`{
		"name": "ops", "type": "teams", "format": "workflows",
		"url": "https:\/\/prod.logic.azure.com\/flow?sig=${HERALD_TEST_SECRET}",
		"events": "BUILD_FAILED;build.fixed", "build_success": "only_if_previously_failed",
		"branches": ["main", "!wip/*"], "dedup_window": "10m",
		"rate_limit": {"per_second": 0.5, "window": {"limit": 10, "period": "1m"}}, "retry_count": 2}`))
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "ops" || d.Type != TypeTeams || d.Format != FormatWorkflows || d.BuildSuccess != PolicyOnlyIfPreviouslyFailed ||
		len(d.Events) != 1 || len(d.Branches) != 2 || d.DedupWindow != 10*time.Minute ||
		d.RateLimit.PerSecond != 0.5 || d.RateLimit.Window.Period != time.Minute || *d.RetryCount != 2 {
		t.Errorf("decoded %+v", d)
	}
	if u := d.URL.Value(); u != "https://prod.logic.azure.com/flow?sig=${HERALD_TEST_SECRET}" {
		t.Errorf("url %q: want it as written, not expanded", u)
	}
	for _, tc := range []struct{ in, want string }{
		{`{"name":"x","colour":"blue"}`, "colour is not a known key"},
		{`{"name":"x","rate_limit":{"per_sec":1}}`, "per_sec is not a known key of RateLimit"},
		{`{"name":"x","url_file":"/etc/hostname"}`, "url_file: names a file on herald's host"},
		{`{"name":"x","templates_dir":"/etc"}`, "templates_dir: names a file on herald's host"},
		{`{"name":"x","basic_auth":{"username":"u","password_file":"/etc/shadow"}}`, "basic_auth.password_file"},
		{`{"name":"x","max_in_flight":"https://hooks.slack.com/services/SECRET"}`, "cannot unmarshal !!str the value into int"},
		{`{"name":"x","disabled":true}`, "disabled is not a known key"},
		{`{"name":"x","origin":"config"}`, "origin is not a known key"},
		{`["x"]`, "a JSON object of config keys"},
		{`null`, "a JSON object of config keys"},
		{`{"name":`, "a JSON object of config keys"},
	} {
		_, err := DecodeDestination([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error containing %q", tc.in, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: the error quotes a value: %v", tc.in, err)
		}
	}
}

// TestWithAPIDestinations: appended after the file's, defaults set, the
// whole validated: names, egress, shared URLs; c itself unchanged.
func TestWithAPIDestinations(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(`
delivery: {timeout: 7s}
destinations: [{name: file, type: slack, url: "https://hooks.slack.com/services/T/B/X"}]`), ".")
	if err != nil {
		t.Fatal(err)
	}
	add := func(js string) Destination {
		d, err := DecodeDestination([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	out, err := c.WithAPIDestinations([]Destination{add(`{"name":"api","type":"slack","url":"https://hooks.slack.com/services/T/B/Y"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Destinations) != 1 || len(out.Destinations) != 2 {
		t.Fatalf("file %d destinations, composed %d", len(c.Destinations), len(out.Destinations))
	}
	api := out.Destinations[1]
	if OriginOf(api) != OriginAPI || OriginOf(out.Destinations[0]) != OriginConfig {
		t.Errorf("origins %q %q", OriginOf(out.Destinations[0]), OriginOf(api))
	}
	if api.Timeout != 7*time.Second || api.RateLimit == nil || api.RateLimit.PerSecond != 1 || api.MaxInFlight != 1 || api.CircuitBreaker == nil {
		t.Errorf("the API destination's defaults: %+v", api)
	}
	for _, tc := range []struct{ js, want string }{
		{`{"name":"file","type":"console"}`, `destination "file": name is used twice`},
		{`{"name":"x","type":"slack","url":"https://evil.example/hooks"}`, `destination "x": url:`},
		{`{"name":"x","type":"slack","url":"http://127.0.0.1:9/hooks"}`, "egress.allow_private"},
		{`{"name":"x","type":"slack","url":"https://hooks.slack.com/services/T/B/X","max_in_flight":4}`, `shares its url with "file"`},
		{`{"name":"bad name!","type":"console"}`, "name may hold letters"},
		{`{"name":"x","type":"pager"}`, `type "pager" is not one of`},
	} {
		if _, err := c.WithAPIDestinations([]Destination{add(tc.js)}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error containing %q", tc.js, err, tc.want)
		}
	}
	if _, err := c.WithAPIDestinations([]Destination{{Name: "x", Type: TypeConsole, TemplatesDir: "/etc"}}); err == nil {
		t.Error("a templates_dir set in Go was accepted")
	}
}
