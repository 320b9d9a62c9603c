// Package teamcity decodes the webhooks of JetBrains TeamCity's built-in
// webhooks plugin (teamcity.internal.webhooks.*) into event.Event.
//
// TeamCity posts { "eventType" : "<EVENT>", "payload" : <REST JSON> }, where
// the payload is the REST API's build or agent object, trimmed to the
// project's "fields=" selection if one is set. So every payload field is
// optional, and the event is routed on eventType only, never on
// payload.state: the payload is rendered when the webhook is sent, and a
// queued or interrupted build may already show state "running".
//
// The decoder is a pure function of the bytes: no I/O, no clock, no logging.
// It must not grow knowledge of destinations, templates or routing.
//
// Event types and what they become:
//
//	AGENT_REGISTRED (sic), AGENT_REGISTERED  agent.registered
//	AGENT_UNREGISTERED                       agent.unregistered
//	AGENT_REMOVED                            agent.removed
//	BUILD_TYPE_ADDED_TO_QUEUE                build.queued
//	CHANGES_LOADED                           build.changes_loaded
//	BUILD_STARTED                            build.started
//	BUILD_PROBLEMS_CHANGED                   build.problems_changed
//	BUILD_INTERRUPTED                        build.interrupted
//	BUILD_FINISHED                           build.succeeded, build.failed or build.interrupted
//
// Any other eventType (BUILD_REMOVED_FROM_QUEUE, future ones) in a well-formed
// envelope is event.ErrIgnored. A body that is not such an envelope, such as
// the third-party tcWebHooks plugin's {"build": {...}}, is an
// *event.InputError.
//
// BUILD_FINISHED takes its status from payload.status: SUCCESS and WARNING
// are succeeded, FAILURE and ERROR are failed, and UNKNOWN, which is how
// TeamCity marks a canceled build, is interrupted; so is any build carrying
// canceledInfo. When status was trimmed away by fields= or holds a value
// TeamCity may add later, a build that failed to start, has problems or
// failed tests is failed, a statusText beginning "Canceled" is interrupted,
// a statusText "Success" or "Tests passed: ..." is succeeded, and anything
// else is failed: an unknown outcome is announced rather than hidden.
//
// Other mapping choices:
//   - Branch is branchName without "refs/heads/". TeamCity's "<default>"
//     placeholder becomes an empty Branch with DefaultBranch set: it is not
//     a branch name, and "<...>" is link syntax in Slack mrkdwn. Builds of
//     configurations without branches have no Branch; the VCS root's branch
//     (revisions.revision[].vcsBranchName) is not used in its place.
//   - Trigger always says who or what started the build. The user who
//     canceled an interrupted build goes into Reason, as
//     "canceled by <user>: <canceledInfo.text>", and never into Trigger.
//   - StatusText is statusText, or waitReason for a queued build.
//   - Times are converted to UTC; a date that does not parse is left zero.
//     OccurredAt is the date the event is about: queuedDate for queued,
//     startDate for started, finishDate for finished, canceledInfo.timestamp
//     for interrupted builds; it stays zero for the other types.
//   - Duration is finishDate-startDate, else running-info.elapsedSeconds.
//   - Changes is changes.count when positive, else lastChanges.count.
//   - TeamCity sends no delivery id, so SenderID stays empty.
package teamcity

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/sources/internal/lenient"
)

// Name is the source name: the path segment of POST /v1/events/teamcity and
// the Source of every event this package decodes.
const Name = "teamcity"

// Decoder decodes TeamCity webhook bodies; it implements sources.Decoder
// (checked by the registry in package sources, which imports this one). The
// zero value is ready to use.
type Decoder struct{}

// route is what one eventType becomes. A build.finished status is decided
// from the payload, so it has no fixed status here.
type route struct {
	kind   event.Kind
	status event.Status
}

var routes = map[string]route{
	"AGENT_REGISTRED":           {event.KindAgent, event.StatusRegistered}, // TeamCity's own spelling
	"AGENT_REGISTERED":          {event.KindAgent, event.StatusRegistered}, // in case it is ever corrected
	"AGENT_UNREGISTERED":        {event.KindAgent, event.StatusUnregistered},
	"AGENT_REMOVED":             {event.KindAgent, event.StatusRemoved},
	"BUILD_TYPE_ADDED_TO_QUEUE": {event.KindBuild, event.StatusQueued},
	"CHANGES_LOADED":            {event.KindBuild, event.StatusChangesLoaded},
	"BUILD_STARTED":             {event.KindBuild, event.StatusStarted},
	"BUILD_PROBLEMS_CHANGED":    {event.KindBuild, event.StatusProblemsChanged},
	"BUILD_INTERRUPTED":         {event.KindBuild, event.StatusInterrupted},
	"BUILD_FINISHED":            {event.KindBuild, ""},
}

// maxTypeInError bounds how much of an unknown eventType goes into the
// ignored error, which the server may log.
const maxTypeInError = 64

// Decode turns one webhook body into an event. See the package doc for the
// rules.
func (Decoder) Decode(body []byte) (*event.Event, error) {
	// Object drops a byte order mark (some proxies add one) from body, so
	// that Raw stays valid JSON.
	body, env, err := lenient.Object(body)
	if err != nil {
		return nil, err
	}

	rawType, ok := env["eventType"]
	if !ok {
		if _, legacy := env["build"]; legacy {
			return nil, event.Invalid("not a TeamCity webhook envelope: looks like the tcWebHooks plugin format")
		}
		return nil, event.Invalid("missing eventType")
	}
	var eventType string
	if !isString(rawType) || json.Unmarshal(rawType, &eventType) != nil {
		return nil, event.Invalid("eventType must be a string")
	}
	if eventType == "" {
		return nil, event.Invalid("eventType is empty")
	}
	payload, ok := env["payload"]
	if !ok {
		return nil, event.Invalid("missing payload")
	}
	if !isObject(payload) {
		return nil, event.Invalid("payload must be a JSON object")
	}

	r, ok := routes[eventType]
	if !ok {
		return nil, event.Ignored(truncate(eventType, maxTypeInError))
	}

	ev := &event.Event{
		Source: Name,
		Type:   eventType,
		Kind:   r.kind,
		Status: r.status,
		Raw:    json.RawMessage(bytes.Clone(body)),
	}
	if r.kind == event.KindAgent {
		err = decodeAgent(ev, payload)
	} else {
		err = decodeBuild(ev, payload)
	}
	if err != nil {
		return nil, err
	}
	return ev, nil
}

func decodeAgent(ev *event.Event, payload json.RawMessage) error {
	var a agent
	if err := json.Unmarshal(payload, &a); err != nil {
		return payloadError(err)
	}
	ev.Agent = event.Agent{
		ID:         string(a.ID),
		Name:       string(a.Name),
		Pool:       string(a.Pool.Name),
		Host:       string(a.Host),
		IP:         string(a.IP),
		Connected:  bool(a.Connected),
		Enabled:    bool(a.Enabled),
		Authorized: bool(a.Authorized),
		URL:        string(a.WebURL),
	}
	ev.URL = string(a.WebURL)
	return nil
}

func decodeBuild(ev *event.Event, payload json.RawMessage) error {
	var b build
	if err := json.Unmarshal(payload, &b); err != nil {
		return payloadError(err)
	}

	ev.Project = string(b.BuildType.ProjectName)
	ev.ProjectID = string(b.BuildType.ProjectID)
	ev.BuildConfig = string(b.BuildType.Name)
	ev.BuildConfigID = firstNonEmpty(string(b.BuildTypeID), string(b.BuildType.ID))
	ev.BuildID = string(b.ID)
	ev.Number = string(b.Number)
	ev.Branch, ev.DefaultBranch = branch(string(b.BranchName), bool(b.DefaultBranch))
	ev.StatusText = firstNonEmpty(string(b.StatusText), string(b.WaitReason))
	ev.URL = string(b.WebURL)
	if u := string(b.BuildType.WebURL); u != "" {
		ev.Links = append(ev.Links, event.Link{Title: "Build configuration", URL: u})
	}

	ev.Commit = commit(&b)
	ev.Trigger = trigger(&b.Triggered)
	ev.Tests = event.Tests{
		Total:     int(b.TestOccurrences.Count),
		Passed:    int(b.TestOccurrences.Passed),
		Failed:    int(b.TestOccurrences.Failed),
		NewFailed: int(b.TestOccurrences.NewFailed),
		Ignored:   int(b.TestOccurrences.Ignored),
		Muted:     int(b.TestOccurrences.Muted),
	}
	ev.Problems = int(b.ProblemOccurrences.Count)
	ev.Changes = int(b.Changes.Count)
	if ev.Changes <= 0 {
		ev.Changes = int(b.LastChanges.Count)
	}
	ev.Agent = event.Agent{
		ID:   string(b.Agent.ID),
		Name: string(b.Agent.Name),
		URL:  string(b.Agent.WebURL),
	}

	ev.QueuedAt = parseTime(string(b.QueuedDate))
	ev.StartedAt = parseTime(string(b.StartDate))
	ev.FinishedAt = parseTime(string(b.FinishDate))
	switch {
	case !ev.StartedAt.IsZero() && !ev.FinishedAt.IsZero() && !ev.FinishedAt.Before(ev.StartedAt):
		ev.Duration = ev.FinishedAt.Sub(ev.StartedAt)
	case b.RunningInfo.ElapsedSeconds > 0:
		ev.Duration = seconds(int64(b.RunningInfo.ElapsedSeconds))
	}
	ev.Progress = percent(int(b.PercentageComplete))
	if ev.Progress == 0 {
		ev.Progress = percent(int(b.RunningInfo.PercentageComplete))
	}

	if ev.Status == "" { // BUILD_FINISHED
		ev.Status = finishedStatus(&b)
	}
	if ev.Status == event.StatusInterrupted && b.CanceledInfo != nil {
		ev.Reason = canceledReason(b.CanceledInfo)
	}

	switch ev.Status {
	case event.StatusQueued:
		ev.OccurredAt = ev.QueuedAt
	case event.StatusStarted:
		ev.OccurredAt = ev.StartedAt
	case event.StatusSucceeded, event.StatusFailed:
		ev.OccurredAt = ev.FinishedAt
	case event.StatusInterrupted:
		if b.CanceledInfo != nil {
			ev.OccurredAt = parseTime(string(b.CanceledInfo.Timestamp))
		}
		if ev.OccurredAt.IsZero() {
			ev.OccurredAt = ev.FinishedAt
		}
	}
	return nil
}

// finishedStatus decides the outcome of a BUILD_FINISHED build; the package
// doc gives the rules and why.
func finishedStatus(b *build) event.Status {
	if b.CanceledInfo != nil {
		return event.StatusInterrupted
	}
	switch strings.ToUpper(strings.TrimSpace(string(b.Status))) {
	case "SUCCESS", "WARNING":
		return event.StatusSucceeded
	case "FAILURE", "ERROR":
		return event.StatusFailed
	case "UNKNOWN":
		return event.StatusInterrupted
	}
	if b.FailedToStart || b.ProblemOccurrences.Count > 0 || b.TestOccurrences.Failed > 0 {
		return event.StatusFailed
	}
	text := strings.ToLower(strings.TrimSpace(string(b.StatusText)))
	switch {
	case strings.HasPrefix(text, "canceled"), strings.HasPrefix(text, "cancelled"):
		return event.StatusInterrupted
	case text == "success", strings.HasPrefix(text, "tests passed"):
		return event.StatusSucceeded
	}
	return event.StatusFailed
}

func canceledReason(c *canceledInfo) string {
	text := strings.TrimSpace(string(c.Text))
	var who string
	if c.User != nil {
		who = firstNonEmpty(string(c.User.Username), string(c.User.Name))
	}
	switch {
	case who != "" && text != "":
		return "canceled by " + who + ": " + text
	case who != "":
		return "canceled by " + who
	}
	return text
}

func commit(b *build) event.Commit {
	var c event.Commit
	if len(b.LastChanges.Change) > 0 {
		ch := b.LastChanges.Change[0]
		c = event.Commit{
			SHA:     string(ch.Version),
			Author:  string(ch.Username),
			Message: strings.TrimSpace(string(ch.Comment)),
			URL:     string(ch.WebURL),
		}
	}
	if c.SHA == "" && len(b.Revisions.Revision) > 0 {
		c.SHA = string(b.Revisions.Revision[0].Version)
	}
	return c
}

func trigger(t *triggered) event.Trigger {
	tr := event.Trigger{
		Type: string(t.Type),
		Text: firstNonEmpty(string(t.DisplayText), string(t.Details)),
	}
	if t.User != nil {
		tr.User = firstNonEmpty(string(t.User.Username), string(t.User.Name))
	}
	return tr
}

// branch maps TeamCity's branchName; see the package doc.
func branch(name string, isDefault bool) (string, bool) {
	if name == "<default>" {
		return "", true
	}
	return strings.TrimPrefix(name, "refs/heads/"), isDefault
}

// TeamCity's REST date format, yyyyMMdd'T'HHmmssZ (teamcity-rest
// model/Constants.java), and the RFC 3339 forms an admin may configure
// through rest.defaultDateFormat.
var layouts = []string{"20060102T150405-0700", "20060102T150405Z0700", time.RFC3339Nano}

func parseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, s); err == nil {
			return inRange(t.UTC())
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

// seconds converts a count of seconds, clamping what would overflow.
func seconds(n int64) time.Duration {
	const limit = int64(1<<63-1) / int64(time.Second)
	if n > limit {
		n = limit
	}
	return time.Duration(n) * time.Second
}

func percent(n int) int {
	return min(max(n, 0), 100)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// payloadError turns a type mismatch inside the payload into a reason that
// names the field and never the value.
func payloadError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return event.Invalid("payload.%s has the wrong JSON type", te.Field)
	}
	return event.Invalid("payload is not a TeamCity build or agent object")
}

func isString(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '"'
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
