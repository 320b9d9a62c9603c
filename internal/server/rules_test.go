package server

// Routing rules end to end: real payloads (the fixtures, with their number,
// status, branch and project varied) through the ingest handler onto a real
// store, so that decoding, routing, the build-outcome state, rendering and
// the commit are all exercised. Each rulesPost's answer lists the deliveries it
// committed: the messages that go out.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters"
	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/internal/store"
	"github.com/herald-ci/herald/internal/store/storetest"
	"github.com/herald-ci/herald/sources/sourcestest"
)

// rulesStore is a real store that also keeps the deliveries of its
// last successful Accept, so tests can read the rendered messages.
type rulesStore struct {
	*store.Store
	mu   sync.Mutex
	last []store.Delivery
	// afterRead, when set, runs after each LastOutcome.
	afterRead func()
}

func (r *rulesStore) LastOutcome(ctx context.Context, key store.OutcomeKey) (store.Outcome, error) {
	o, err := r.Store.LastOutcome(ctx, key)
	r.mu.Lock()
	hook := r.afterRead
	r.mu.Unlock()
	if hook != nil {
		hook()
	}
	return o, err
}

func (r *rulesStore) Accept(ctx context.Context, ev store.EventRecord, ds []store.Delivery) (store.Accepted, error) {
	acc, err := r.Store.Accept(ctx, ev, ds)
	if err == nil {
		r.mu.Lock()
		r.last = slices.DeleteFunc(slices.Clone(ds), func(d store.Delivery) bool { return slices.Contains(acc.Suppressed, d.Destination) })
		r.mu.Unlock()
	}
	return acc, err
}

func (r *rulesStore) lastBodies() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]string{}
	for _, d := range r.last {
		out[d.Destination] = string(d.Payload.Body)
	}
	return out
}

// rulesReplicas opens n stores on one new database of driver d and a server on
// each, all with the config y: with PostgreSQL, n rulesReplicas sharing work.
func rulesReplicas(t *testing.T, d storetest.Driver, n int, y string) ([]*Server, []*rulesStore) {
	t.Helper()
	cfg, err := config.Parse([]byte(y), ".")
	if err != nil {
		t.Fatal(err)
	}
	set, err := adapters.NewSet(cfg, notify.Client(0), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	dsn := d.DSN(t)
	var servers []*Server
	var stores []*rulesStore
	for range n {
		st, err := store.Open(t.Context(), store.Config{Driver: d.Name, DSN: dsn}, nil, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		rs := &rulesStore{Store: st}
		stores = append(stores, rs)
		servers = append(servers, New(&Runtime{Config: cfg, Adapters: set}, rs, nil, zerolog.Nop()))
	}
	return servers, stores
}

// rulesPost sends body to the source's ingest endpoint and returns the 202's
// answer.
func rulesPost(t *testing.T, s *Server, source string, body []byte) Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/v1/events/"+source, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("POST %s: %d %s", source, rec.Code, rec.Body)
	}
	var r Response
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func rulesSentTo(r Response) []string {
	out := []string{}
	for _, d := range r.Deliveries {
		out = append(out, d.Destination)
	}
	return out
}

// build is one build to rulesPost: 'S' succeeded, 'F' failed, 'I' interrupted.
type ruleBuild struct {
	result  byte
	number  int
	branch  string // "" is "main", TeamCity's default branch
	dflt    bool   // TeamCity's defaultBranch
	nobr    bool   // TeamCity: no branchName at all
	project string // "" leaves the default below
}

const (
	rulesTCProject = "SampleProject"
	rulesApp       = "SampleApp"
)

var rulesEpoch = time.Date(2025, 8, 12, 3, 0, 0, 0, time.UTC)

// rulesFixture decodes a sourcestest fixture into a map to vary.
func rulesFixture(t *testing.T, name string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(sourcestest.Body(t, name+".json"), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// rulesTeamCity is a TeamCity webhook for b, from the fixture of its kind.
// The finish time follows the number, so both orders agree.
func rulesTeamCity(t *testing.T, b ruleBuild) []byte {
	t.Helper()
	name := map[byte]string{'S': "teamcity-build-finished", 'F': "teamcity-build-finished-failure", 'I': "teamcity-build-interrupted"}[b.result]
	m := rulesFixture(t, name)
	p := m["payload"].(map[string]any)
	project := b.project
	if project == "" {
		project = rulesTCProject
	}
	p["id"] = 1000 + b.number
	p["number"] = strconv.Itoa(b.number)
	p["buildTypeId"] = project + "_Build"
	bt := p["buildType"].(map[string]any)
	bt["id"], bt["projectId"] = project+"_Build", project
	p["finishDate"] = rulesEpoch.Add(time.Duration(b.number) * time.Minute).Format("20060102T150405-0700")
	switch {
	case b.nobr:
		delete(p, "branchName")
		delete(p, "defaultBranch")
	case b.branch == "":
		p["branchName"], p["defaultBranch"] = "main", true
	default:
		p["branchName"], p["defaultBranch"] = b.branch, b.dflt
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// rulesAppCenter is an App Center build webhook for b.
func rulesAppCenter(t *testing.T, b ruleBuild) []byte {
	t.Helper()
	name := map[byte]string{'S': "appcenter-build-success", 'F': "appcenter-build-failure", 'I': "appcenter-build-success"}[b.result]
	m := rulesFixture(t, name)
	if b.result == 'I' {
		m["build_status"] = "Canceled"
	}
	app := b.project
	if app == "" {
		app = rulesApp
	}
	m["app_name"] = app
	m["build_id"] = strconv.Itoa(b.number)
	m["finish_time"] = rulesEpoch.Add(time.Duration(b.number) * time.Minute).Format(time.RFC3339Nano)
	m["branch"] = b.branch
	if b.branch == "" {
		m["branch"] = "main"
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var rulesSources = []struct {
	name string
	body func(*testing.T, ruleBuild) []byte
}{
	{"teamcity", rulesTeamCity},
	{"appcenter", rulesAppCenter},
}

// rulesSteps is the sequence every policy walks: S, F, F, S, S, F, an
// interrupted build, a late older success (55 after 60: it must not fix the
// line), a success that does fix it, a late older failure (65 after 80: it
// must not break it), and a success after a success.
var rulesSteps = []struct {
	b          ruleBuild
	transition string
}{
	{ruleBuild{result: 'S', number: 10}, "first"},
	{ruleBuild{result: 'F', number: 20}, "broken"},
	{ruleBuild{result: 'F', number: 30}, "still_failing"},
	{ruleBuild{result: 'S', number: 40}, "fixed"},
	{ruleBuild{result: 'S', number: 50}, ""},
	{ruleBuild{result: 'F', number: 60}, "broken"},
	{ruleBuild{result: 'I', number: 70}, ""},
	{ruleBuild{result: 'S', number: 55}, ""},
	{ruleBuild{result: 'S', number: 80}, "fixed"},
	{ruleBuild{result: 'F', number: 65}, ""},
	{ruleBuild{result: 'S', number: 90}, ""},
}

// rulesPolicies: per destination (one policy each), which steps of
// rulesSteps it gets: 1 sent, 0 not.
var rulesPolicies = []struct {
	dest, rule, want string
}{
	{"default", "", "11111111111"},
	{"s-always", "build_success: always", "11111111111"},
	{"s-if-failed", "build_success: only_if_previously_failed", "01110110110"},
	{"s-never", "build_success: never", "01100110010"},
	{"f-always", "build_failure: always", "11111111111"},
	{"f-if-successful", "build_failure: only_if_previously_successful", "11011111101"},
	{"f-never", "build_failure: never", "10011011101"},
	{"fixes", "events: [build.fixed]", "00010000100"},
	{"breaks", "events: BUILD_BROKEN", "01000100000"},
	{"finished", "events: BUILD_FINISHED", "11111101111"},
}

func rulesPolicyConfig() string {
	var b strings.Builder
	b.WriteString("destinations:\n")
	for _, p := range rulesPolicies {
		fmt.Fprintf(&b, "  - {name: %s, type: console", p.dest)
		if p.rule != "" {
			fmt.Fprintf(&b, ", %s", p.rule)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// TestRulesPolicySequences walks rulesSteps for TeamCity and App Center
// payloads, on SQLite with one server and on PostgreSQL with two servers
// (rulesReplicas sharing one database) taking the posts in turn.
func TestRulesPolicySequences(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		n := 1
		if d.Name == "postgres" {
			n = 2
		}
		for _, src := range rulesSources {
			t.Run(src.name, func(t *testing.T) {
				t.Parallel()
				servers, _ := rulesReplicas(t, d, n, rulesPolicyConfig())
				got := make(map[string][]byte)
				for i, step := range rulesSteps {
					r := rulesPost(t, servers[i%n], src.name, src.body(t, step.b))
					if r.Transition != step.transition {
						t.Errorf("step %d (%c #%d): transition %q, want %q", i+1, step.b.result, step.b.number, r.Transition, step.transition)
					}
					sent := rulesSentTo(r)
					for _, p := range rulesPolicies {
						bit := byte('0')
						if slices.Contains(sent, p.dest) {
							bit = '1'
						}
						got[p.dest] = append(got[p.dest], bit)
					}
				}
				for _, p := range rulesPolicies {
					if string(got[p.dest]) != p.want {
						t.Errorf("%s (%s): sent %s, want %s (steps S10 F20 F30 S40 S50 F60 I70 S55 S80 F65 S90)", p.dest, p.rule, got[p.dest], p.want)
					}
				}
			})
		}
	})
}

// TestRulesReplicasRace posts two newer successes of a failed line at the
// same moment, one to each replica, both reading the line's state before
// either commits: whichever commits first fixes the line, the other finds
// the state changed, routes again and is a success after a success (or
// older than it), so the "only if previously failed" destination gets
// exactly one of them, and both posts are accepted.
func TestRulesReplicasRace(t *testing.T) {
	t.Parallel()
	d := storetest.Postgres(t)
	servers, stores := rulesReplicas(t, d, 2, "destinations:\n  - {name: fixes, type: console, build_success: only_if_previously_failed, build_failure: never}\n")
	for round := range 5 {
		base := 100 * (round + 1)
		rulesPost(t, servers[0], "teamcity", rulesTeamCity(t, ruleBuild{result: 'F', number: base}))

		// Each replica's first read of the round waits for the other's.
		var read sync.WaitGroup
		read.Add(2)
		for _, st := range stores {
			var once sync.Once
			st.mu.Lock()
			st.afterRead = func() { once.Do(func() { read.Done(); read.Wait() }) }
			st.mu.Unlock()
		}
		var wg sync.WaitGroup
		answers := make([]Response, 2)
		codes := make([]int, 2)
		for i := range 2 {
			wg.Go(func() {
				req := httptest.NewRequest(http.MethodPost, "/v1/events/teamcity", bytes.NewReader(rulesTeamCity(t, ruleBuild{result: 'S', number: base + 1 + i})))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				servers[i].Handler().ServeHTTP(rec, req)
				codes[i] = rec.Code
				_ = json.Unmarshal(rec.Body.Bytes(), &answers[i])
			})
		}
		wg.Wait()
		for _, st := range stores {
			st.mu.Lock()
			st.afterRead = nil
			st.mu.Unlock()
		}
		if codes[0] != http.StatusAccepted || codes[1] != http.StatusAccepted {
			t.Fatalf("round %d: answers %v %+v, want two 202s", round, codes, answers)
		}
		fixed, sent := 0, 0
		for _, a := range answers {
			if a.Transition == "fixed" {
				fixed++
			}
			sent += len(a.Deliveries)
		}
		if fixed != 1 || sent != 1 {
			t.Fatalf("round %d: %d fixed, %d sent (answers %+v); want exactly one of each", round, fixed, sent, answers)
		}
	}
}

// TestRulesFromPayload: projects and branches are read from the payloads
// (TeamCity's buildType.projectId, branchName, defaultBranch; App Center's
// app_name and branch), and TeamCity-form subscriptions apply: the seeds'
// example, a grandchild, an App Center app, branch globs.
func TestRulesFromPayload(t *testing.T) {
	t.Parallel()
	servers, _ := rulesReplicas(t, storetest.SQLite(), 1, `
projects:
  - id: _Root
    events: BUILD_STARTED;BUILD_FINISHED
  - id: ProjectA
    events: BUILD_INTERRUPTED
  - id: ProjectA_Sub
    parent: ProjectA
    destinations: [release-chat]
  - id: MobileApp
    events: [build.failed]
    branches: [main, "release/*", "!release/old*"]
destinations:
  - {name: chat, type: console}
  - {name: release-chat, type: console, branches: ["release/*"]}
  - {name: default-only, type: console, default_branch_only: true}
`)
	s := servers[0]
	tests := []struct {
		name   string
		source string
		b      ruleBuild
		want   []string
	}{
		{"root: finished", "teamcity", ruleBuild{result: 'S', number: 1, project: "Other"}, []string{"chat", "default-only"}},
		{"no branch name: branch filters don't apply", "teamcity", ruleBuild{result: 'S', number: 11, project: "Other", nobr: true}, []string{"chat", "release-chat", "default-only"}},
		{"root: interrupted not subscribed", "teamcity", ruleBuild{result: 'I', number: 2, project: "Other"}, []string{}},
		{"A: interrupted", "teamcity", ruleBuild{result: 'I', number: 3, project: "ProjectA"}, []string{"chat", "default-only"}},
		{"A: finished not subscribed", "teamcity", ruleBuild{result: 'F', number: 4, project: "ProjectA"}, []string{}},
		{"A's child: A's events, its own destinations", "teamcity", ruleBuild{result: 'I', number: 5, project: "ProjectA_Sub", branch: "release/2"}, []string{"release-chat"}},
		{"A's child: branch outside the destination's", "teamcity", ruleBuild{result: 'I', number: 6, project: "ProjectA_Sub", branch: "main", dflt: true}, []string{}},
		{"refs/heads/ and the default flag", "teamcity", ruleBuild{result: 'F', number: 7, project: "Other", branch: "refs/heads/release/3", dflt: true}, []string{"chat", "release-chat", "default-only"}},
		{"not the default branch", "teamcity", ruleBuild{result: 'F', number: 8, project: "Other", branch: "feature/x"}, []string{"chat"}},
		{"TeamCity <default>", "teamcity", ruleBuild{result: 'F', number: 9, project: "Other", branch: "<default>", dflt: true}, []string{"chat", "release-chat", "default-only"}},
		{"App Center app: failure on main", "appcenter", ruleBuild{result: 'F', number: 1, project: "MobileApp", branch: "main"}, []string{"chat", "release-chat"}},
		{"App Center app: success not subscribed", "appcenter", ruleBuild{result: 'S', number: 2, project: "MobileApp", branch: "main"}, []string{}},
		{"App Center app: excluded branch", "appcenter", ruleBuild{result: 'F', number: 3, project: "MobileApp", branch: "release/old-1"}, []string{}},
		{"App Center app: release branch", "appcenter", ruleBuild{result: 'F', number: 4, project: "MobileApp", branch: "release/9"}, []string{"chat", "release-chat"}},
		{"App Center: no default flag, so default_branch_only drops it", "appcenter", ruleBuild{result: 'S', number: 5, project: "OtherApp", branch: "main"}, []string{"chat"}},
	}
	for _, tc := range tests {
		body := rulesTeamCity
		if tc.source == "appcenter" {
			body = rulesAppCenter
		}
		r := rulesPost(t, s, tc.source, body(t, tc.b))
		if got := rulesSentTo(r); !slices.Equal(got, tc.want) {
			t.Errorf("%s: sent to %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestRulesTransitionInTemplate: a user template reads .Transition.
func TestRulesTransitionInTemplate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tmpl := `{{ define "console.build.text" }}#{{ .Number }} {{ .Status }} [{{ .Transition }}]{{ if eq .Transition "fixed" }} back to green{{ end }}{{ end }}`
	if err := os.WriteFile(filepath.Join(dir, "console.tmpl"), []byte(tmpl), 0o600); err != nil {
		t.Fatal(err)
	}
	servers, stores := rulesReplicas(t, storetest.SQLite(), 1, fmt.Sprintf("destinations:\n  - {name: chat, type: console, templates_dir: %q}\n", dir))
	for _, step := range []struct {
		b    ruleBuild
		want string
	}{
		{ruleBuild{result: 'F', number: 1}, "#1 failed [first]"},
		{ruleBuild{result: 'F', number: 2}, "#2 failed [still_failing]"},
		{ruleBuild{result: 'S', number: 3}, "#3 succeeded [fixed] back to green"},
		{ruleBuild{result: 'S', number: 4}, "#4 succeeded []"},
		{ruleBuild{result: 'I', number: 5}, "#5 interrupted []"},
		{ruleBuild{result: 'F', number: 6}, "#6 failed [broken]"},
	} {
		rulesPost(t, servers[0], "teamcity", rulesTeamCity(t, step.b))
		if got := stores[0].lastBodies()["chat"]; got != step.want {
			t.Errorf("rendered %q, want %q", got, step.want)
		}
	}
}

// TestRulesDedupWindow: the same rendered message to a destination with a
// dedup_window goes out once within it; other destinations still get it.
// The two posts differ (sent_at), so they are two events, not a sender's
// retry.
func TestRulesDedupWindow(t *testing.T) {
	t.Parallel()
	servers, _ := rulesReplicas(t, storetest.SQLite(), 1, `
destinations:
  - {name: flux-like, type: console, dedup_window: 5m}
  - {name: every-time, type: console}
`)
	crash := func(sentAt string, reason string) []byte {
		m := rulesFixture(t, "appcenter-crash")
		m["sent_at"], m["reason"] = sentAt, reason
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for i, step := range []struct {
		body []byte
		want []string
	}{
		{crash("2019-05-16T23:47:31Z", "NullPointerException"), []string{"flux-like", "every-time"}},
		{crash("2019-05-16T23:48:31Z", "NullPointerException"), []string{"every-time"}},
		{crash("2019-05-16T23:49:31Z", "OutOfMemoryError"), []string{"flux-like", "every-time"}},
		{crash("2019-05-16T23:50:31Z", "NullPointerException"), []string{"every-time"}},
	} {
		r := rulesPost(t, servers[0], "appcenter", step.body)
		if r.Status != "accepted" {
			t.Fatalf("rulesPost %d: %+v", i+1, r)
		}
		if got := rulesSentTo(r); !slices.Equal(got, step.want) {
			t.Errorf("rulesPost %d: sent to %v, want %v", i+1, got, step.want)
		}
	}
}

// TestRulesRetryCount: a project's retry_count bounds its deliveries' jobs.
func TestRulesRetryCount(t *testing.T) {
	t.Parallel()
	servers, stores := rulesReplicas(t, storetest.SQLite(), 1, `
projects: [{id: SampleProject, retry_count: 2}]
destinations: [{name: chat, type: console}]
`)
	r := rulesPost(t, servers[0], "teamcity", rulesTeamCity(t, ruleBuild{result: 'F', number: 1}))
	if len(r.Deliveries) != 1 {
		t.Fatalf("deliveries %+v", r.Deliveries)
	}
	info, err := stores[0].GetDelivery(t.Context(), r.Deliveries[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if info.MaxAttempts != 3 {
		t.Errorf("max attempts %d, want 3 (retry_count 2)", info.MaxAttempts)
	}
}

// TestRulesManyOnOneLine posts many builds of one line at once (on
// PostgreSQL spread over two replicas): each must be accepted, however often
// another commit gets between its read and its commit, and exactly one is
// the line's first.
func TestRulesManyOnOneLine(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		n := 1
		if d.Name == "postgres" {
			n = 2
		}
		servers, _ := rulesReplicas(t, d, n, "destinations:\n  - {name: chat, type: console}\n")
		const posts = 40
		codes := make([]int, posts)
		answers := make([]Response, posts)
		var wg sync.WaitGroup
		for i := range posts {
			wg.Go(func() {
				req := httptest.NewRequest(http.MethodPost, "/v1/events/teamcity", bytes.NewReader(rulesTeamCity(t, ruleBuild{result: 'F', number: i + 1})))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				servers[i%n].Handler().ServeHTTP(rec, req)
				codes[i] = rec.Code
				_ = json.Unmarshal(rec.Body.Bytes(), &answers[i])
			})
		}
		wg.Wait()
		first := 0
		for i := range posts {
			if codes[i] != http.StatusAccepted {
				t.Fatalf("post %d: %d %+v", i+1, codes[i], answers[i])
			}
			if answers[i].Transition == "first" {
				first++
			}
		}
		if first != 1 {
			t.Errorf("%d builds were the line's first, want 1", first)
		}
	})
}
