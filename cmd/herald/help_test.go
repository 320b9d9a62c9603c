package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herald-ci/herald/sources"
)

// usageVerbs are the verbs the usage text lists, in its order.
func usageVerbs(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^  herald (\S+)`).FindAllStringSubmatch(usage, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	if len(out) < 10 {
		t.Fatalf("found only %v in the usage", out)
	}
	return out
}

// execHerald runs the real binary.
func execHerald(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(heraldBin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// TestHelp: `herald VERB --help` (and -h, and each subcommand's) answers
// on stdout with exit 0, and shows usage and at least one example of
// that very command; every verb of the usage has one, and the table has
// no verb the usage leaves out.
func TestHelp(t *testing.T) {
	t.Parallel()
	verbs := usageVerbs(t)
	var all []string
	for _, v := range verbs {
		all = append(all, v)
		c, ok := lookup(v)
		if !ok {
			t.Errorf("%s is in the usage but not in the commands table (help.go)", v)
			continue
		}
		for _, w := range c.words {
			if _, ok := lookup(v + " " + w); ok {
				all = append(all, v+" "+w)
			}
		}
	}
	for _, c := range commands {
		if v, _, _ := strings.Cut(c.name, " "); !slices.Contains(verbs, v) {
			t.Errorf("the commands table has %q, the usage does not list it", v)
		}
	}
	for _, name := range all {
		for _, h := range []string{"--help", "-h"} {
			args := append(strings.Fields(name), h)
			code, out, errOut := execHerald(t, args...)
			if code != exitOK || errOut != "" {
				t.Errorf("herald %s: exit %d, stderr %q; want 0 and nothing", strings.Join(args, " "), code, errOut)
				continue
			}
			if !strings.HasPrefix(out, "Usage:\n  herald "+name) {
				t.Errorf("herald %s: no usage line first:\n%s", strings.Join(args, " "), out)
			}
			_, examples, ok := strings.Cut(out, "\nExamples:\n")
			if !ok || !strings.Contains(examples, "herald "+name) {
				t.Errorf("herald %s: no example of herald %s:\n%s", strings.Join(args, " "), name, out)
			}
		}
	}
	// herald help VERB is herald VERB --help.
	_, viaHelp, _ := execHerald(t, "help", "deliveries", "retry")
	_, direct, _ := execHerald(t, "deliveries", "retry", "--help")
	if viaHelp != direct || direct == "" {
		t.Errorf("herald help deliveries retry:\n%s\ndiffers from herald deliveries retry --help:\n%s", viaHelp, direct)
	}
	// A stray word after the verb must not make it run instead (serve
	// ignores arguments: it would start and never return).
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, heraldBin, "help", "serve", "stray", "--listen", "127.0.0.1:0")
	cmd.Dir = t.TempDir()
	if out, err := cmd.Output(); err != nil || !strings.HasPrefix(string(out), "Usage:\n  herald serve") {
		t.Errorf("herald help serve stray: %v\n%s", err, out)
	}
}

// TestHelpFlagsAreTheTable: the flags a verb's help shows come from its
// FlagSet; the table (which completion uses) must name the same ones, with
// a value placeholder exactly for those that take a value.
func TestHelpFlagsAreTheTable(t *testing.T) {
	t.Parallel()
	flagLine := regexp.MustCompile(`^  --(\S+)(?: (\S+))?  `)
	for _, c := range commands {
		if c.static {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, append(strings.Fields(c.name), "--help")...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			got := map[string]string{} // flag -> placeholder
			if _, section, ok := strings.Cut(out, "\nFlags:\n"); ok {
				section, _, _ = strings.Cut(section, "\n\n")
				for _, l := range strings.Split(section, "\n") {
					m := flagLine.FindStringSubmatch(l)
					if m == nil {
						t.Fatalf("unexpected line in Flags: %q", l)
					}
					got[m[1]] = m[2]
				}
			}
			want := map[string]string{}
			for _, f := range c.flags {
				want[f.name] = f.value
			}
			for name, ph := range got {
				w, ok := want[name]
				switch {
				case !ok:
					t.Errorf("--%s is a flag of herald %s, not in its commands entry (help.go)", name, c.name)
				case (w == "") != (ph == ""):
					t.Errorf("--%s: the table says value %q, the FlagSet takes %q", name, w, ph)
				}
			}
			for name := range want {
				if _, ok := got[name]; !ok {
					t.Errorf("the table lists --%s, herald %s has no such flag", name, c.name)
				}
			}
		})
	}
}

// TestUsageDocumentsExitCodes: the usage's exit status section names the
// codes run returns.
func TestUsageDocumentsExitCodes(t *testing.T) {
	t.Parallel()
	_, section, ok := strings.Cut(usage, "\nExit status:\n")
	if !ok {
		t.Fatalf("the usage has no Exit status section:\n%s", usage)
	}
	for code, what := range map[int]string{exitOK: "success", exitError: "runtime failure", exitUsage: "usage error"} {
		if !regexp.MustCompile(`(?m)^  ` + strconv.Itoa(code) + `  ` + what).MatchString(section) {
			t.Errorf("exit status %d (%s) is not documented:\n%s", code, what, section)
		}
	}
	if code, _, _ := runCLI(t, "no-such-verb"); code != exitUsage {
		t.Errorf("unknown verb: exit %d, want %d", code, exitUsage)
	}
}

// TestCompletionBash: the bash script is valid bash, and completing with
// it gives every verb of the usage, a group's subcommands, each command's
// flags and a flag's choices.
func TestCompletionBash(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	code, script, errOut := execHerald(t, "completion", "bash")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	path := filepath.Join(t.TempDir(), "herald.bash")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bash", "-n", path).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	// complete runs _herald with the words of a command line, the last
	// one being completed.
	complete := func(words ...string) []string {
		t.Helper()
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, shellQuote(w))
		}
		prog := "source " + shellQuote(path) + "\nCOMP_WORDS=(herald " + strings.Join(quoted, " ") + ")\n" +
			"COMP_CWORD=" + strconv.Itoa(len(words)) + "\n_herald\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
		out, err := exec.Command("bash", "--norc", "--noprofile", "-c", prog).CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		return strings.Fields(string(out))
	}
	sameSet := func(what string, got, want []string) {
		t.Helper()
		got, want = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
		if !slices.Equal(got, want) {
			t.Errorf("%s: completes %q, want %q", what, got, want)
		}
	}

	sameSet("herald <TAB>", complete(""), usageVerbs(t))
	sameSet("herald help <TAB>", complete("help", ""), usageVerbs(t))
	sameSet("herald completion <TAB>", complete("completion", ""), []string{"bash", "zsh", "fish"})
	sameSet("herald deliveries <TAB>", complete("deliveries", ""), []string{"list", "show", "retry"})
	sameSet("herald destinations <TAB>", complete("destinations", ""), []string{"list", "test", "enable", "disable"})
	sameSet("herald render --source <TAB>", complete("render", "--source", ""), sources.Names())
	sameSet("herald render -adapter t<TAB>", complete("render", "-adapter", "t"), []string{"teams", "teams-messagecard", "teams-adaptive-card"})
	sameSet("herald deliveries list --state <TAB>", complete("deliveries", "list", "--state", ""), []string{"pending", "delivered", "failed", "dead"})
	sameSet("herald deliveries list --s<TAB>", complete("deliveries", "list", "--s"), []string{"--server", "--state"})
	for _, c := range commands {
		if len(c.flags) == 0 {
			continue
		}
		want := []string{"--help"}
		for _, f := range c.flags {
			want = append(want, "--"+f.name)
		}
		sameSet("herald "+c.name+" --<TAB>", complete(append(strings.Fields(c.name), "--")...), want)
	}
}

// TestCompletionZshFish checks the other scripts' syntax where the shell
// is installed, and that they name every verb.
func TestCompletionZshFish(t *testing.T) {
	t.Parallel()
	for _, sh := range []string{"zsh", "fish"} {
		t.Run(sh, func(t *testing.T) {
			code, script, errOut := execHerald(t, "completion", sh)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			for _, v := range usageVerbs(t) {
				if !regexp.MustCompile(`[ \n]` + regexp.QuoteMeta(v) + `[ \n)]`).MatchString(script) {
					t.Errorf("the %s script does not name %s", sh, v)
				}
			}
			if _, err := exec.LookPath(sh); err != nil {
				t.Skipf("no %s to check the syntax", sh)
			}
			path := filepath.Join(t.TempDir(), "herald."+sh)
			if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(sh, "-n", path).CombinedOutput(); err != nil {
				t.Fatalf("%s -n: %v\n%s", sh, err, out)
			}
			// What the script completes after "herald deliveries list --".
			var prog []string
			if sh == "zsh" {
				// compadd and _files are zsh's completion system's; stand-ins
				// print what they are given.
				prog = []string{"zsh", "-f", "-c", `compadd() { while [[ $1 == -* && $1 != -- ]]; do shift; done; shift; print -l -- "$@"; }
compdef() { :; }
source ` + shellQuote(path) + `
words=(herald deliveries list --); CURRENT=4; _herald`}
			} else {
				prog = []string{"fish", "--no-config", "-c", "source " + shellQuote(path) + "; complete -C 'herald deliveries list --'"}
			}
			out, err := exec.Command(prog[0], prog[1:]...).CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", sh, err, out)
			}
			got := strings.Fields(string(out))
			for _, f := range []string{"--server", "--token-file", "--state", "--destination", "--limit", "--cursor", "--help"} {
				if !slices.Contains(got, f) {
					t.Errorf("%s completes herald deliveries list -- to %q, without %s", sh, got, f)
				}
			}
		})
	}
}
