package reload

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/herald-ci/herald/internal/config"
)

// DefaultDebounce is how long the watch waits after the last change before
// it reloads: an editor's save (write a temporary file, rename it over the
// old one) or a copy of several templates makes a burst of events, and
// the reload should see the end of it.
const DefaultDebounce = 500 * time.Millisecond

// OnSignal reloads each time a value arrives on sig (serve sends SIGHUP
// there) until ctx ends. A failed reload is logged and counted; it does not
// stop the loop.
func (r *Reloader) OnSignal(ctx context.Context, sig <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
			_, _ = r.Reload(TriggerSignal)
		}
	}
}

// Watcher reloads when the config file, or a file in one of the running
// configuration's templates directories, changes.
type Watcher struct {
	r        *Reloader
	w        *fsnotify.Watcher
	f        filter
	debounce time.Duration
}

// Watch sets up a Watcher for the config file at path that reloads
// debounce after the last change (0: DefaultDebounce); Run starts it. It
// watches directories, not files, so that an editor's rename-on-save and
// Kubernetes' symlink swap of a mounted ConfigMap (..data) are seen;
// events of other files in those directories (the SQLite database beside
// the config) are ignored. After each reload it watches the templates
// directories of the configuration in force.
func (r *Reloader) Watch(path string, debounce time.Duration) (*Watcher, error) {
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	if err := w.Add(filepath.Dir(abs)); err != nil {
		w.Close()
		return nil, err
	}
	x := &Watcher{r: r, w: w, f: filter{config: abs}, debounce: debounce}
	r.watchTemplates(w, &x.f)
	return x, nil
}

// Run reloads on changes until ctx ends, then releases the watches.
func (x *Watcher) Run(ctx context.Context) {
	defer x.w.Close()
	timer := time.NewTimer(x.debounce)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-x.w.Events:
			if !ok {
				return
			}
			if x.f.relevant(ev) {
				timer.Reset(x.debounce)
			}
		case err, ok := <-x.w.Errors:
			if !ok {
				return
			}
			x.r.log.Warn().Err(err).Msg("watching the config files")
		case <-timer.C:
			_, _ = x.r.Reload(TriggerWatch)
			x.r.watchTemplates(x.w, &x.f)
		}
	}
}

// watchTemplates makes w watch the templates directories of the running
// configuration, and only those (besides the config file's).
func (r *Reloader) watchTemplates(w *fsnotify.Watcher, f *filter) {
	want := templateDirs(r.o.Target.Runtime().Config)
	for _, d := range f.templates {
		if !slices.Contains(want, d) && d != filepath.Dir(f.config) {
			_ = w.Remove(d)
		}
	}
	var watched []string
	for _, d := range want {
		if !slices.Contains(f.templates, d) {
			if err := w.Add(d); err != nil {
				r.log.Warn().Err(err).Str("dir", d).Msg("cannot watch a templates directory; SIGHUP or POST /-/reload still reload it")
				continue // tried again after the next reload
			}
		}
		watched = append(watched, d)
	}
	f.templates = watched
}

// templateDirs lists the templates directories of c, absolute, without
// repeats.
func templateDirs(c *config.Config) []string {
	var out []string
	add := func(d string) {
		if d == "" {
			return
		}
		if a, err := filepath.Abs(d); err == nil {
			d = a
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	add(c.TemplatesDir)
	for _, d := range c.Destinations {
		add(d.TemplatesDir)
	}
	return out
}

// filter says which file events may change the configuration.
type filter struct {
	config    string   // the config file, absolute
	templates []string // templates directories, absolute
}

func (f filter) relevant(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false // touch, chmod, and what backup tools do: no content change
	}
	name, err := filepath.Abs(ev.Name)
	if err != nil {
		return false
	}
	dir, base := filepath.Split(name)
	dir = filepath.Clean(dir)
	// Kubernetes updates a mounted ConfigMap by writing a new hidden
	// directory and renaming the ..data symlink over the old one.
	k8s := strings.HasPrefix(base, "..")
	if dir == filepath.Dir(f.config) && (name == f.config || k8s) {
		return true
	}
	return slices.Contains(f.templates, dir) && (strings.HasSuffix(base, ".tmpl") || k8s)
}
