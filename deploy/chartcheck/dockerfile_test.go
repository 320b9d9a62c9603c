package chartcheck

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfileHealthcheck: the image's final stage checks itself with
// herald's own verb (distroless has no shell or curl), in exec form, on the
// port it exposes and serves.
func TestDockerfileHealthcheck(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	// Instructions of the final stage, continuation lines joined.
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	var final []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "FROM ") {
			final = nil
		}
		final = append(final, line)
	}
	instr := func(name string) (string, bool) {
		var last string
		var ok bool
		for _, l := range final {
			if rest, found := strings.CutPrefix(l, name+" "); found {
				last, ok = strings.TrimSpace(rest), true
			}
		}
		return last, ok
	}
	execForm := func(s string) []string {
		var v []string
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Errorf("%q is not exec form: %v", s, err)
		}
		return v
	}

	copyLine, _ := instr("COPY")
	bin := copyLine[strings.LastIndex(copyLine, " ")+1:]
	entry, _ := instr("ENTRYPOINT")
	if ep := execForm(entry); len(ep) != 1 || ep[0] != bin {
		t.Errorf("ENTRYPOINT %s, want [%q]", entry, bin)
	}
	hc, ok := instr("HEALTHCHECK")
	if !ok {
		t.Fatal("the final stage has no HEALTHCHECK")
	}
	_, cmd, ok := strings.Cut(hc, "CMD ")
	if !ok {
		t.Fatalf("HEALTHCHECK %s has no CMD", hc)
	}
	if got := execForm(cmd); len(got) < 2 || got[0] != bin || got[1] != "healthcheck" {
		t.Errorf("HEALTHCHECK CMD %s, want [%q, \"healthcheck\", ...]", cmd, bin)
	}
	// The healthcheck's default address is 127.0.0.1:8080: serve must
	// listen on that port, and expose it.
	expose, _ := instr("EXPOSE")
	run, _ := instr("CMD")
	if expose != "8080" || !regexp.MustCompile(`"--listen",\s*"0\.0\.0\.0:8080"`).MatchString(run) {
		t.Errorf("EXPOSE %s, CMD %s: want 8080 and serve --listen 0.0.0.0:8080, where healthcheck looks", expose, run)
	}
	// The verb exists.
	main, err := os.ReadFile(filepath.Join(repoRoot, "cmd", "herald", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(main), `case "healthcheck":`) {
		t.Error(`cmd/herald/main.go has no "healthcheck" command`)
	}
}
