// Package generic decodes herald's own JSON event format, for anything that
// can run curl: a build script, a crash reporter, a release job.
//
// The format mirrors event.Event's JSON names, so the documentation of one
// is the documentation of the other. Only kind and status are required:
//
//	{
//	  "kind": "build",                      required: build, crash, release, agent, test
//	  "status": "failed",                   required: one of event.Statuses[kind]
//	  "id": "ci-4711",                      optional sender id, the dedup key (string or integer)
//	  "type": "pipeline.failed",            optional sender's own event name; default "<kind>.<status>"
//	  "project": "Shop", "project_id": "shop",
//	  "build_config": "Backend tests", "build_config_id": "shop-backend-tests",
//	  "build_id": 4711, "number": "1.4.2-rc.1",
//	  "branch": "main", "default_branch": true,
//	  "status_text": "3 tests failed", "reason": "nightly run",
//	  "url": "https://ci.example.com/builds/4711",
//	  "links": [{"title": "Logs", "url": "https://ci.example.com/builds/4711/log"}],
//	  "commit": {"sha": "…", "author": "…", "message": "…", "url": "…"},
//	  "trigger": {"type": "schedule", "user": "…", "text": "…"},
//	  "tests": {"total": 0, "passed": 0, "failed": 0, "new_failed": 0, "ignored": 0, "muted": 0},
//	  "problems": 0, "changes": 0, "progress": 0,
//	  "agent": {"id", "name", "pool", "host", "ip", "connected", "enabled", "authorized", "url"},
//	  "release": {"id", "version", "short_version", "notes", "size", "min_os", "mandatory",
//	              "bundle_id", "install_url", "icon_url"},
//	  "crash": {"id", "name", "reason", "file", "line", "stack_trace": [...],
//	            "affected_users", "count", "app_version"},
//	  "platform": "Android", "app_name": "Shop", "text": "free text",
//	  "queued_at", "started_at", "finished_at", "occurred_at": RFC 3339 date-times,
//	  "duration_seconds": 754.2          default finished_at - started_at
//	}
//
// schema.json (exported as Schema) is the JSON Schema (draft 2020-12) of the
// format, with formats asserted; the tests hold the decoder to accept
// exactly what the schema accepts. The rules, in short: every optional
// field may be null, which means absent; ids and numbers are strings or
// non-negative integers; counts are integers from 0 to 2^53-1 and progress
// from 0 to 100; URLs are absolute http or https URLs; dates are RFC 3339;
// a link needs a non-empty title and a URL. Times are converted to UTC.
//
// Keys are matched exactly (case-sensitive), and unknown keys are
// tolerated at every level: a sender written for a newer herald keeps
// working with an older one, and any extra data (say "extra": {...}) reaches
// templates through the event's Raw, which holds the body unchanged. Values
// are strict: a wrong type or an unknown kind or status is an
// *event.InputError naming the field, since this is a format herald owns
// and a curl user wants to be told at once.
//
// The decoder is a pure function of the bytes: no I/O, no clock, no logging.
// It must not grow knowledge of destinations, templates or routing.
package generic

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/herald-ci/herald/internal/event"
)

// Name is the source name: the path segment of POST /v1/events/generic and
// the Source of every event this package decodes.
const Name = "generic"

// Schema is the JSON Schema (draft 2020-12) of the generic format.
//
//go:embed schema.json
var Schema []byte

// Decoder decodes herald's generic JSON format; it implements
// sources.Decoder (checked by the registry in package sources, which
// imports this one). The zero value is ready to use.
type Decoder struct{}

var bom = []byte("\xef\xbb\xbf")

// Decode turns one body into an event. See the package doc for the format.
func (Decoder) Decode(body []byte) (*event.Event, error) {
	body = bytes.TrimPrefix(body, bom)
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, event.Invalid("empty body")
	}
	if !json.Valid(body) {
		return nil, event.Invalid("body is not valid JSON")
	}
	if isNull(body) {
		return nil, event.Invalid("body is not a JSON object")
	}
	var in input
	m, err := decodeObject(body, in.fields())
	if err != nil {
		var fe *fieldError
		if errors.As(err, &fe) && fe.path != "" {
			return nil, event.Invalid("%s", fe.Error())
		}
		return nil, event.Invalid("body is not a JSON object")
	}

	if _, ok := m["kind"]; !ok {
		return nil, event.Invalid("missing kind")
	}
	var kind event.Kind
	if in.Kind != nil {
		kind = event.Kind(*in.Kind)
	}
	statuses, ok := event.Statuses[kind]
	if !ok {
		return nil, event.Invalid("kind: want one of %s", strings.Join(kinds(), ", "))
	}
	if _, ok := m["status"]; !ok {
		return nil, event.Invalid("missing status")
	}
	var status event.Status
	if in.Status != nil {
		status = event.Status(*in.Status)
	}
	if !slices.Contains(statuses, status) {
		names := make([]string, len(statuses))
		for i, s := range statuses {
			names[i] = string(s)
		}
		return nil, event.Invalid("status: want one of %s for kind %s", strings.Join(names, ", "), kind)
	}
	if in.Progress > 100 {
		return nil, event.Invalid("progress: want an integer from 0 to 100")
	}

	ev := in.event(kind, status)
	ev.Raw = json.RawMessage(bytes.Clone(body))
	return ev, nil
}

func kinds() []string {
	out := make([]string, 0, len(event.Statuses))
	for k := range event.Statuses {
		out = append(out, string(k))
	}
	slices.Sort(out)
	return out
}

// input is the generic body. Kind and Status are *string so that null is
// told apart from a value.
type input struct {
	ID            ident
	Type          string
	Kind, Status  *string
	Project       string
	ProjectID     string
	BuildConfig   string
	BuildConfigID string
	BuildID       ident
	Number        ident
	Branch        string
	DefaultBranch bool
	StatusText    string
	Reason        string
	URL           link
	Links         links
	Commit        commitIn
	Trigger       triggerIn
	Tests         testsIn
	Problems      count
	Changes       count
	Agent         agentIn
	Release       releaseIn
	Crash         crashIn
	Platform      string
	AppName       string
	Text          string
	Progress      count
	QueuedAt      timestamp
	StartedAt     timestamp
	FinishedAt    timestamp
	OccurredAt    timestamp
	Duration      seconds
}

func (in *input) fields() map[string]any {
	return map[string]any{
		"id":               &in.ID,
		"type":             &in.Type,
		"kind":             &in.Kind,
		"status":           &in.Status,
		"project":          &in.Project,
		"project_id":       &in.ProjectID,
		"build_config":     &in.BuildConfig,
		"build_config_id":  &in.BuildConfigID,
		"build_id":         &in.BuildID,
		"number":           &in.Number,
		"branch":           &in.Branch,
		"default_branch":   &in.DefaultBranch,
		"status_text":      &in.StatusText,
		"reason":           &in.Reason,
		"url":              &in.URL,
		"links":            &in.Links,
		"commit":           &in.Commit,
		"trigger":          &in.Trigger,
		"tests":            &in.Tests,
		"problems":         &in.Problems,
		"changes":          &in.Changes,
		"agent":            &in.Agent,
		"release":          &in.Release,
		"crash":            &in.Crash,
		"platform":         &in.Platform,
		"app_name":         &in.AppName,
		"text":             &in.Text,
		"progress":         &in.Progress,
		"queued_at":        &in.QueuedAt,
		"started_at":       &in.StartedAt,
		"finished_at":      &in.FinishedAt,
		"occurred_at":      &in.OccurredAt,
		"duration_seconds": &in.Duration,
	}
}

func (in *input) event(kind event.Kind, status event.Status) *event.Event {
	ev := &event.Event{
		Source:        Name,
		Type:          in.Type,
		Kind:          kind,
		Status:        status,
		SenderID:      string(in.ID),
		Project:       in.Project,
		ProjectID:     in.ProjectID,
		BuildConfig:   in.BuildConfig,
		BuildConfigID: in.BuildConfigID,
		BuildID:       string(in.BuildID),
		Number:        string(in.Number),
		Branch:        in.Branch,
		DefaultBranch: in.DefaultBranch,
		StatusText:    in.StatusText,
		Reason:        in.Reason,
		URL:           string(in.URL),
		Commit: event.Commit{
			SHA: in.Commit.SHA, Author: in.Commit.Author, Message: in.Commit.Message, URL: string(in.Commit.URL),
		},
		Trigger: event.Trigger{Type: in.Trigger.Type, User: in.Trigger.User, Text: in.Trigger.Text},
		Tests: event.Tests{
			Total: in.Tests.Total.int(), Passed: in.Tests.Passed.int(), Failed: in.Tests.Failed.int(),
			NewFailed: in.Tests.NewFailed.int(), Ignored: in.Tests.Ignored.int(), Muted: in.Tests.Muted.int(),
		},
		Problems: in.Problems.int(),
		Changes:  in.Changes.int(),
		Agent: event.Agent{
			ID: string(in.Agent.ID), Name: in.Agent.Name, Pool: in.Agent.Pool, Host: in.Agent.Host, IP: in.Agent.IP,
			Connected: in.Agent.Connected, Enabled: in.Agent.Enabled, Authorized: in.Agent.Authorized,
			URL: string(in.Agent.URL),
		},
		Release: event.Release{
			ID: string(in.Release.ID), Version: string(in.Release.Version), ShortVersion: in.Release.ShortVersion,
			Notes: in.Release.Notes, Size: int64(in.Release.Size), MinOS: in.Release.MinOS,
			Mandatory: in.Release.Mandatory, BundleID: in.Release.BundleID,
			InstallURL: string(in.Release.InstallURL), IconURL: string(in.Release.IconURL),
		},
		Crash: event.Crash{
			ID: string(in.Crash.ID), Name: in.Crash.Name, Reason: in.Crash.Reason, File: in.Crash.File,
			Line: in.Crash.Line.int(), StackTrace: in.Crash.StackTrace,
			AffectedUsers: in.Crash.AffectedUsers.int(), Count: in.Crash.Count.int(),
			AppVersion: in.Crash.AppVersion,
		},
		Platform:   in.Platform,
		AppName:    in.AppName,
		Text:       in.Text,
		Progress:   in.Progress.int(),
		QueuedAt:   in.QueuedAt.Time,
		StartedAt:  in.StartedAt.Time,
		FinishedAt: in.FinishedAt.Time,
		OccurredAt: in.OccurredAt.Time,
	}
	if ev.Type == "" {
		ev.Type = ev.Name()
	}
	for _, l := range in.Links {
		ev.Links = append(ev.Links, event.Link{Title: l.Title, URL: string(l.URL)})
	}
	switch {
	case in.Duration.set:
		ev.Duration = in.Duration.d
	case !ev.StartedAt.IsZero() && !ev.FinishedAt.IsZero() && !ev.FinishedAt.Before(ev.StartedAt):
		ev.Duration = ev.FinishedAt.Sub(ev.StartedAt)
	}
	return ev
}

type commitIn struct {
	SHA, Author, Message string
	URL                  link
}

func (c *commitIn) UnmarshalJSON(b []byte) error {
	_, err := decodeObject(b, map[string]any{"sha": &c.SHA, "author": &c.Author, "message": &c.Message, "url": &c.URL})
	return err
}

type triggerIn struct{ Type, User, Text string }

func (t *triggerIn) UnmarshalJSON(b []byte) error {
	_, err := decodeObject(b, map[string]any{"type": &t.Type, "user": &t.User, "text": &t.Text})
	return err
}

type testsIn struct{ Total, Passed, Failed, NewFailed, Ignored, Muted count }

func (t *testsIn) UnmarshalJSON(b []byte) error {
	_, err := decodeObject(b, map[string]any{
		"total": &t.Total, "passed": &t.Passed, "failed": &t.Failed,
		"new_failed": &t.NewFailed, "ignored": &t.Ignored, "muted": &t.Muted,
	})
	return err
}

type agentIn struct {
	ID                             ident
	Name, Pool, Host, IP           string
	Connected, Enabled, Authorized bool
	URL                            link
}

func (a *agentIn) UnmarshalJSON(b []byte) error {
	_, err := decodeObject(b, map[string]any{
		"id": &a.ID, "name": &a.Name, "pool": &a.Pool, "host": &a.Host, "ip": &a.IP,
		"connected": &a.Connected, "enabled": &a.Enabled, "authorized": &a.Authorized, "url": &a.URL,
	})
	return err
}

type releaseIn struct {
	ID, Version                          ident
	ShortVersion, Notes, MinOS, BundleID string
	Size                                 count
	Mandatory                            bool
	InstallURL, IconURL                  link
}

func (r *releaseIn) UnmarshalJSON(b []byte) error {
	_, err := decodeObject(b, map[string]any{
		"id": &r.ID, "version": &r.Version, "short_version": &r.ShortVersion, "notes": &r.Notes,
		"size": &r.Size, "min_os": &r.MinOS, "mandatory": &r.Mandatory, "bundle_id": &r.BundleID,
		"install_url": &r.InstallURL, "icon_url": &r.IconURL,
	})
	return err
}

type crashIn struct {
	ID                             ident
	Name, Reason, File, AppVersion string
	Line, AffectedUsers, Count     count
	StackTrace                     frames
}

func (c *crashIn) UnmarshalJSON(b []byte) error {
	_, err := decodeObject(b, map[string]any{
		"id": &c.ID, "name": &c.Name, "reason": &c.Reason, "file": &c.File, "line": &c.Line,
		"stack_trace": &c.StackTrace, "affected_users": &c.AffectedUsers, "count": &c.Count,
		"app_version": &c.AppVersion,
	})
	return err
}
