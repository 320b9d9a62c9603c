// Package event holds herald's normalised event model: what every source
// decoder produces and every template and router reads.
//
// It must stay free of I/O and of any one source's or platform's vocabulary:
// sources map their own names onto these kinds and statuses.
package event

import (
	"encoding/json"
	"time"
)

// Kind is what happened, independent of the system that said so.
type Kind string

// The kinds herald knows.
const (
	KindBuild   Kind = "build"
	KindCrash   Kind = "crash"
	KindRelease Kind = "release"
	KindAgent   Kind = "agent"
	KindTest    Kind = "test" // a sender's "test webhook" ping
)

// Status qualifies a Kind. Together they form the subscription name
// "<kind>.<status>", e.g. "build.failed".
type Status string

// Build statuses.
const (
	StatusQueued          Status = "queued"           // added to the queue
	StatusChangesLoaded   Status = "changes_loaded"   // the VCS changes of a queued build are known
	StatusStarted         Status = "started"          // running on an agent
	StatusSucceeded       Status = "succeeded"        // finished successfully
	StatusFailed          Status = "failed"           // finished with a failure or error
	StatusInterrupted     Status = "interrupted"      // canceled or stopped before finishing
	StatusProblemsChanged Status = "problems_changed" // a running build gained or lost problems
)

// Crash, release, agent and test statuses.
const (
	StatusCreated      Status = "created"      // crash: a new crash group
	StatusPublished    Status = "published"    // release: a new release is available
	StatusRegistered   Status = "registered"   // agent connected to the server
	StatusUnregistered Status = "unregistered" // agent disconnected
	StatusRemoved      Status = "removed"      // agent deleted from the server
	StatusPing         Status = "ping"         // test: a connectivity check
)

// Statuses lists, per kind, every status herald produces. Subscriptions
// are validated against it.
var Statuses = map[Kind][]Status{
	KindBuild:   {StatusQueued, StatusChangesLoaded, StatusStarted, StatusSucceeded, StatusFailed, StatusInterrupted, StatusProblemsChanged},
	KindCrash:   {StatusCreated},
	KindRelease: {StatusPublished},
	KindAgent:   {StatusRegistered, StatusUnregistered, StatusRemoved},
	KindTest:    {StatusPing},
}

// Event is one normalised CI/CD event. Every field but Source, Type, Kind
// and Status may be empty: senders trim payloads.
type Event struct {
	Source string `json:"source"` // decoder name: teamcity, appcenter, generic
	Type   string `json:"type"`   // the sender's own event name, e.g. BUILD_FINISHED
	Kind   Kind   `json:"kind"`
	Status Status `json:"status"`

	// SenderID is the sender's own id for this event when it gives one;
	// it is the inbound dedup key. Empty when the sender gives none.
	SenderID string `json:"sender_id,omitempty"`

	Project       string `json:"project,omitempty"`         // display name, e.g. "Pro :: Pro Git" or an app name
	ProjectID     string `json:"project_id,omitempty"`      // TeamCity project id, App Center app slug
	BuildConfig   string `json:"build_config,omitempty"`    // build configuration display name
	BuildConfigID string `json:"build_config_id,omitempty"` // TeamCity buildTypeId
	BuildID       string `json:"build_id,omitempty"`
	Number        string `json:"number,omitempty"` // build number as the sender shows it
	Branch        string `json:"branch,omitempty"`
	DefaultBranch bool   `json:"default_branch,omitempty"`
	StatusText    string `json:"status_text,omitempty"` // the sender's one-line summary
	Reason        string `json:"reason,omitempty"`      // why it happened: build reason, cancel text, crash reason

	URL   string `json:"url,omitempty"`   // the main link: build, crash group, release, agent
	Links []Link `json:"links,omitempty"` // further links worth a button

	Commit   Commit  `json:"commit,omitzero"`
	Trigger  Trigger `json:"trigger,omitzero"`
	Tests    Tests   `json:"tests,omitzero"`
	Problems int     `json:"problems,omitempty"` // build problem count
	Changes  int     `json:"changes,omitempty"`  // number of VCS changes in the build
	Agent    Agent   `json:"agent,omitzero"`
	Release  Release `json:"release,omitzero"`
	Crash    Crash   `json:"crash,omitzero"`
	Platform string  `json:"platform,omitempty"` // iOS, Android, Java...
	AppName  string  `json:"app_name,omitempty"` // display name of the app, for mobile sources
	Text     string  `json:"text,omitempty"`     // free text: a test ping's message
	Progress int     `json:"progress,omitempty"` // percentage complete of a running build

	QueuedAt   time.Time     `json:"queued_at,omitzero"`
	StartedAt  time.Time     `json:"started_at,omitzero"`
	FinishedAt time.Time     `json:"finished_at,omitzero"`
	OccurredAt time.Time     `json:"occurred_at,omitzero"` // when the sender says it sent or saw it
	Duration   time.Duration `json:"duration,omitempty"`   // FinishedAt-StartedAt, or the sender's elapsed time

	// Transition is not the sender's: the router sets it on a finished
	// build, comparing it with the previous outcome of its line (source,
	// project, build configuration, branch): "first", "fixed", "broken",
	// "still_failing", or "" (a success after a success, a build older
	// than the last outcome, any other event). Templates read .Transition.
	Transition string `json:"transition,omitempty"`

	// Raw is the original payload, byte for byte. Templates read it as data.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// Name is the subscription name "<kind>.<status>".
func (e *Event) Name() string { return string(e.Kind) + "." + string(e.Status) }

// Link is a titled URL.
type Link struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// Commit is the head change of a build.
type Commit struct {
	SHA     string `json:"sha,omitempty"`
	Author  string `json:"author,omitempty"`
	Message string `json:"message,omitempty"`
	URL     string `json:"url,omitempty"`
}

// Trigger says who or what started a build.
type Trigger struct {
	Type string `json:"type,omitempty"` // user, vcs, schedule, manual, automatic...
	User string `json:"user,omitempty"` // username when a person did it
	Text string `json:"text,omitempty"` // the sender's display text
}

// Tests counts test results.
type Tests struct {
	Total     int `json:"total,omitempty"`
	Passed    int `json:"passed,omitempty"`
	Failed    int `json:"failed,omitempty"`
	NewFailed int `json:"new_failed,omitempty"`
	Ignored   int `json:"ignored,omitempty"`
	Muted     int `json:"muted,omitempty"`
}

// Agent describes a build agent.
type Agent struct {
	ID         string `json:"id,omitempty"`
	Name       string `json:"name,omitempty"`
	Pool       string `json:"pool,omitempty"`
	Host       string `json:"host,omitempty"`
	IP         string `json:"ip,omitempty"`
	Connected  bool   `json:"connected,omitempty"`
	Enabled    bool   `json:"enabled,omitempty"`
	Authorized bool   `json:"authorized,omitempty"`
	URL        string `json:"url,omitempty"`
}

// Release describes a distributed app release.
type Release struct {
	ID           string `json:"id,omitempty"`
	Version      string `json:"version,omitempty"`       // build number / versionCode
	ShortVersion string `json:"short_version,omitempty"` // marketing version, e.g. 1.7.0
	Notes        string `json:"notes,omitempty"`
	Size         int64  `json:"size,omitempty"` // bytes
	MinOS        string `json:"min_os,omitempty"`
	Mandatory    bool   `json:"mandatory,omitempty"`
	BundleID     string `json:"bundle_id,omitempty"`
	InstallURL   string `json:"install_url,omitempty"`
	IconURL      string `json:"icon_url,omitempty"`
}

// Crash describes a new crash group.
type Crash struct {
	ID            string   `json:"id,omitempty"`
	Name          string   `json:"name,omitempty"`   // top frame
	Reason        string   `json:"reason,omitempty"` // exception and message
	File          string   `json:"file,omitempty"`
	Line          int      `json:"line,omitempty"`
	StackTrace    []string `json:"stack_trace,omitempty"`
	AffectedUsers int      `json:"affected_users,omitempty"`
	Count         int      `json:"count,omitempty"`
	AppVersion    string   `json:"app_version,omitempty"`
}

// TestMessage is the clearly marked test event herald sends when asked to
// check a destination (`herald send-test`, the admin API's test endpoint).
func TestMessage(destination string, at time.Time) *Event {
	return &Event{
		Source:     "herald",
		Type:       "TEST_MESSAGE",
		Kind:       KindTest,
		Status:     StatusPing,
		Project:    "herald",
		Text:       "This is a test message from herald for destination " + destination + ". If you can read it, the destination works.",
		OccurredAt: at.UTC(),
	}
}
