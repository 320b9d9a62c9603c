package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAPITokens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ops.token"), []byte("token-from-a-file-0001\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Parse([]byte(`
api:
  tokens:
    - {name: ops, role: manager, token_file: ops.token}
    - {name: ci, role: developer, token: inline-token-000000001}
destinations: [{name: log, type: console}]`), dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.API.Tokens[0].Token.Value(); got != "token-from-a-file-0001" {
		t.Errorf("token_file read as %q", got)
	}
	if !c.API.Enabled() {
		t.Error("API with tokens is not enabled")
	}
	if s := fmt.Sprintf("%v %+v", c.API, c.API); strings.Contains(s, "token-from-a-file") || strings.Contains(s, "inline-token") {
		t.Errorf("tokens print: %s", s)
	}

	for _, tc := range []struct{ api, want string }{
		{`{tokens: [{name: a, role: admin, token: long-enough-token-0001}]}`, `role "admin" is not one of reader, developer, manager`},
		{`{tokens: [{name: a, role: reader, token: short}]}`, "at least 16 characters"},
		{`{tokens: [{name: a, role: reader}]}`, "token (or token_file) is required"},
		{`{tokens: [{role: reader, token: long-enough-token-0001}]}`, "name is required"},
		{`{tokens: [{name: a, role: reader, token: long-enough-token-0001}, {name: a, role: reader, token: long-enough-token-0002}]}`, "name is used twice"},
		{`{tokens: [{name: a, role: reader, token: long-enough-token-0001}, {name: b, role: manager, token: long-enough-token-0001}]}`, "the same token is configured twice"},
		{`{tokens: [{name: a, role: reader, token: x, token_file: ops.token}]}`, "token and token_file are both set"},
		{`{tokens: [{name: a, role: reader, token_file: missing.token}]}`, "token_file"},
	} {
		_, err := Parse([]byte("api: "+tc.api+"\ndestinations: [{name: log, type: console}]"), dir)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("api %s: error %v; want %q", tc.api, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "long-enough-token") {
			t.Errorf("error names a token: %v", err)
		}
	}
}

func TestRoleAllows(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		have, need Role
		want       bool
	}{
		{RoleReader, RoleReader, true}, {RoleReader, RoleDeveloper, false}, {RoleReader, RoleManager, false},
		{RoleDeveloper, RoleReader, true}, {RoleDeveloper, RoleDeveloper, true}, {RoleDeveloper, RoleManager, false},
		{RoleManager, RoleReader, true}, {RoleManager, RoleManager, true},
		{Role("admin"), RoleReader, false}, {Role(""), RoleReader, false},
	} {
		if got := tc.have.Allows(tc.need); got != tc.want {
			t.Errorf("%q.Allows(%q) = %v", tc.have, tc.need, got)
		}
	}
}
