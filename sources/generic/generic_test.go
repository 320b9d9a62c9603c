package generic_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/sources"
	"github.com/herald-ci/herald/sources/generic"
	"github.com/herald-ci/herald/sources/internal/decodetest"
)

var _ sources.Decoder = generic.Decoder{}

// key holds the fields each example pins exactly; the golden file holds
// the rest.
type key struct {
	Type, Kind, Status, SenderID string
	Project, BuildID, Number     string
	Branch, URL, SHA             string
	Links, Failed                int
	CrashLine, CrashFrames       int
	ReleaseID, AgentID           string
	Finished                     string
	Duration                     time.Duration
}

func keyOf(ev *event.Event) key {
	k := key{
		Type: ev.Type, Kind: string(ev.Kind), Status: string(ev.Status), SenderID: ev.SenderID,
		Project: ev.Project, BuildID: ev.BuildID, Number: ev.Number,
		Branch: ev.Branch, URL: ev.URL, SHA: ev.Commit.SHA,
		Links: len(ev.Links), Failed: ev.Tests.Failed,
		CrashLine: ev.Crash.Line, CrashFrames: len(ev.Crash.StackTrace),
		ReleaseID: ev.Release.ID, AgentID: ev.Agent.ID,
		Duration: ev.Duration,
	}
	if !ev.FinishedAt.IsZero() {
		k.Finished = ev.FinishedAt.Format(time.RFC3339Nano)
	}
	return k
}

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		want key
	}{
		{"build-failed.json", key{
			Type: "pipeline.failed", Kind: "build", Status: "failed", SenderID: "gitlab-pipeline-88412",
			Project: "Shop :: Backend", BuildID: "88412", Number: "1.14.0-rc.2+412", Branch: "feature/checkout-v2",
			URL: "https://ci.example.com/shop/backend/-/pipelines/88412", SHA: "4f2d9c1b7e8a6d5c4b3a29180f7e6d5c4b3a2918",
			Links: 2, Failed: 3, Finished: "2024-05-02T14:16:02.25Z",
			Duration: 12*time.Minute + 22250*time.Millisecond,
		}},
		{"build-succeeded.json", key{
			Type: "build.succeeded", Kind: "build", Status: "succeeded",
			Project: "Docs site", Number: "2031", Branch: "main",
			URL: "https://jenkins.example.com/job/docs-publish/2031/", SHA: "9b1c3e7f2a4d5b6c7d8e9f0011223344556677aa",
			Duration: 754500 * time.Millisecond,
		}},
		{"crash.json", key{
			Type: "crash.created", Kind: "crash", Status: "created", SenderID: "sentry-issue-5521907",
			Project: "Shop for Android", URL: "https://sentry.example.com/organizations/acme/issues/5521907/",
			CrashLine: 214, CrashFrames: 3,
		}},
		{"release.json", key{
			Type: "release.published", Kind: "release", Status: "published", SenderID: "shop-ios-release-1187",
			Project: "Shop for iOS", URL: "https://testflight.example.com/shop-ios/builds/1187",
			Links: 1, ReleaseID: "1187",
		}},
		{"agent.json", key{Type: "agent.unregistered", Kind: "agent", Status: "unregistered", AgentID: "7"}},
		{"test-ping.json", key{Type: "test.ping", Kind: "test", Status: "ping"}},
	}
	for _, tc := range tests {
		decodetest.Fixture(t, generic.Decoder{}, generic.Name, tc.file, tc.want, keyOf)
	}
}

func TestDecodeValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		body  string
		check func(*event.Event) bool
	}{
		{"minimal", `{"kind":"build","status":"started"}`,
			func(ev *event.Event) bool { return ev.Name() == "build.started" && ev.Type == "build.started" }},
		{"nulls mean absent", `{"kind":"crash","status":"created","id":null,"type":null,"commit":null,"links":null,"tests":null,"progress":null,"started_at":null,"duration_seconds":null,"crash":{"line":null,"stack_trace":null}}`,
			func(ev *event.Event) bool {
				return ev.Type == "crash.created" && ev.SenderID == "" && ev.Crash.Line == 0
			}},
		{"integers in any JSON spelling", `{"kind":"build","status":"failed","id":42,"number":1.0,"build_id":1e2,"tests":{"total":2.0E1}}`,
			func(ev *event.Event) bool {
				return ev.SenderID == "42" && ev.Number == "1" && ev.BuildID == "100" && ev.Tests.Total == 20
			}},
		{"largest safe integer", `{"kind":"release","status":"published","release":{"size":9007199254740991}}`,
			func(ev *event.Event) bool { return ev.Release.Size == 9007199254740991 }},
		{"duration from times", `{"kind":"build","status":"failed","started_at":"2024-01-01T10:00:00+01:00","finished_at":"2024-01-01T09:01:30.5Z"}`,
			func(ev *event.Event) bool { return ev.Duration == 90500*time.Millisecond }},
		{"duration_seconds wins", `{"kind":"build","status":"failed","started_at":"2024-01-01T10:00:00Z","finished_at":"2024-01-01T10:01:00Z","duration_seconds":0}`,
			func(ev *event.Event) bool { return ev.Duration == 0 }},
		{"leap second", `{"kind":"build","status":"failed","finished_at":"2016-12-31T23:59:60Z"}`,
			func(ev *event.Event) bool {
				return ev.FinishedAt.Equal(time.Date(2016, 12, 31, 23, 59, 59, 999999999, time.UTC))
			}},
		{"year 0000 east of UTC keeps its offset", `{"kind":"build","status":"failed","finished_at":"0000-01-01T00:00:00+01:00","started_at":"9999-12-31T23:59:59-00:01"}`,
			func(ev *event.Event) bool {
				_, off := ev.FinishedAt.Zone()
				_, err := json.Marshal(ev)
				return off == 3600 && err == nil
			}},
		{"lower-case t and z", `{"kind":"build","status":"failed","finished_at":"2024-01-01t10:00:00.123456789123z"}`,
			func(ev *event.Event) bool {
				return ev.FinishedAt.Equal(time.Date(2024, 1, 1, 10, 0, 0, 123456789, time.UTC))
			}},
		{"unknown fields tolerated", `{"kind":"test","status":"ping","Kind":"build","future":{"x":[1,2]},"commit":{"sha":"a","signed":true}}`,
			func(ev *event.Event) bool { return ev.Name() == "test.ping" && ev.Commit.SHA == "a" }},
		{"keys are case-sensitive", `{"kind":"build","status":"failed","Branch":"x","BRANCH":"y"}`,
			func(ev *event.Event) bool { return ev.Branch == "" }},
		{"upper-case scheme", `{"kind":"build","status":"failed","url":"HTTPS://ci.example.com/b/1"}`,
			func(ev *event.Event) bool { return ev.URL == "HTTPS://ci.example.com/b/1" }},
		{"ipv6 host", `{"kind":"build","status":"failed","url":"http://[::1]:8111/b/1"}`,
			func(ev *event.Event) bool { return ev.URL == "http://[::1]:8111/b/1" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			decodetest.Accept(t, generic.Decoder{}, tc.body, tc.check)
		})
	}
}

// rejects are bodies the decoder must refuse, with the start of the
// reason it must give. schema_test.go checks the schema refuses them too.
var rejects = []struct {
	name, body, reason string
}{
	{"empty object", `{}`, "missing kind"},
	{"no status", `{"kind":"build"}`, "missing status"},
	{"kind null", `{"kind":null,"status":"failed"}`, "kind: want one of agent, build, crash, release, test"},
	{"kind unknown", `{"kind":"deploy","status":"failed"}`, "kind: want one of"},
	{"kind upper-case", `{"kind":"Build","status":"failed"}`, "kind: want one of"},
	{"kind number", `{"kind":1,"status":"failed"}`, "kind: want a string"},
	{"status null", `{"kind":"build","status":null}`, "status: want one of queued, changes_loaded, started, succeeded, failed, interrupted, problems_changed for kind build"},
	{"status of another kind", `{"kind":"crash","status":"failed"}`, "status: want one of created for kind crash"},
	{"status number", `{"kind":"build","status":3}`, "status: want a string"},
	{"id negative", `{"kind":"build","status":"failed","id":-1}`, "id: want a string or an integer"},
	{"id fraction", `{"kind":"build","status":"failed","id":1.5}`, "id: want a string or an integer"},
	{"id too large", `{"kind":"build","status":"failed","id":9007199254740992}`, "id: want a string or an integer"},
	{"id huge exponent", `{"kind":"build","status":"failed","id":1e999999999999}`, "id: want a string or an integer"},
	{"id boolean", `{"kind":"build","status":"failed","id":true}`, "id: want a string or an integer"},
	{"number object", `{"kind":"build","status":"failed","number":{"SECRET-VALUE":1}}`, "number: want a string or an integer"},
	{"project number", `{"kind":"build","status":"failed","project":7}`, "project: want a string"},
	{"default_branch string", `{"kind":"build","status":"failed","default_branch":"true"}`, "default_branch: want true or false"},
	{"url relative", `{"kind":"build","status":"failed","url":"/builds/SECRET-VALUE"}`, "url: want an absolute http or https URL"},
	{"url ftp", `{"kind":"build","status":"failed","url":"ftp://example.com/x"}`, "url: want an absolute http or https URL"},
	{"url with space", `{"kind":"build","status":"failed","url":"https://example.com/a b"}`, "url: want an absolute http or https URL"},
	{"url bad escape", `{"kind":"build","status":"failed","url":"https://example.com/%zz"}`, "url: want an absolute http or https URL"},
	{"url no host", `{"kind":"build","status":"failed","url":"https:///path"}`, "url: want an absolute http or https URL"},
	{"url bare ipv6", `{"kind":"build","status":"failed","url":"http://::1/x"}`, "url: want an absolute http or https URL"},
	{"commit url", `{"kind":"build","status":"failed","commit":{"url":"SECRET-VALUE"}}`, "commit.url: want an absolute http or https URL"},
	{"commit string", `{"kind":"build","status":"failed","commit":"SECRET-VALUE"}`, "commit: want an object"},
	{"links object", `{"kind":"build","status":"failed","links":{"title":"a","url":"https://x.example"}}`, "links: want an array"},
	{"link null", `{"kind":"build","status":"failed","links":[null]}`, "links[0]: want an object"},
	{"link without title", `{"kind":"build","status":"failed","links":[{"url":"https://x.example"}]}`, "links[0].title: want a non-empty string"},
	{"link empty title", `{"kind":"build","status":"failed","links":[{"title":"","url":"https://x.example"}]}`, "links[0].title: want a non-empty string"},
	{"link title number", `{"kind":"build","status":"failed","links":[{"title":1,"url":"https://x.example"}]}`, "links[0].title: want a string"},
	{"link without url", `{"kind":"build","status":"failed","links":[{"title":"a"},{"title":"b"}]}`, "links[0].url: want an absolute http or https URL"},
	{"second link url null", `{"kind":"build","status":"failed","links":[{"title":"a","url":"https://x.example"},{"title":"b","url":null}]}`, "links[1].url: want an absolute http or https URL"},
	{"tests negative", `{"kind":"build","status":"failed","tests":{"failed":-1}}`, "tests.failed: want an integer from 0"},
	{"tests string", `{"kind":"build","status":"failed","tests":{"total":"5"}}`, "tests.total: want an integer from 0"},
	{"progress over 100", `{"kind":"build","status":"started","progress":101}`, "progress: want an integer from 0 to 100"},
	{"progress fraction", `{"kind":"build","status":"started","progress":50.5}`, "progress: want an integer from 0"},
	{"release size fraction", `{"kind":"release","status":"published","release":{"size":1.25}}`, "release.size: want an integer from 0"},
	{"release icon relative", `{"kind":"release","status":"published","release":{"icon_url":"icon.png"}}`, "release.icon_url: want an absolute http or https URL"},
	{"crash line string", `{"kind":"crash","status":"created","crash":{"line":"12"}}`, "crash.line: want an integer from 0"},
	{"stack trace string", `{"kind":"crash","status":"created","crash":{"stack_trace":"a\nb"}}`, "crash.stack_trace: want an array of strings"},
	{"stack frame null", `{"kind":"crash","status":"created","crash":{"stack_trace":["a",null]}}`, "crash.stack_trace[1]: want a string"},
	{"agent connected string", `{"kind":"agent","status":"removed","agent":{"connected":"no"}}`, "agent.connected: want true or false"},
	{"agent id negative", `{"kind":"agent","status":"removed","agent":{"id":-3}}`, "agent.id: want a string or an integer"},
	{"date without zone", `{"kind":"build","status":"failed","started_at":"2024-01-01T10:00:00"}`, "started_at: want an RFC 3339 date-time"},
	{"date only", `{"kind":"build","status":"failed","finished_at":"2024-01-01"}`, "finished_at: want an RFC 3339 date-time"},
	{"date with space", `{"kind":"build","status":"failed","queued_at":"2024-01-01 10:00:00Z"}`, "queued_at: want an RFC 3339 date-time"},
	{"date comma fraction", `{"kind":"build","status":"failed","queued_at":"2024-01-01T10:00:00,5Z"}`, "queued_at: want an RFC 3339 date-time"},
	{"date February 30", `{"kind":"build","status":"failed","occurred_at":"2024-02-30T10:00:00Z"}`, "occurred_at: want an RFC 3339 date-time"},
	{"date hour 24", `{"kind":"build","status":"failed","occurred_at":"2024-02-03T24:00:00Z"}`, "occurred_at: want an RFC 3339 date-time"},
	{"date bad offset", `{"kind":"build","status":"failed","occurred_at":"2024-02-03T10:00:00+0100"}`, "occurred_at: want an RFC 3339 date-time"},
	{"misplaced leap second", `{"kind":"build","status":"failed","occurred_at":"2024-02-03T10:00:60Z"}`, "occurred_at: want an RFC 3339 date-time"},
	{"date unix seconds", `{"kind":"build","status":"failed","started_at":1714658620}`, "started_at: want an RFC 3339 date-time"},
	{"duration negative", `{"kind":"build","status":"failed","duration_seconds":-1}`, "duration_seconds: want a number of seconds"},
	{"duration string", `{"kind":"build","status":"failed","duration_seconds":"60"}`, "duration_seconds: want a number of seconds"},
	{"duration too long", `{"kind":"build","status":"failed","duration_seconds":1e10}`, "duration_seconds: want a number of seconds"},
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	shapes := []struct{ name, body, reason string }{
		{"empty", "", "empty body"},
		{"blank", "  ", "empty body"},
		{"not JSON", "kind=build&status=failed", "body is not valid JSON"},
		{"truncated", `{"kind":"build"`, "body is not valid JSON"},
		{"array", `[{"kind":"build","status":"failed"}]`, "body is not a JSON object"},
		{"string", `"build"`, "body is not a JSON object"},
		{"null", `null`, "body is not a JSON object"},
	}
	for _, tc := range append(shapes, rejects...) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reason := decodetest.Reject(t, generic.Decoder{}, tc.body, false, 140)
			if !strings.HasPrefix(reason, tc.reason) {
				t.Errorf("reason %q does not start with %q", reason, tc.reason)
			}
		})
	}
}
