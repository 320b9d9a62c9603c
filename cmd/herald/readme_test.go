package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeConfigSnippets loads every YAML block of the README marked
// <!-- snippet: NAME --> with `herald validate`, so the configuration the
// README shows cannot rot. ${VARS} get a value that passes validation; a
// snippet without destinations gets a console one.
func TestReadmeConfigSnippets(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)<!-- snippet: ([a-z0-9-]+) -->\n```yaml\n(.*?)```").FindAllSubmatch(readme, -1)
	if len(blocks) == 0 {
		t.Fatal("README has no yaml snippet")
	}
	vars := regexp.MustCompile(`\$\{([A-Z_][A-Z0-9_]*)\}`)
	for _, b := range blocks {
		name, yaml := string(b[1]), string(b[2])
		t.Run(name, func(t *testing.T) {
			for _, v := range vars.FindAllStringSubmatch(yaml, -1) {
				val := "a-secret-value-long-enough-0001"
				switch {
				case strings.Contains(v[1], "SLACK"):
					val = "https://hooks.slack.com/services/T0/B0/x"
				case strings.Contains(v[1], "TEAMS"):
					val = "https://example.webhook.office.com/webhookb2/x"
				}
				t.Setenv(v[1], val)
			}
			if !regexp.MustCompile(`(?m)^destinations:`).MatchString(yaml) {
				yaml += "destinations: [{name: log, type: console}]\n"
			}
			cfg := writeFile(t, t.TempDir(), "herald.yaml", yaml)
			if code, out, errOut := runCLI(t, "validate", "--config", cfg); code != exitOK {
				t.Errorf("README snippet %s does not validate: %d %s %s\n%s", name, code, out, errOut, yaml)
			}
		})
	}
}
