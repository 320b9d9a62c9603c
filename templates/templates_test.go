package templates

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herald-ci/herald/internal/event"
)

func writeTemplate(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "user.tmpl"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

var failed = &event.Event{Kind: event.KindBuild, Status: event.StatusFailed, Number: "7",
	Raw: []byte(`{"eventType":"BUILD_FINISHED","payload":{"buildType":{"name":"Client"},"id":12345678901234567890}}`)}

// TestRaw: .Raw reads the original payload, numbers as written.
func TestRaw(t *testing.T) {
	t.Parallel()
	s, err := Load(writeTemplate(t, `{{ define "x" }}{{ .Raw.payload.buildType.name }} {{ .Raw.payload.id }} {{ .Number }} {{ statusWord . }}{{ end }}`))
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.RenderEvent("x", failed, "d")
	if err != nil {
		t.Fatal(err)
	}
	if want := "Client 12345678901234567890 7 failed"; string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}
	// Not JSON: .Raw is nil, and reading into it is a render error (which
	// WithFallback answers with the default).
	notJSON := *failed
	notJSON.Raw = []byte("not json")
	if out, err := s.RenderEvent("x", &notJSON, "d"); err == nil || strings.Contains(string(out), "Client") {
		t.Errorf("a payload that is not JSON gave %q, %v", out, err)
	}
}

// TestUserOverridesOnePart: a user file replaces the template it defines
// and leaves every other default in place.
func TestUserOverridesOnePart(t *testing.T) {
	t.Parallel()
	s, err := Load(writeTemplate(t, `{{ define "console.build.text" }}mine{{ end }}`))
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := s.RenderEvent("console.build.text", failed, "d"); string(out) != "mine" {
		t.Errorf("override not used: %q", out)
	}
	def, _ := Defaults().RenderEvent("console.crash.text", &event.Event{Kind: event.KindCrash, Status: event.StatusCreated}, "d")
	if got, _ := s.RenderEvent("console.crash.text", &event.Event{Kind: event.KindCrash, Status: event.StatusCreated}, "d"); string(got) != string(def) {
		t.Errorf("a part the user did not define changed: %q vs %q", got, def)
	}
	if s.Fallback() != Defaults() || Defaults().Fallback() != nil {
		t.Errorf("fallback chain wrong")
	}
}

// TestForbiddenFunctions: functions that reach outside the template are
// not defined, so a template using them fails at load with file and line.
func TestForbiddenFunctions(t *testing.T) {
	t.Parallel()
	for _, fn := range []string{"env", "expandenv", "getHostByName", "genPrivateKey", "repeat", "now", "randAlpha"} {
		dir := writeTemplate(t, "{{ define \"x\" }}\n{{ "+fn+" \"HOME\" }}{{ end }}")
		_, err := Load(dir)
		if err == nil || !strings.Contains(err.Error(), "user.tmpl:2:") || !strings.Contains(err.Error(), fn) {
			t.Errorf("%s: %v; want a load error naming the file, line and function", fn, err)
		}
	}
}

// TestEventTextIsData: template syntax inside event text stays text.
func TestEventTextIsData(t *testing.T) {
	t.Parallel()
	ev := &event.Event{Kind: event.KindBuild, Status: event.StatusFailed, Project: `{{ env "HOME" }}{{ template "x" }}`}
	out, err := Defaults().RenderEvent("console.build.text", ev, "d")
	if err != nil || !strings.Contains(string(out), `{{ env "HOME" }}{{ template "x" }}`) {
		t.Errorf("got %q, %v", out, err)
	}
}

func TestOutputBounded(t *testing.T) {
	t.Parallel()
	s, err := Load(writeTemplate(t, `{{ define "x" }}{{ range $i := until 1 }}{{ end }}{{ end }}`))
	if err == nil {
		t.Fatalf("until is unbounded and must not be defined: %v", s)
	}
	s, err = Load(writeTemplate(t, `{{ define "x" }}{{ .Text }}{{ .Text }}{{ .Text }}{{ .Text }}{{ end }}`))
	if err != nil {
		t.Fatal(err)
	}
	big := &event.Event{Kind: event.KindBuild, Status: event.StatusFailed, Text: strings.Repeat("a", MaxOutput/3)}
	if _, err := s.RenderEvent("x", big, "d"); !errors.Is(err, ErrTooLarge) {
		t.Errorf("output over %d bytes: %v, want ErrTooLarge", MaxOutput, err)
	}
}

func TestWithFallback(t *testing.T) {
	t.Parallel()
	s, err := Load(writeTemplate(t, `{{ define "console.build.text" }}{{ fail "boom" }}{{ end }}`))
	if err != nil {
		t.Fatal(err)
	}
	var reported, hooked error
	s.OnFallback(func(err error) { hooked = err })
	out, err := WithFallback(s, func(s *Set) ([]byte, error) { return s.RenderEvent("console.build.text", failed, "d") },
		func(err error) { reported = err })
	if err != nil || !strings.HasPrefix(string(out), "[build.failed]") {
		t.Fatalf("want the default, got %q %v", out, err)
	}
	if reported == nil || hooked == nil || !strings.Contains(reported.Error(), "boom") {
		t.Errorf("fallback not reported: %v / %v", reported, hooked)
	}
	// The defaults themselves have nothing to fall back to: the error stands.
	_, err = WithFallback(Defaults(), func(*Set) ([]byte, error) { return nil, errors.New("x") }, nil)
	if err == nil {
		t.Errorf("defaults fell back to themselves")
	}
}
