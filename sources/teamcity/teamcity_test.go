package teamcity_test

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/sources"
	"github.com/herald-ci/herald/sources/internal/decodetest"
	"github.com/herald-ci/herald/sources/teamcity"
)

var _ sources.Decoder = teamcity.Decoder{}

// key holds the fields each fixture pins exactly; the golden file holds
// the rest.
type key struct {
	Type, Kind, Status          string
	Project, ProjectID          string
	BuildConfig, BuildConfigID  string
	BuildID, Number, Branch     string
	DefaultBranch               bool
	StatusText, Reason, URL     string
	SHA, Author                 string
	TriggerType, TriggerUser    string
	AgentName, AgentPool        string
	Tests, Problems, Changes    int
	Progress                    int
	Started, Finished, Occurred string
	Duration                    time.Duration
}

func keyOf(ev *event.Event) key {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format(time.RFC3339)
	}
	return key{
		Type: ev.Type, Kind: string(ev.Kind), Status: string(ev.Status),
		Project: ev.Project, ProjectID: ev.ProjectID,
		BuildConfig: ev.BuildConfig, BuildConfigID: ev.BuildConfigID,
		BuildID: ev.BuildID, Number: ev.Number, Branch: ev.Branch,
		DefaultBranch: ev.DefaultBranch,
		StatusText:    ev.StatusText, Reason: ev.Reason, URL: ev.URL,
		SHA: ev.Commit.SHA, Author: ev.Commit.Author,
		TriggerType: ev.Trigger.Type, TriggerUser: ev.Trigger.User,
		AgentName: ev.Agent.Name, AgentPool: ev.Agent.Pool,
		Tests: ev.Tests.Total, Problems: ev.Problems, Changes: ev.Changes,
		Progress: ev.Progress,
		Started:  ts(ev.StartedAt), Finished: ts(ev.FinishedAt), Occurred: ts(ev.OccurredAt),
		Duration: ev.Duration,
	}
}

func TestDecode(t *testing.T) {
	t.Parallel()
	const (
		sampleURL = "http://localhost:8111/buildConfiguration/SampleProject_Build/"
		agentURL  = "http://localhost:8111/agentDetails.html?id=3&agentTypeId=3&realAgentName=agent-linux-01"
	)
	agentKey := func(typ, status string) key {
		return key{Type: typ, Kind: "agent", Status: status, URL: agentURL, AgentName: "agent-linux-01", AgentPool: "Linux agents"}
	}
	tests := []struct {
		file string
		want key
	}{
		{"teamcity-agent-registered.json", agentKey("AGENT_REGISTRED", "registered")},
		{"teamcity-agent-unregistered.json", agentKey("AGENT_UNREGISTERED", "unregistered")},
		{"teamcity-agent-removed.json", agentKey("AGENT_REMOVED", "removed")},
		{"teamcity-build-type-added-to-queue.json", key{
			Type: "BUILD_TYPE_ADDED_TO_QUEUE", Kind: "build", Status: "queued",
			Project: "SampleProject", ProjectID: "SampleProject", BuildConfig: "Build", BuildConfigID: "SampleProject_Build",
			BuildID: "1042", Branch: "main", DefaultBranch: true,
			StatusText: "Waiting to start checking for changes", URL: "http://localhost:8111/viewQueued.html?itemId=1042",
			TriggerType: "user", TriggerUser: "jdoe",
			Occurred: "2024-01-15T09:30:01Z",
		}},
		{"teamcity-changes-loaded.json", key{
			Type: "CHANGES_LOADED", Kind: "build", Status: "changes_loaded",
			Project: "SampleProject", ProjectID: "SampleProject", BuildConfig: "Build", BuildConfigID: "SampleProject_Build",
			BuildID: "1042", Branch: "main", DefaultBranch: true,
			StatusText: "Waiting for a compatible agent", URL: "http://localhost:8111/viewQueued.html?itemId=1042",
			SHA: "9b1c3e7f2a4d5b6c7d8e9f0011223344556677aa", Author: "jdoe",
			TriggerType: "user", TriggerUser: "jdoe", Changes: 1,
		}},
		{"teamcity-build-started.json", key{
			Type: "BUILD_STARTED", Kind: "build", Status: "started",
			Project: "SampleProject", ProjectID: "SampleProject", BuildConfig: "Build", BuildConfigID: "SampleProject_Build",
			BuildID: "901", Number: "2031", StatusText: "Running", URL: sampleURL + "901",
			TriggerType: "schedule", AgentName: "agent-win-01",
			Started: "2025-08-12T03:00:12Z", Occurred: "2025-08-12T03:00:12Z",
		}},
		{"teamcity-build-started-custom-fields.json", key{
			Type: "BUILD_STARTED", Kind: "build", Status: "started",
			BuildConfigID: "SampleProject_Build", BuildID: "1042", Number: "118",
			Duration: time.Second,
		}},
		{"teamcity-build-problems-changed.json", key{
			Type: "BUILD_PROBLEMS_CHANGED", Kind: "build", Status: "problems_changed",
			Project: "SampleProject", ProjectID: "SampleProject", BuildConfig: "Build", BuildConfigID: "SampleProject_Build",
			BuildID: "1042", Number: "118", Branch: "main", DefaultBranch: true,
			StatusText: "Exit code 1 (Step: Run tests (Command Line)) (new)", URL: sampleURL + "1042",
			SHA: "9b1c3e7f2a4d5b6c7d8e9f0011223344556677aa", Author: "jdoe",
			TriggerType: "user", TriggerUser: "jdoe", AgentName: "agent-linux-01",
			Tests: 128, Problems: 1, Changes: 1, Progress: 64,
			Started: "2024-01-15T09:30:15Z", Duration: 212 * time.Second,
		}},
		{"teamcity-build-finished.json", key{
			Type: "BUILD_FINISHED", Kind: "build", Status: "succeeded",
			Project: "SampleProject", ProjectID: "SampleProject", BuildConfig: "Build", BuildConfigID: "SampleProject_Build",
			BuildID: "901", Number: "2031", StatusText: "Success", URL: sampleURL + "901",
			SHA: "65", Author: "jdoe", TriggerType: "schedule", AgentName: "agent-win-01", Changes: 1,
			Started: "2025-08-12T03:00:12Z", Finished: "2025-08-12T03:34:11Z", Occurred: "2025-08-12T03:34:11Z",
			Duration: 33*time.Minute + 59*time.Second,
		}},
		{"teamcity-build-finished-failure.json", key{
			Type: "BUILD_FINISHED", Kind: "build", Status: "failed",
			Project: "Sample Web", ProjectID: "SampleWeb", BuildConfig: "Client:dev", BuildConfigID: "SampleWeb_Client_Dev",
			BuildID: "9", Number: "3", Branch: "dev", DefaultBranch: true,
			StatusText: "Exit code 1 (Step: Run tests (Command Line)) (new)",
			URL:        "http://localhost:8111/viewLog.html?buildId=9&buildTypeId=SampleWeb_Client_Dev",
			SHA:        "d1a9f4773431d60bb53d9a9c5476c6813c266775", Author: "jdoe",
			TriggerType: "user", TriggerUser: "ci-admin", AgentName: "Agent 2", Problems: 1, Changes: 1,
			Started: "2023-08-21T08:46:58Z", Finished: "2023-08-21T08:47:09Z", Occurred: "2023-08-21T08:47:09Z",
			Duration: 11 * time.Second,
		}},
		{"teamcity-build-interrupted.json", key{
			Type: "BUILD_INTERRUPTED", Kind: "build", Status: "interrupted",
			Project: "SampleProject", ProjectID: "SampleProject", BuildConfig: "Build", BuildConfigID: "SampleProject_Build",
			BuildID: "327", Number: "2009", StatusText: "Canceled", Reason: "canceled by admin: Wrong branch selected",
			URL: sampleURL + "327", SHA: "29", Author: "jdoe", TriggerType: "user", TriggerUser: "admin",
			AgentName: "Dead agent", Changes: 1, Progress: 100,
			Started: "2025-06-18T19:05:37Z", Occurred: "2025-08-12T23:00:28Z",
			Duration: 4766092 * time.Second,
		}},
		{"teamcity-build-interrupted-custom-fields.json", key{
			Type: "BUILD_INTERRUPTED", Kind: "build", Status: "interrupted",
			BuildConfigID: "GhAppMaven_Build", Number: "43", Reason: "canceled by JohnDoe",
		}},
		{"teamcity-build-interrupted-custom-fields-raw.json", key{
			Type: "BUILD_INTERRUPTED", Kind: "build", Status: "interrupted",
			BuildConfigID: "GhAppMaven_Build", Number: "43", Reason: "canceled by JohnDoe",
		}},
	}
	for _, tc := range tests {
		decodetest.Fixture(t, teamcity.Decoder{}, teamcity.Name, tc.file, tc.want, keyOf)
	}
}

func TestDecodeFinishedStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload string
		want    event.Status
	}{
		{"success", `{"status":"SUCCESS"}`, event.StatusSucceeded},
		{"warning", `{"status":"WARNING"}`, event.StatusSucceeded},
		{"failure", `{"status":"FAILURE"}`, event.StatusFailed},
		{"error", `{"status":"ERROR"}`, event.StatusFailed},
		{"unknown is canceled", `{"status":"UNKNOWN","statusText":"Canceled"}`, event.StatusInterrupted},
		{"canceledInfo wins", `{"status":"FAILURE","canceledInfo":{"text":"stop"}}`, event.StatusInterrupted},
		{"trimmed, success text", `{"statusText":"Success"}`, event.StatusSucceeded},
		{"trimmed, tests passed", `{"statusText":"Tests passed: 27"}`, event.StatusSucceeded},
		{"trimmed, canceled text", `{"statusText":"Canceled"}`, event.StatusInterrupted},
		{"trimmed, tests failed", `{"statusText":"Tests passed: 2","testOccurrences":{"failed":1}}`, event.StatusFailed},
		{"trimmed, problems", `{"problemOccurrences":{"count":1}}`, event.StatusFailed},
		{"failed to start", `{"failedToStart":true,"statusText":"Success"}`, event.StatusFailed},
		{"nothing known", `{}`, event.StatusFailed},
		{"future status", `{"status":"FLAKY","statusText":"Success"}`, event.StatusSucceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev, err := teamcity.Decoder{}.Decode([]byte(`{"eventType":"BUILD_FINISHED","payload":` + tc.payload + `}`))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if ev.Status != tc.want {
				t.Errorf("Status = %q, want %q", ev.Status, tc.want)
			}
		})
	}
}

func TestDecodeFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		typ     string
		payload string
		check   func(*event.Event) bool
	}{
		{"registered corrected spelling", "AGENT_REGISTERED", `{"name":"a"}`,
			func(ev *event.Event) bool { return ev.Name() == "agent.registered" && ev.Agent.Name == "a" }},
		{"default branch placeholder", "BUILD_STARTED", `{"branchName":"<default>"}`,
			func(ev *event.Event) bool { return ev.Branch == "" && ev.DefaultBranch }},
		{"refs/heads stripped", "BUILD_STARTED", `{"branchName":"refs/heads/feature/x"}`,
			func(ev *event.Event) bool { return ev.Branch == "feature/x" && !ev.DefaultBranch }},
		{"tag kept", "BUILD_STARTED", `{"branchName":"refs/tags/v1"}`,
			func(ev *event.Event) bool { return ev.Branch == "refs/tags/v1" }},
		{"buildType.id fallback", "BUILD_STARTED", `{"buildType":{"id":"P_B"}}`,
			func(ev *event.Event) bool { return ev.BuildConfigID == "P_B" }},
		{"revision sha fallback", "BUILD_STARTED", `{"revisions":{"revision":[{"version":"abc"}]}}`,
			func(ev *event.Event) bool { return ev.Commit.SHA == "abc" }},
		{"trigger user name fallback", "BUILD_STARTED", `{"triggered":{"type":"user","user":{"name":"Jane"},"displayText":"Jane"}}`,
			func(ev *event.Event) bool {
				return ev.Trigger == event.Trigger{Type: "user", User: "Jane", Text: "Jane"}
			}},
		{"system cancel keeps text", "BUILD_INTERRUPTED", `{"canceledInfo":{"text":"Snapshot dependency failed\r\n"}}`,
			func(ev *event.Event) bool {
				return ev.Reason == "Snapshot dependency failed" && ev.Trigger == event.Trigger{}
			}},
		{"canceling user is not the trigger", "BUILD_INTERRUPTED", `{"triggered":{"user":{"username":"a"}},"canceledInfo":{"user":{"username":"b"}}}`,
			func(ev *event.Event) bool { return ev.Trigger.User == "a" && ev.Reason == "canceled by b" }},
		{"bad dates are ignored", "BUILD_FINISHED", `{"status":"SUCCESS","startDate":"yesterday","finishDate":"20240101T120000+0000"}`,
			func(ev *event.Event) bool {
				return ev.StartedAt.IsZero() && ev.FinishedAt.Equal(time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)) && ev.Duration == 0
			}},
		{"dates beyond year 9999 in UTC are ignored", "BUILD_FINISHED", `{"queuedDate":"00000101T000000+0100","finishDate":"99991231T235959-0100"}`,
			func(ev *event.Event) bool { return ev.QueuedAt.IsZero() && ev.FinishedAt.IsZero() }},
		{"finish before start ignored for duration", "BUILD_FINISHED", `{"startDate":"20240101T120000+0000","finishDate":"20240101T110000+0000","running-info":{"elapsedSeconds":5}}`,
			func(ev *event.Event) bool { return ev.Duration == 5*time.Second }},
		{"lenient scalars", "BUILD_STARTED", `{"id":"12","number":7,"defaultBranch":"true","percentageComplete":"150","testOccurrences":{"count":3.0}}`,
			func(ev *event.Event) bool {
				return ev.BuildID == "12" && ev.Number == "7" && ev.DefaultBranch && ev.Progress == 100 && ev.Tests.Total == 3
			}},
		{"nulls", "BUILD_STARTED", `{"id":null,"buildType":null,"agent":null,"canceledInfo":null,"lastChanges":{"change":null}}`,
			func(ev *event.Event) bool { return ev.BuildID == "" && ev.Agent == event.Agent{} }},
		{"huge elapsed clamps", "BUILD_STARTED", `{"running-info":{"elapsedSeconds":1e300}}`,
			func(ev *event.Event) bool { return ev.Duration > 0 }},
		{"changes count preferred", "BUILD_FINISHED", `{"changes":{"count":4},"lastChanges":{"count":1}}`,
			func(ev *event.Event) bool { return ev.Changes == 4 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			decodetest.Accept(t, teamcity.Decoder{}, `{"eventType":"`+tc.typ+`","payload":`+tc.payload+`}`, tc.check)
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	legacy := decodetest.ReadFile(t, filepath.Join("testdata", "teamcity-tcwebhooks-legacy-json-failure.json"))
	tests := []struct {
		name    string
		body    string
		ignored bool   // want event.ErrIgnored rather than *event.InputError
		reason  string // a part of the reason, for InputErrors
	}{
		{"empty", "", false, "empty body"},
		{"blank", " \n\t", false, "empty body"},
		{"not JSON", "eventType=BUILD_FINISHED", false, "not valid JSON"},
		{"truncated", `{"eventType":"BUILD_FINISHED","payload":{`, false, "not valid JSON"},
		{"trailing garbage", `{"eventType":"BUILD_FINISHED","payload":{}} x`, false, "not valid JSON"},
		{"array", `[{"eventType":"BUILD_FINISHED","payload":{}}]`, false, "not a JSON object"},
		{"string", `"BUILD_FINISHED"`, false, "not a JSON object"},
		{"null", `null`, false, "not a JSON object"},
		{"tcWebHooks legacy", string(legacy), false, "not a TeamCity webhook envelope"},
		{"no eventType", `{"payload":{}}`, false, "missing eventType"},
		{"eventType number", `{"eventType":3,"payload":{}}`, false, "eventType must be a string"},
		{"eventType null", `{"eventType":null,"payload":{}}`, false, "eventType must be a string"},
		{"eventType empty", `{"eventType":"","payload":{}}`, false, "eventType is empty"},
		{"no payload", `{"eventType":"BUILD_FINISHED"}`, false, "missing payload"},
		{"payload string", `{"eventType":"BUILD_FINISHED","payload":"SECRET-VALUE"}`, false, "payload must be a JSON object"},
		{"payload null", `{"eventType":"BUILD_FINISHED","payload":null}`, false, "payload must be a JSON object"},
		{"payload array", `{"eventType":"AGENT_REMOVED","payload":[]}`, false, "payload must be a JSON object"},
		{"buildType string", `{"eventType":"BUILD_FINISHED","payload":{"buildType":"SECRET-VALUE"}}`, false, "payload.buildType"},
		{"change not a list", `{"eventType":"BUILD_FINISHED","payload":{"lastChanges":{"change":{"version":"SECRET-VALUE"}}}}`, false, "payload.lastChanges.change"},
		{"number an object", `{"eventType":"BUILD_STARTED","payload":{"number":{"SECRET-VALUE":1}}}`, false, "payload.number"},
		{"agent pool a list", `{"eventType":"AGENT_REGISTRED","payload":{"pool":["SECRET-VALUE"]}}`, false, "payload.pool"},
		{"removed from queue", `{"eventType":"BUILD_REMOVED_FROM_QUEUE","payload":{"id":1}}`, true, ""},
		{"future type", `{ "eventType" : "BUILD_PINNED", "payload" : {} }`, true, ""},
		{"lower case type", `{"eventType":"build_finished","payload":{}}`, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reason := decodetest.Reject(t, teamcity.Decoder{}, tc.body, tc.ignored, 120)
			if !tc.ignored && !strings.Contains(reason, tc.reason) {
				t.Errorf("reason %q does not contain %q", reason, tc.reason)
			}
		})
	}
}

func TestDecodeIgnoredTypeIsBounded(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 200)
	_, err := teamcity.Decoder{}.Decode([]byte(`{"eventType":"` + long + `","payload":{}}`))
	if !errors.Is(err, event.ErrIgnored) {
		t.Fatalf("error = %v, want event.ErrIgnored", err)
	}
	if len(err.Error()) > 200 {
		t.Errorf("ignored error is %d bytes long", len(err.Error()))
	}
}

func TestDecodeByteOrderMark(t *testing.T) {
	t.Parallel()
	body := []byte("\xef\xbb\xbf{\"eventType\":\"BUILD_STARTED\",\"payload\":{}}")
	ev, err := teamcity.Decoder{}.Decode(body)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !json.Valid(ev.Raw) {
		t.Errorf("Raw is not valid JSON: %q", ev.Raw)
	}
}

func TestDecodeDoesNotAliasBody(t *testing.T) {
	t.Parallel()
	body := []byte(`{"eventType":"BUILD_STARTED","payload":{}}`)
	ev, err := teamcity.Decoder{}.Decode(body)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	body[2] = 'X'
	if ev.Raw[2] == 'X' {
		t.Errorf("Raw shares memory with the request body")
	}
}
