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
// The package renders text and nothing else: it does no I/O after Load and
// knows nothing of HTTP or platforms' payload rules (adapters own those).
package templates

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"text/template"

	"github.com/herald-ci/herald/internal/event"
)

//go:embed default/*.tmpl
var defaultFS embed.FS

// MaxOutput bounds one rendering; a template that writes more fails.
const MaxOutput = 1 << 20

// Set is a parsed set of templates: the embedded defaults, then the files
// of zero or more user directories.
type Set struct {
	t        *template.Template
	dirs     []string
	defaults *Set // nil when this is the defaults set

	onFallback atomic.Pointer[func(error)]
}

// OnFallback installs f, called each time WithFallback falls back from this
// set to the defaults (for a metric). It may be called again to replace f.
func (s *Set) OnFallback(f func(error)) { s.onFallback.Store(&f) }

var defaults = mustDefaults()

func mustDefaults() *Set {
	t, err := parseFS(template.New("").Funcs(Funcs()), defaultFS, "default")
	if err != nil {
		panic(fmt.Sprintf("templates: embedded defaults: %v", err))
	}
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

// Render executes the named template with data.
func (s *Set) Render(name string, data any) ([]byte, error) {
	t := s.t.Lookup(name)
	if t == nil {
		return nil, fmt.Errorf("template %q is not defined", name)
	}
	var w limitedBuffer
	if err := t.Execute(&w, data); err != nil {
		return nil, err
	}
	return w.Bytes(), nil
}

// RenderEvent renders name for ev with the standard Data.
func (s *Set) RenderEvent(name string, ev *event.Event, destination string) ([]byte, error) {
	return s.Render(name, NewData(ev, destination))
}

// Name is the template name for an adapter, an event and a part:
// Name("slack", ev, "message") = "slack.build.message".
func Name(adapter string, ev *event.Event, part string) string {
	return adapter + "." + string(ev.Kind) + "." + part
}

// Data is what templates see: the event's fields at the top level
// ({{ .Project }}, {{ .Commit.SHA }}), the original payload as .Raw
// ({{ .Raw.payload.buildType.name }}), and the destination's name.
type Data struct {
	*event.Event
	Destination string

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

// ErrTooLarge is returned when a template writes more than MaxOutput.
var ErrTooLarge = errors.New("template output exceeds the size limit")

type limitedBuffer struct{ bytes.Buffer }

func (w *limitedBuffer) Write(p []byte) (int, error) {
	if w.Len()+len(p) > MaxOutput {
		return 0, fmt.Errorf("%w of %d bytes", ErrTooLarge, MaxOutput)
	}
	return w.Buffer.Write(p)
}

// WriteString keeps the bound for text/template's string writes.
func (w *limitedBuffer) WriteString(s string) (int, error) {
	if w.Len()+len(s) > MaxOutput {
		return 0, fmt.Errorf("%w of %d bytes", ErrTooLarge, MaxOutput)
	}
	return w.Buffer.WriteString(s)
}

// WithFallback runs build with s. When that fails and s holds user
// templates, it runs build again with the embedded defaults and reports the
// user failure to onFallback (which may be nil): a broken user template
// never silences a notification.
func WithFallback[T any](s *Set, build func(*Set) (T, error), onFallback func(error)) (T, error) {
	v, err := build(s)
	if err == nil || s.defaults == nil {
		return v, err
	}
	if onFallback != nil {
		onFallback(err)
	}
	if f := s.onFallback.Load(); f != nil && *f != nil {
		(*f)(err)
	}
	return build(s.defaults)
}
