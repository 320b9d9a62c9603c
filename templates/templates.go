// Package templates renders events with text/template and sprig.
//
// Defaults are embedded from default/*.tmpl; users override any named
// template by defining it again in a directory (global templates_dir, then a
// destination's own), parsed after the defaults so that one {{ define }}
// replaces one part and keeps the rest. Every file is parsed at load, so a
// broken template fails start-up with its file and line.
//
// Template names follow <adapter>.<kind>.<part>: slack.build.message,
// teams.crash.card, messagecard.release.card, console.agent.text. Private
// helpers begin with "__".
//
// A rendering is bounded in size and time (limits.go); when a user template
// fails, WithFallback renders the default and reports which template failed.
//
// The package renders text and nothing else: it does no I/O after Load and
// knows nothing of HTTP or platforms' payload rules (adapters own those).
package templates

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/herald-ci/herald/internal/event"
)

//go:embed default/*.tmpl
var defaultFS embed.FS

// Set is a parsed set of templates: the embedded defaults, then the files
// of zero or more user directories.
type Set struct {
	t        *template.Template
	dirs     []string
	defaults *Set      // nil when this is the defaults set
	mentions *Mentions // commit authors' chat accounts (mentions.go); nil: none

	// rendered, when set, is given the name of each template Render is
	// asked for: WithFallback's record of the one a failure happened in.
	rendered *string

	onFallback atomic.Pointer[func(error)]
}

// OnFallback installs f, called each time WithFallback falls back from this
// set to the defaults (for a metric). f's error is a *FallbackError: it
// names the template. It may be called again to replace f.
func (s *Set) OnFallback(f func(error)) { s.onFallback.Store(&f) }

var defaults = mustDefaults()

func mustDefaults() *Set {
	t, err := parseFS(template.New("").Funcs(Funcs()), defaultFS, "default")
	if err != nil {
		panic(fmt.Sprintf("templates: embedded defaults: %v", err))
	}
	guard(t)
	return &Set{t: t}
}

// Defaults returns the embedded default set.
func Defaults() *Set { return defaults }

// Load parses the defaults and then every *.tmpl file of each directory in
// order; an empty directory name is skipped. Errors name the file and line.
func Load(dirs ...string) (*Set, error) {
	var used []string
	for _, d := range dirs {
		if d != "" {
			used = append(used, d)
		}
	}
	if len(used) == 0 {
		return defaults, nil
	}
	t, err := defaults.t.Clone()
	if err != nil {
		return nil, fmt.Errorf("clone default templates: %w", err)
	}
	for _, dir := range used {
		files, err := filepath.Glob(filepath.Join(dir, "*.tmpl"))
		if err != nil {
			return nil, fmt.Errorf("templates_dir %s: %w", dir, err)
		}
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("templates_dir: %w", err)
		}
		sort.Strings(files)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("template: %w", err)
			}
			if _, err := t.New(f).Parse(string(b)); err != nil {
				return nil, err // text/template says "template: FILE:LINE: ..."
			}
		}
	}
	guard(t)
	return &Set{t: t, dirs: used, defaults: defaults}, nil
}

func parseFS(t *template.Template, fsys fs.FS, dir string) (*template.Template, error) {
	files, err := fs.Glob(fsys, dir+"/*.tmpl")
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		if _, err := t.New(f).Parse(string(b)); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Dirs lists the user directories this set was loaded from.
func (s *Set) Dirs() []string { return s.dirs }

// Fallback returns the defaults a user set falls back to, or nil when s is
// the defaults itself.
func (s *Set) Fallback() *Set { return s.defaults }

// Has reports whether a template of that name is defined.
func (s *Set) Has(name string) bool { return s.t.Lookup(name) != nil }

// Render executes the named template with data, within MaxOutput and
// MaxRenderTime (limits.go). With a *Data, the template may include others
// (include); a Data is rendered by one goroutine at a time.
func (s *Set) Render(name string, data any) ([]byte, error) {
	t := s.t.Lookup(name)
	if t == nil {
		return nil, fmt.Errorf("template %q is not defined", name)
	}
	if s.rendered != nil {
		*s.rendered = name
	}
	w := getBuffer(name, time.Now().Add(MaxRenderTime))
	defer putBuffer(w)
	if d, ok := data.(*Data); ok && d != nil {
		prev := d.rendering
		d.rendering = &rendering{t: s.t, deadline: w.deadline}
		defer func() { d.rendering = prev }()
	}
	if err := t.Execute(w, data); err != nil {
		return nil, err
	}
	return bytes.Clone(w.Bytes()), nil // w goes back to the pool
}

// rendering is what the includes of one Render share: the set's templates,
// the deadline, and how deep they nest.
type rendering struct {
	t        *template.Template
	deadline time.Time
	depth    int
}

// include is the template helper {{ include "slack.build.title" . }}: the
// named template's output as a string, for a template that places a part's
// text itself (the Slack build message puts its title through json and
// Block Kit's header limits). It takes the template's dot, which carries
// the rendering's bounds; the part writes through a writer of its own,
// under the same deadline and MaxOutput.
func include(name string, dot any) (string, error) {
	d, ok := dot.(*Data)
	if !ok || d == nil || d.rendering == nil {
		return "", fmt.Errorf("include %q: want the template's dot (.), got %T", name, dot)
	}
	r := d.rendering
	t := r.t.Lookup(name)
	if t == nil {
		return "", fmt.Errorf("include: template %q is not defined", name)
	}
	if r.depth >= maxIncludeDepth {
		return "", fmt.Errorf("include %q: includes nest more than %d deep", name, maxIncludeDepth)
	}
	r.depth++
	defer func() { r.depth-- }()
	w := getBuffer(name, r.deadline)
	defer putBuffer(w)
	if err := t.Execute(w, d); err != nil {
		return "", err
	}
	return w.String(), nil
}

// RenderEvent renders name for ev with the standard Data.
func (s *Set) RenderEvent(name string, ev *event.Event, destination string) ([]byte, error) {
	d := NewData(ev, destination)
	d.mentions = s.mentions
	return s.Render(name, d)
}

// Name is the template name for an adapter, an event and a part:
// Name("slack", ev, "message") = "slack.build.message".
func Name(adapter string, ev *event.Event, part string) string {
	return adapter + "." + string(ev.Kind) + "." + part
}

// Data is what templates see: the event's fields at the top level
// ({{ .Project }}, {{ .Commit.SHA }}), the original payload as .Raw
// ({{ .Raw.payload.buildType.name }}), and the destination's name.
// .Transition is the router's verdict on a finished build (event.Event).
type Data struct {
	*event.Event
	Destination string

	mentions  *Mentions  // for the mention helpers (mentions.go)
	rendering *rendering // the Render in progress, for include

	rawOnce sync.Once
	raw     any
}

// NewData builds the template data for ev.
func NewData(ev *event.Event, destination string) *Data {
	return &Data{Event: ev, Destination: destination}
}

// Raw is the original payload, decoded with numbers kept as written, or nil
// when it is not JSON. It is decoded the first time a template reads it:
// the defaults never do, and a payload (a TeamCity agent's hundreds of
// properties) is not decoded once per destination for nothing.
func (d *Data) Raw() any {
	d.rawOnce.Do(func() {
		if len(d.Event.Raw) == 0 {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(d.Event.Raw))
		dec.UseNumber()
		var raw any
		if dec.Decode(&raw) == nil {
			d.raw = raw
		}
	})
	return d.raw
}

// WithFallback runs build with s. When that fails and s holds user
// templates, it runs build again with the embedded defaults and reports the
// user failure, as a *FallbackError naming the template, to onFallback
// (which may be nil; the adapter's log line) and to the hook OnFallback
// installed (the metric): a broken user template never silences a
// notification.
func WithFallback[T any](s *Set, build func(*Set) (T, error), onFallback func(error)) (T, error) {
	if s.defaults == nil {
		return build(s)
	}
	var name string
	v, err := build(s.recording(&name))
	if err == nil {
		return v, nil
	}
	fe := &FallbackError{Template: name, Err: err}
	if onFallback != nil {
		onFallback(fe)
	}
	if f := s.onFallback.Load(); f != nil && *f != nil {
		(*f)(fe)
	}
	return build(s.defaults)
}

// recording is s, but telling name which template it last rendered.
func (s *Set) recording(name *string) *Set {
	return &Set{t: s.t, dirs: s.dirs, defaults: s.defaults, mentions: s.mentions, rendered: name}
}

// FallbackError is a user template's failure that WithFallback answered
// with the default.
type FallbackError struct {
	// Template is the template the adapter rendered last before the
	// failure, the one it asked for (slack.build.message, not a part it
	// includes): a name from the set, never event text. Empty when the
	// adapter failed before rendering any.
	Template string
	Err      error
}

// Error is the failure, naming the template when the failure's own text
// does not.
func (e *FallbackError) Error() string {
	msg := e.Err.Error()
	if e.Template == "" || strings.Contains(msg, e.Template) {
		return msg
	}
	return "template " + e.Template + ": " + msg
}

func (e *FallbackError) Unwrap() error { return e.Err }

// TemplateName is e.Template, for whoever counts fallbacks by template
// without importing this package (internal/metrics).
func (e *FallbackError) TemplateName() string { return e.Template }
