package main

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herald-ci/herald/sources/sourcestest"
)

// TestServeRefusesOpenSourcesBeyondLoopback: serve will not listen beyond
// loopback while an enabled source takes requests without authentication;
// the error names the sources and the keys to set, and nothing is opened.
// The binary runs apart, so that a serve which wrongly starts is seen (its
// "herald serving" line) and stopped, instead of hanging the test.
func TestServeRefusesOpenSourcesBeyondLoopback(t *testing.T) {
	tests := []struct {
		name, config string
		args         []string
		open         string
	}{
		{"every source, by the config's listen", "listen: 0.0.0.0:0\n", nil, "appcenter, generic, teamcity"},
		{"every source, by --listen", "", []string{"--listen", "[::]:0"}, "appcenter, generic, teamcity"},
		{"a listed source without a method", "listen: ':0'\nsources: {appcenter: {url_token: abcdefghijklmnop0123}, teamcity: {}}\n", nil, "teamcity"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := writeFile(t, dir, "herald.yaml", tc.config+"store: {dsn: herald.db}\ndestinations: [{name: log, type: console}]\n")
			cmd := exec.Command(heraldBin, append([]string{"serve", "--config", cfg}, tc.args...)...)
			cmd.Dir = dir
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				out.WriteString(sc.Text() + "\n")
				if strings.Contains(sc.Text(), "herald serving") {
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
					t.Fatalf("serve started:\n%s", out.String())
				}
			}
			err = cmd.Wait()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != exitError {
				t.Fatalf("exit %v, want %d; stderr %s", err, exitError, out.String())
			}
			for _, want := range []string{"without authentication: " + tc.open + ";", "basic_auth, bearer_token, standard_webhooks, hub_signature or url_token", "insecure: true"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("stderr does not say %q:\n%s", want, out.String())
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "herald.db")); err == nil {
				t.Errorf("serve opened the store before refusing")
			}
		})
	}
}

// TestServeAuthenticatesSources: a running herald warns about the sources
// marked insecure, takes App Center's token in the URL, and refuses a wrong one.
func TestServeAuthenticatesSources(t *testing.T) {
	dir := t.TempDir()
	const token = "app-center-token-0123456789"
	writeFile(t, dir, "herald.yaml", "listen: 127.0.0.1:0\nstore: {dsn: herald.db}\n"+
		"sources: {appcenter: {url_token: "+token+"}, generic: {insecure: true}}\n"+
		"destinations: [{name: log, type: console}]\n")
	p := start(t, dir, nil, "--config", "herald.yaml")
	warned := false
	for _, line := range strings.Split(p.logs.String(), "\n") {
		warned = warned || strings.Contains(line, `"level":"warn"`) && strings.Contains(line, `"source":"generic"`) &&
			strings.Contains(line, "source accepts requests without authentication")
	}
	if !warned {
		t.Errorf("no warning naming the insecure source:\n%s", p.logs.String())
	}
	body := sourcestest.Body(t, "appcenter-build-success")
	for path, want := range map[string]int{
		"/v1/events/appcenter/" + token:       http.StatusAccepted,
		"/v1/events/appcenter/" + token + "x": http.StatusUnauthorized,
		"/v1/events/appcenter":                http.StatusUnauthorized,
		"/v1/events/teamcity":                 http.StatusNotFound, // not listed
	} {
		resp, err := http.Post("http://"+p.addr+path, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", strings.Replace(path, token, "<token>", 1), resp.StatusCode, want)
		}
	}
	if strings.Contains(p.logs.String(), token) {
		t.Errorf("the token is in the logs")
	}
}
