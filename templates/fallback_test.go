package templates

import (
	"errors"
	"strings"
	"testing"
)

// TestFallbackNamesTemplate: what WithFallback reports names the template
// the adapter asked for last before it failed, whether the failure was in
// the rendering (in a part it includes, too) or after it (the output was
// not the payload the adapter needs); the log line's error names it too.
func TestFallbackNamesTemplate(t *testing.T) {
	t.Parallel()
	dir := writeTemplate(t, `{{ define "slack.build.title" }}{{ fail "boom" }}{{ end }}`)
	notJSON := errors.New("not JSON")
	for _, tc := range []struct {
		name      string
		build     func(*Set) ([]byte, error)
		template  string
		errorText string
	}{
		{"a part fails", func(s *Set) ([]byte, error) { return s.RenderEvent("slack.build.message", failed, "d") },
			"slack.build.message", `executing "slack.build.title" at <fail "boom">: error calling fail: boom`},
		{"the output is refused", func(s *Set) ([]byte, error) {
			if _, err := s.RenderEvent("console.crash.text", failed, "d"); err != nil {
				return nil, err
			}
			if _, err := s.RenderEvent("console.build.text", failed, "d"); err != nil {
				return nil, err
			}
			return nil, notJSON
		}, "console.build.text", "template console.build.text: not JSON"},
		{"nothing rendered", func(*Set) ([]byte, error) { return nil, notJSON }, "", "not JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := Load(dir) // a set each: the hook is the set's
			if err != nil {
				t.Fatal(err)
			}
			var logged, hooked error
			s.OnFallback(func(err error) { hooked = err })
			calls := 0
			_, err = WithFallback(s, func(set *Set) ([]byte, error) {
				calls++
				if set.Fallback() == nil { // the defaults: the adapter's second try
					return []byte("default"), nil
				}
				return tc.build(set)
			}, func(err error) { logged = err })
			if err != nil || calls != 2 {
				t.Fatalf("%d builds, %v: want the user's, then the default", calls, err)
			}
			var fe *FallbackError
			if !errors.As(logged, &fe) || fe.Template != tc.template || fe.TemplateName() != tc.template {
				t.Fatalf("logged %#v, want a FallbackError naming %q", logged, tc.template)
			}
			if !strings.Contains(fe.Error(), tc.errorText) {
				t.Errorf("error %q, want %q in it", fe, tc.errorText)
			}
			if hooked != logged {
				t.Errorf("the hook got %v, the log %v", hooked, logged)
			}
			if tc.template == "" && !errors.Is(fe, notJSON) {
				t.Errorf("%v does not wrap the failure", fe)
			}
		})
	}
}

// TestDefaultsDoNotFallBack: a failure with the defaults is returned as it
// is, and nobody is told of a fallback that did not happen.
func TestDefaultsDoNotFallBack(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	called := false
	_, err := WithFallback(Defaults(), func(*Set) ([]byte, error) { return nil, boom }, func(error) { called = true })
	if err != boom || called {
		t.Errorf("got %v (hook called: %v), want the error as it is", err, called)
	}
}
