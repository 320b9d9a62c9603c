package appcenter_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/sources"
	"github.com/herald-ci/herald/sources/appcenter"
	"github.com/herald-ci/herald/sources/internal/decodetest"
)

var _ sources.Decoder = appcenter.Decoder{}

// key holds the fields each fixture pins exactly; the golden file holds
// the rest.
type key struct {
	Type, Kind, Status         string
	Project, ProjectID, App    string
	Platform                   string
	BuildID, Number, Branch    string
	StatusText, Reason, URL    string
	SHA, TriggerType           string
	CrashID, CrashReason       string
	CrashFrames                int
	ReleaseID, ReleaseVersion  string
	ReleaseSize                int64
	Text                       string
	Started, Finished, Occured string
	Duration                   time.Duration
}

func keyOf(ev *event.Event) key {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format(time.RFC3339Nano)
	}
	return key{
		Type: ev.Type, Kind: string(ev.Kind), Status: string(ev.Status),
		Project: ev.Project, ProjectID: ev.ProjectID, App: ev.AppName, Platform: ev.Platform,
		BuildID: ev.BuildID, Number: ev.Number, Branch: ev.Branch,
		StatusText: ev.StatusText, Reason: ev.Reason, URL: ev.URL,
		SHA: ev.Commit.SHA, TriggerType: ev.Trigger.Type,
		CrashID: ev.Crash.ID, CrashReason: ev.Crash.Reason, CrashFrames: len(ev.Crash.StackTrace),
		ReleaseID: ev.Release.ID, ReleaseVersion: ev.Release.ShortVersion + "(" + ev.Release.Version + ")",
		ReleaseSize: ev.Release.Size,
		Text:        ev.Text,
		Started:     ts(ev.StartedAt), Finished: ts(ev.FinishedAt), Occured: ts(ev.OccurredAt),
		Duration: ev.Duration,
	}
}

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		want key
	}{
		{"appcenter-build-success.json", key{
			Type: "BuildComplete", Kind: "build", Status: "succeeded",
			Project: "myFirstApp", ProjectID: "myFirstApp", App: "myFirstApp", Platform: "iOS",
			BuildID: "33", Number: "33", Branch: "main", StatusText: "Succeeded", Reason: "manual",
			URL: "https://appcenter.ms/users/{user-id}/apps/{app-name}/build/branches/main/builds/33",
			SHA: "55820a357ba26831f2eeb3be9973a4ef20618b73", TriggerType: "manual", ReleaseVersion: "()",
			Started: "2018-06-14T23:57:03.4379381Z", Finished: "2018-06-14T23:59:05.2542221Z", Occured: "2018-06-14T23:59:08.4897604Z",
			Duration: 2*time.Minute + 1816284*time.Microsecond,
		}},
		{"appcenter-build-success-android.json", key{
			Type: "BuildComplete", Kind: "build", Status: "succeeded",
			Project: "AppCenterRNTestApp", ProjectID: "AppCenterRNTestApp", App: "AppCenterRNTestApp", Platform: "Android",
			BuildID: "17", Number: "17", Branch: "main", StatusText: "Succeeded", Reason: "manual",
			URL: "https://appcenter.ms/users/skyhook/apps/AppCenterRNTestApp/build/branches/main/builds/17",
			SHA: "a09714bbf5cf6b1424942a12a428aa7e6c4c316f", TriggerType: "manual", ReleaseVersion: "()",
			Started: "2023-01-25T18:48:14.8008937Z", Finished: "2023-01-25T19:00:19.8159458Z", Occured: "2023-01-25T19:52:39.6902952Z",
			Duration: 12*time.Minute + 5*time.Second + 15052100*time.Nanosecond,
		}},
		{"appcenter-build-success-android-2021.json", key{
			Type: "BuildComplete", Kind: "build", Status: "succeeded",
			Project: "SampleApp-Android", ProjectID: "SampleApp-Android", App: "SampleApp-Android", Platform: "Android",
			BuildID: "1", Number: "1", Branch: "master", StatusText: "Succeeded", Reason: "manual",
			URL: "https://appcenter.ms/users/example-user/apps/SampleApp-Android/build/branches/master/builds/1",
			SHA: "7ed5c7b279316f19e9a0c45bb0fb49c0655471af", TriggerType: "manual", ReleaseVersion: "()",
			Started: "2021-03-02T16:34:13.9184874Z", Finished: "2021-03-02T16:41:29.891411Z", Occured: "2021-03-02T16:41:55.8819564Z",
			Duration: 7*time.Minute + 15*time.Second + 972923600*time.Nanosecond,
		}},
		{"appcenter-build-failure.json", key{
			Type: "BuildComplete", Kind: "build", Status: "failed",
			Project: "SampleApp-Android", ProjectID: "SampleApp-Android", App: "SampleApp-Android", Platform: "Android",
			BuildID: "2", Number: "2", Branch: "master", StatusText: "Broken", Reason: "automatic",
			URL: "https://appcenter.ms/users/example-user/apps/SampleApp-Android/build/branches/master/builds/2",
			SHA: "0624e1e3e48eaf2371c37316208ff83bdd5c123b", TriggerType: "automatic", ReleaseVersion: "()",
			Started: "2021-03-02T16:50:52.2584107Z", Finished: "2021-03-02T16:52:04.2587506Z", Occured: "2021-03-02T16:52:35.8848052Z",
			Duration: time.Minute + 12*time.Second + 339900*time.Nanosecond,
		}},
		{"appcenter-build-failure-failed-status.json", key{
			Type: "BuildComplete", Kind: "build", Status: "failed",
			Project: "SampleApp-iOS", ProjectID: "SampleApp-iOS", App: "SampleApp-iOS", Platform: "iOS",
			BuildID: "57", Number: "57", Branch: "feature/login", StatusText: "Failed", Reason: "automatic",
			URL: "https://appcenter.ms/orgs/example-org/apps/SampleApp-iOS/build/branches/feature%2Flogin/builds/57",
			SHA: "3f1c2a9e8b7d6c5b4a39281706f5e4d3c2b1a098", TriggerType: "automatic", ReleaseVersion: "()",
			Started: "2022-11-08T10:12:03.7654321Z", Finished: "2022-11-08T10:21:44.1234567Z", Occured: "2022-11-08T10:22:10.0000001Z",
			Duration: 9*time.Minute + 40*time.Second + 358024600*time.Nanosecond,
		}},
		{"appcenter-crash.json", key{
			Type: "NewCrashGroupCreated", Kind: "crash", Status: "created",
			Project: "{app-name}", ProjectID: "{app-name}", App: "{app-name}", Platform: "Java",
			Reason:  "android.app.SuperNotCalledException",
			URL:     "https://appcenter.ms/orgs/{org-id}/apps/{app-name}/crashes/errors/3698273379u",
			CrashID: "3698593379u", CrashReason: "android.app.SuperNotCalledException", ReleaseVersion: "()",
			Occured: "2019-05-16T23:47:31.4881512Z",
		}},
		{"appcenter-crash-with-stacktrace.json", key{
			Type: "NewCrashGroupCreated", Kind: "crash", Status: "created",
			Project: "SampleApp-Android", ProjectID: "SampleApp-Android", App: "SampleApp-Android", Platform: "Java",
			Reason:  "java.lang.ArithmeticException: divide by zero",
			URL:     "https://appcenter.ms/users/example-user/apps/SampleApp-Android/crashes/errors/1139624368u",
			CrashID: "1139624368u", CrashReason: "java.lang.ArithmeticException: divide by zero", CrashFrames: 1,
			ReleaseVersion: "()", Occured: "2021-03-02T18:14:33.9713246Z",
		}},
		{"appcenter-distribute.json", key{
			Type: "NewAppRelease", Kind: "release", Status: "published",
			Project: "{app-display-name}", ProjectID: "{app-name}", App: "{app-display-name}", Platform: "Android",
			URL:       "https://install.appcenter.ms/orgs/{org-name}/apps/{app-name}/releases/123?source=email",
			ReleaseID: "123", ReleaseVersion: "1.7.0(74)", ReleaseSize: 2634279,
			Occured: "2019-05-16T23:20:08.7799314Z",
		}},
		{"appcenter-distribute-no-icon.json", key{
			Type: "NewAppRelease", Kind: "release", Status: "published",
			Project: "AppCenterRNTestApp", ProjectID: "AppCenterRNTestApp", App: "AppCenterRNTestApp", Platform: "Android",
			URL:       "https://install.appcenter.ms/users/skyhook/apps/AppCenterRNTestApp/releases/15?source=email",
			ReleaseID: "15", ReleaseVersion: "1.0.0(17)", ReleaseSize: 7515436,
			Occured: "2023-01-25T19:53:49.5988863Z",
		}},
		{"appcenter-distribute-with-icon.json", key{
			Type: "NewAppRelease", Kind: "release", Status: "published",
			Project: "SampleApp-Android", ProjectID: "SampleApp-Android", App: "SampleApp-Android", Platform: "Android",
			URL:       "https://install.appcenter.ms/users/example-user/apps/SampleApp-Android/releases/1?source=email",
			ReleaseID: "1", ReleaseVersion: "1.0(1614707021)", ReleaseSize: 2919106,
			Occured: "2021-03-02T17:49:37.127635Z",
		}},
		{"appcenter-test.json", key{
			Type: "Test", Kind: "test", Status: "ping",
			Project: "SampleApp-Android", ProjectID: "SampleApp-Android", App: "SampleApp-Android",
			URL:            "https://appcenter.ms/users/example-user/apps/SampleApp-Android",
			Text:           "Hello from your SampleApp-Android app in App Center!",
			ReleaseVersion: "()", Occured: "2023-01-02T07:53:28.3117824Z",
		}},
	}
	for _, tc := range tests {
		decodetest.Fixture(t, appcenter.Decoder{}, appcenter.Name, tc.file, tc.want, keyOf)
	}
}

func TestDecodeBuildStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value string
		want  event.Status
	}{
		{`"Succeeded"`, event.StatusSucceeded},
		{`"SucceededWithIssues"`, event.StatusSucceeded},
		{`"partiallySucceeded"`, event.StatusSucceeded},
		{`"Fixed"`, event.StatusSucceeded},
		{`"Failed"`, event.StatusFailed},
		{`"Broken"`, event.StatusFailed},
		{`"Canceled"`, event.StatusInterrupted},
		{`"cancelled"`, event.StatusInterrupted},
		{`"TimedOut"`, event.StatusFailed}, // unknown: announced as failed, StatusText says what
		{`""`, event.StatusFailed},
		{`3`, event.StatusFailed},
	}
	for _, tc := range tests {
		t.Run(tc.value, func(t *testing.T) {
			t.Parallel()
			ev, err := appcenter.Decoder{}.Decode([]byte(`{"app_name":"a","build_status":` + tc.value + `}`))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if ev.Status != tc.want || ev.Kind != event.KindBuild {
				t.Errorf("got %s, want build.%s", ev.Name(), tc.want)
			}
			if want := strings.Trim(tc.value, `"`); ev.StatusText != want {
				t.Errorf("StatusText = %q, want %q", ev.StatusText, want)
			}
		})
	}
}

func TestDecodeFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		body  string
		check func(*event.Event) bool
	}{
		{"encoded branch", `{"build_status":"Failed","branch":"feature%2FRC-5.50.2"}`,
			func(ev *event.Event) bool { return ev.Branch == "feature/RC-5.50.2" }},
		{"bad escape kept", `{"build_status":"Failed","branch":"100%-done"}`,
			func(ev *event.Event) bool { return ev.Branch == "100%-done" }},
		{"notification settings link", `{"build_status":"Failed","notification_settings_link":"https://appcenter.ms/users/u/apps/a/settings/notifications"}`,
			func(ev *event.Event) bool {
				return len(ev.Links) == 1 && ev.Links[0].Title == "Notification settings" && ev.ProjectID == ""
			}},
		{"slug from build link", `{"build_status":"Failed","build_link":"https://appcenter.ms/orgs/o/apps/My-App/build/branches/main/builds/3"}`,
			func(ev *event.Event) bool { return ev.ProjectID == "My-App" && ev.Project == "My-App" }},
		{"numeric ids and null line", `{"id":123,"reason":"boom","line_number":null,"file_name":null,"crash_count":"4"}`,
			func(ev *event.Event) bool {
				return ev.Name() == "crash.created" && ev.Crash.ID == "123" && ev.Crash.Line == 0 && ev.Crash.Count == 4
			}},
		{"stack trace as one string", `{"id":"1u","reason":"r","stack_trace":"a.b (A.java:1)\r\nc.d (C.java:2)\n"}`,
			func(ev *event.Event) bool {
				return slices.Equal(ev.Crash.StackTrace, []string{"a.b (A.java:1)", "c.d (C.java:2)"})
			}},
		{"release beats crash keys", `{"release_id":"9","id":"x","reason":"y"}`,
			func(ev *event.Event) bool { return ev.Name() == "release.published" && ev.Release.ID == "9" }},
		{"build beats release", `{"build_status":"Succeeded","release_id":"9"}`,
			func(ev *event.Event) bool { return ev.Name() == "build.succeeded" }},
		{"null build_status does not decide", `{"build_status":null,"text":"hi"}`,
			func(ev *event.Event) bool { return ev.Name() == "test.ping" && ev.Text == "hi" }},
		{"ping with spaces in sent_at", `{"text":"hi","sent_at":"2023-01-02T07: 53: 28.3117824Z","url":"https: //appcenter.ms/users/u/apps/a"}`,
			func(ev *event.Event) bool {
				return ev.OccurredAt.Equal(time.Date(2023, 1, 2, 7, 53, 28, 311782400, time.UTC))
			}},
		{"dates without zone or fraction", `{"build_status":"Failed","start_time":"2024-01-01T10:00:00","finish_time":"2024-01-01T10:00:30Z"}`,
			func(ev *event.Event) bool { return ev.Duration == 30*time.Second }},
		{"unparseable dates ignored", `{"build_status":"Failed","start_time":"soon","finish_time":"2024-01-01T10:00:30Z","sent_at":7}`,
			func(ev *event.Event) bool { return ev.StartedAt.IsZero() && ev.Duration == 0 && ev.OccurredAt.IsZero() }},
		{"dates beyond year 9999 in UTC are ignored", `{"text":"hi","sent_at":"9999-12-31T23:30:00-01:00"}`,
			func(ev *event.Event) bool { return ev.OccurredAt.IsZero() }},
		{"negative size", `{"release_id":"1","size":-5,"mandatory_update":"true"}`,
			func(ev *event.Event) bool { return ev.Release.Size == 0 && ev.Release.Mandatory }},
		{"byte order mark", "\xef\xbb\xbf{\"text\":\"hi\"}",
			func(ev *event.Event) bool { return json.Valid(ev.Raw) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			decodetest.Accept(t, appcenter.Decoder{}, tc.body, tc.check)
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		body   string
		reason string
	}{
		{"empty", "", "empty body"},
		{"blank", "\r\n", "empty body"},
		{"not JSON", "build_status=Succeeded", "not valid JSON"},
		{"truncated", `{"build_status":"Succeeded"`, "not valid JSON"},
		{"array", `[{"build_status":"Succeeded"}]`, "not a JSON object"},
		{"number", `42`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"empty object", `{}`, "not an App Center webhook"},
		{"type-less body", `{"app_name":"SECRET-VALUE","branch":"main","build_id":"3"}`, "not an App Center webhook"},
		{"crash id without reason", `{"id":"1u","name":"x"}`, "not an App Center webhook"},
		{"TeamCity envelope", `{"eventType":"BUILD_FINISHED","payload":{}}`, "not an App Center webhook"},
		{"only nulls", `{"build_status":null,"release_id":null,"text":null}`, "not an App Center webhook"},
		{"build_status object", `{"build_status":{"SECRET-VALUE":1}}`, "build_status"},
		{"stack trace object", `{"id":"1","reason":"r","stack_trace":{"SECRET-VALUE":1}}`, "stack_trace"},
		{"stack frame object", `{"id":"1","reason":"r","stack_trace":[{"SECRET-VALUE":1}]}`, "stack_trace"},
		{"size array", `{"release_id":"1","size":["SECRET-VALUE"]}`, "size"},
		{"flag object", `{"release_id":"1","mandatory_update":{}}`, "mandatory_update"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reason := decodetest.Reject(t, appcenter.Decoder{}, tc.body, false, 120)
			if !strings.Contains(reason, tc.reason) {
				t.Errorf("reason %q does not contain %q", reason, tc.reason)
			}
		})
	}
}
