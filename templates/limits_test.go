package templates

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"text/template/parse"
	"time"

	"github.com/herald-ci/herald/internal/event"
)

// crashWithFrames is an event whose stack trace, ranged over three deep,
// makes a billion iterations: data-bounded, but not in any useful time.
var crashWithFrames = func() *event.Event {
	frames := make([]string, 1000)
	for i := range frames {
		frames[i] = fmt.Sprintf("at com.example.Frame.method%d(Frame.java:%d)", i, i)
	}
	return &event.Event{Kind: event.KindBuild, Status: event.StatusFailed, Number: "7", Project: "P",
		Crash: event.Crash{StackTrace: frames}}
}()

// TestHostileTemplatesAreBounded: a template that recurses, writes without
// end or loops without writing fails with an error that says which bound it
// hit, within MaxRenderTime (and a margin for a busy machine), and the
// default is rendered instead. Each case hangs a worker or exhausts its
// memory without the bound it names.
func TestHostileTemplatesAreBounded(t *testing.T) {
	t.Parallel()
	const name = "console.build.text"
	for _, tc := range []struct {
		name, text string
		want       error  // errors.Is, or nil
		wantText   string // in the error, when want is nil
		quick      bool   // stopped by its own bound, before the deadline
	}{
		{name: "recursion", text: `{{ define "console.build.text" }}{{ template "console.build.text" . }}{{ end }}`,
			wantText: "exceeded maximum template depth", quick: true},
		{name: "include recursion", text: `{{ define "console.build.text" }}{{ include "console.build.text" . }}{{ end }}`,
			wantText: "includes nest more than 16 deep", quick: true},
		{name: "nested range writing", want: ErrTooLarge, quick: true,
			text: `{{ define "console.build.text" }}{{ range .Crash.StackTrace }}{{ range $.Crash.StackTrace }}{{ range $.Crash.StackTrace }}{{ . }}{{ end }}{{ end }}{{ end }}{{ end }}`},
		{name: "nested range silent", want: ErrTooSlow,
			text: `{{ define "console.build.text" }}{{ range .Crash.StackTrace }}{{ range $.Crash.StackTrace }}{{ range $.Crash.StackTrace }}{{ end }}{{ end }}{{ end }}{{ end }}`},
		{name: "range over a number", want: ErrTooSlow,
			text: `{{ define "console.build.text" }}{{ range 1000000000000 }}{{ end }}{{ end }}`},
		{name: "recursion fanning out", want: ErrTooSlow,
			text: `{{ define "a" }}{{ if lt (len .) 60 }}{{ template "a" (append . 1) }}{{ template "a" (append . 1) }}{{ end }}{{ end }}` +
				`{{ define "console.build.text" }}{{ template "a" list }}{{ end }}`},
		{name: "include fanning out", want: ErrTooSlow,
			text: `{{ define "b" }}{{ range 1000 }}{{ $x := include "c" $ }}{{ end }}{{ end }}` +
				`{{ define "c" }}{{ range 1000 }}{{ $x := include "d" $ }}{{ end }}{{ end }}` +
				`{{ define "d" }}{{ range 1000 }}{{ end }}{{ end }}` +
				`{{ define "console.build.text" }}{{ range 1000 }}{{ $x := include "b" $ }}{{ end }}{{ end }}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := Load(writeTemplate(t, tc.text))
			if err != nil {
				t.Fatal(err)
			}
			var reported error
			s.OnFallback(func(err error) { reported = err })
			limit := MaxRenderTime + 2*time.Second // a margin for a busy machine
			// Unbounded, the rendering would run for hours: the test gives
			// up on it (and leaves it running) rather than wait.
			type result struct {
				out []byte
				err error
			}
			done := make(chan result, 1)
			go func() {
				out, err := WithFallback(s, func(s *Set) ([]byte, error) { return s.RenderEvent(name, crashWithFrames, "d") }, nil)
				done <- result{out, err}
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(limit):
				t.Fatalf("still rendering after %s", limit)
			}
			if r.err != nil {
				t.Fatalf("no fallback: %v", r.err)
			}
			want, _ := Defaults().RenderEvent(name, crashWithFrames, "d")
			if string(r.out) != string(want) {
				t.Errorf("got %q, want the default %q", r.out, want)
			}
			var fe *FallbackError
			if !errors.As(reported, &fe) || fe.Template != name {
				t.Fatalf("fallback reported %#v, want a FallbackError naming %s", reported, name)
			}
			switch {
			case tc.want != nil && !errors.Is(reported, tc.want):
				t.Errorf("error %q, want %q", reported, tc.want)
			case tc.want == nil && !strings.Contains(reported.Error(), tc.wantText):
				t.Errorf("error %q, want %q in it", reported, tc.wantText)
			case errors.Is(reported, ErrTooSlow) && tc.quick:
				// Each of these writes as it goes: past the deadline, the
				// writer would have said so instead.
				t.Errorf("error %q: the deadline, not the bound that should stop it first", reported)
			}
			if !strings.Contains(reported.Error(), name) {
				t.Errorf("error %q does not name the template", reported)
			}
		})
	}
}

// TestIncludeTakesTheDot: include renders a part with the template's dot
// and nothing else: the dot carries the rendering's bounds.
func TestIncludeTakesTheDot(t *testing.T) {
	t.Parallel()
	s, err := Load(writeTemplate(t, `{{ define "part" }}#{{ .Number }}{{ end }}`+
		`{{ define "ok" }}[{{ include "part" . }}]{{ end }}`+
		`{{ define "dict" }}{{ include "part" (dict "Number" 1) }}{{ end }}`+
		`{{ define "missing" }}{{ include "nope" . }}{{ end }}`))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := s.RenderEvent("ok", failed, "d"); err != nil || string(out) != "[#7]" {
		t.Errorf("ok: %q, %v", out, err)
	}
	if _, err := s.RenderEvent("dict", failed, "d"); err == nil || !strings.Contains(err.Error(), "want the template's dot") {
		t.Errorf("dict: %v", err)
	}
	if _, err := s.RenderEvent("missing", failed, "d"); err == nil || !strings.Contains(err.Error(), `"nope" is not defined`) {
		t.Errorf("missing: %v", err)
	}
}

// TestGuardOnce: guard puts one tick first in every template and range
// body, and leaves the defaults' trees, which every loaded set shares and
// which may be executing, as they are.
func TestGuardOnce(t *testing.T) {
	t.Parallel()
	ticks := func(l *parse.ListNode) int {
		n := 0
		for _, node := range l.Nodes {
			if node == parse.Node(tick) {
				n++
			}
		}
		return n
	}
	def := Defaults().t.Lookup("slack.build.message").Tree.Root
	before := len(def.Nodes)
	s, err := Load(writeTemplate(t, `{{ define "x" }}a{{ range .Links }}b{{ else }}c{{ end }}{{ end }}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(writeTemplate(t, `{{ define "y" }}{{ end }}`)); err != nil {
		t.Fatal(err)
	}
	if len(def.Nodes) != before || ticks(def) != 1 || def.Nodes[0] != parse.Node(tick) {
		t.Errorf("defaults' tree: %d nodes (was %d), %d ticks", len(def.Nodes), before, ticks(def))
	}
	root := s.t.Lookup("x").Tree.Root
	if ticks(root) != 1 || root.Nodes[0] != parse.Node(tick) {
		t.Fatalf("user template: %d ticks in %s", ticks(root), root)
	}
	r := root.Nodes[2].(*parse.RangeNode)
	if ticks(r.List) != 1 || ticks(r.ElseList) != 0 {
		t.Errorf("range: %d ticks in the body, %d in else", ticks(r.List), ticks(r.ElseList))
	}
	if out, _ := s.RenderEvent("x", failed, "d"); string(out) != "ac" {
		t.Errorf("a tick wrote something: %q", out)
	}
}
