// Package appcenter decodes Visual Studio App Center webhooks into
// event.Event.
//
// App Center posts one flat JSON object per event, with no envelope and no
// event-type field, and has been seen to omit Content-Type, so the body is
// parsed whatever the header says. The kind is told from which keys are
// present with a non-null value, checked in this order:
//
//	build_status                 build (Type "BuildComplete")
//	release_id                   release.published (Type "NewAppRelease")
//	id and reason                crash.created (Type "NewCrashGroupCreated")
//	text                         test.ping (Type "Test"; the real ping also has sent_at and url)
//	none of these                *event.InputError
//
// The Type names follow App Center's own notification event types
// (BuildComplete*, NewAppRelease, NewCrashGroupCreated).
//
// build_status gives the build status, compared without regard to case:
// Succeeded, SucceededWithIssues, PartiallySucceeded and Fixed are
// build.succeeded; Failed and Broken are build.failed; Canceled and
// Cancelled are build.interrupted. App Center only calls a build webhook
// when a build has completed, and the set of values was never documented,
// so any other value is build.failed with StatusText holding the value as
// sent: a completed build herald cannot read is announced, not dropped.
// StatusText is always the raw build_status, so "Fixed" and "Broken" (the
// first success or failure after the other) stay visible.
//
// Other mapping choices:
//   - ProjectID is app_name (the app slug); crash and test bodies have none,
//     so it is taken from the "/apps/<slug>" part of their URL. Project and
//     AppName are app_display_name, else the slug.
//   - Platform is os (build), platform (release) or app_platform (crash; the
//     SDK language, e.g. "Java").
//   - build_id is both BuildID and Number; build_reason is Trigger.Type and
//     Reason; branch is URL-decoded when it holds %-escapes.
//   - Dates are RFC 3339 with 0 to 9 fraction digits; a date that does not
//     parse is left zero. sent_at is OccurredAt.
//   - App Center sends no delivery id, so SenderID stays empty.
//
// The decoder is a pure function of the bytes: no I/O, no clock, no logging.
// It must not grow knowledge of destinations, templates or routing.
package appcenter

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/sources/internal/lenient"
)

// Name is the source name: the path segment of POST /v1/events/appcenter
// and the Source of every event this package decodes.
const Name = "appcenter"

// The sender's event names, after App Center's notification event types.
const (
	TypeBuild   = "BuildComplete"
	TypeRelease = "NewAppRelease"
	TypeCrash   = "NewCrashGroupCreated"
	TypeTest    = "Test"
)

// Decoder decodes App Center webhook bodies; it implements sources.Decoder
// (checked by the registry in package sources, which imports this one). The
// zero value is ready to use.
type Decoder struct{}

// Decode turns one webhook body into an event. See the package doc for the
// rules.
func (Decoder) Decode(body []byte) (*event.Event, error) {
	// Object drops a byte order mark (.NET senders and proxies may add one)
	// from body, so that Raw stays valid JSON.
	body, keys, err := lenient.Object(body)
	if err != nil {
		return nil, err
	}
	present := func(k string) bool {
		v, ok := keys[k]
		return ok && !bytes.Equal(bytes.TrimSpace(v), []byte("null"))
	}

	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, event.Invalid("%s has the wrong JSON type", te.Field)
		}
		return nil, event.Invalid("body is not an App Center webhook")
	}

	ev := &event.Event{
		Source:     Name,
		Raw:        json.RawMessage(bytes.Clone(body)),
		OccurredAt: parseTime(string(p.SentAt)),
	}
	switch {
	case present("build_status"):
		decodeBuild(ev, &p)
	case present("release_id"):
		decodeRelease(ev, &p)
	case present("id") && present("reason"):
		decodeCrash(ev, &p)
	case present("text"):
		ev.Type, ev.Kind, ev.Status = TypeTest, event.KindTest, event.StatusPing
		ev.Text = string(p.Text)
		ev.URL = string(p.URL)
	default:
		return nil, event.Invalid("not an App Center webhook: none of build_status, release_id, id and reason, or text")
	}
	app(ev, &p)
	return ev, nil
}

var buildStatuses = map[string]event.Status{
	"succeeded":           event.StatusSucceeded,
	"succeededwithissues": event.StatusSucceeded,
	"partiallysucceeded":  event.StatusSucceeded,
	"fixed":               event.StatusSucceeded,
	"failed":              event.StatusFailed,
	"broken":              event.StatusFailed,
	"canceled":            event.StatusInterrupted,
	"cancelled":           event.StatusInterrupted,
}

func decodeBuild(ev *event.Event, p *payload) {
	ev.Type, ev.Kind = TypeBuild, event.KindBuild
	raw := strings.TrimSpace(string(p.BuildStatus))
	status, ok := buildStatuses[strings.ToLower(raw)]
	if !ok {
		status = event.StatusFailed // see the package doc
	}
	ev.Status = status
	ev.StatusText = raw
	ev.BuildID = string(p.BuildID)
	ev.Number = string(p.BuildID)
	ev.Branch = unescape(string(p.Branch))
	ev.Commit.SHA = string(p.SourceVersion)
	ev.Trigger.Type = string(p.BuildReason)
	ev.Reason = string(p.BuildReason)
	ev.URL = string(p.BuildLink)
	ev.Platform = string(p.OS)
	if u := string(p.NotificationSettingsLink); u != "" {
		ev.Links = append(ev.Links, event.Link{Title: "Notification settings", URL: u})
	}
	ev.StartedAt = parseTime(string(p.StartTime))
	ev.FinishedAt = parseTime(string(p.FinishTime))
	if !ev.StartedAt.IsZero() && !ev.FinishedAt.IsZero() && !ev.FinishedAt.Before(ev.StartedAt) {
		ev.Duration = ev.FinishedAt.Sub(ev.StartedAt)
	}
}

func decodeRelease(ev *event.Event, p *payload) {
	ev.Type, ev.Kind, ev.Status = TypeRelease, event.KindRelease, event.StatusPublished
	ev.Release = event.Release{
		ID:           string(p.ReleaseID),
		Version:      string(p.Version),
		ShortVersion: string(p.ShortVersion),
		Notes:        string(p.ReleaseNotes),
		Size:         max(int64(p.Size), 0),
		MinOS:        string(p.MinOS),
		Mandatory:    bool(p.MandatoryUpdate),
		BundleID:     string(p.BundleIdentifier),
		InstallURL:   string(p.InstallLink),
		IconURL:      string(p.IconLink),
	}
	ev.URL = string(p.InstallLink)
	ev.Platform = string(p.Platform)
}

func decodeCrash(ev *event.Event, p *payload) {
	ev.Type, ev.Kind, ev.Status = TypeCrash, event.KindCrash, event.StatusCreated
	ev.Crash = event.Crash{
		ID:            string(p.ID),
		Name:          string(p.Name),
		Reason:        string(p.Reason),
		File:          string(p.FileName),
		Line:          count(p.LineNumber),
		StackTrace:    []string(p.StackTrace),
		AffectedUsers: count(p.AffectedUsers),
		Count:         count(p.CrashCount),
		AppVersion:    string(p.AppVersion),
	}
	ev.Reason = string(p.Reason)
	ev.URL = string(p.URL)
	ev.Platform = string(p.AppPlatform)
}

// app fills the app's identity: the slug from app_name or, when the body
// has none, from the event's App Center URL.
func app(ev *event.Event, p *payload) {
	slug := string(p.AppName)
	if slug == "" {
		slug = slugFromURL(ev.URL)
	}
	name := firstNonEmpty(string(p.AppDisplayName), slug)
	ev.ProjectID = slug
	ev.Project = name
	ev.AppName = name
}

// slugFromURL returns <app> from an App Center URL such as
// https://appcenter.ms/users/<owner>/apps/<app>/crashes/errors/<id>.
func slugFromURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	for i := 0; i+1 < len(parts); i++ {
		if parts[i] == "apps" && parts[i+1] != "" {
			return parts[i+1]
		}
	}
	return ""
}

// unescape decodes a %-encoded branch name such as "feature%2Flogin",
// leaving anything else, including a malformed escape, as it came.
func unescape(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	if d, err := url.PathUnescape(s); err == nil {
		return d
	}
	return s
}

// App Center dates are RFC 3339 in UTC with 0 to 7 fraction digits. The
// fallbacks cover a missing zone (read as UTC) and the spaces after colons
// seen in one published capture of the test ping.
func parseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	for _, c := range []string{s, strings.ReplaceAll(s, " ", "")} {
		if t, err := time.Parse(time.RFC3339Nano, c); err == nil {
			return inRange(t.UTC())
		}
		if t, err := time.Parse("2006-01-02T15:04:05.999999999", c); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// inRange drops a time whose UTC year left 0000-9999 through its offset:
// time.Time cannot encode it as JSON.
func inRange(t time.Time) time.Time {
	if t.Year() < 0 || t.Year() > 9999 {
		return time.Time{}
	}
	return t
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
