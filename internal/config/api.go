package config

import (
	"errors"
	"fmt"
	"slices"
)

// Role is what an API token may do. Each role includes the ones below it:
// manager > developer > reader.
type Role string

// The API roles.
const (
	// RoleReader reads destinations and deliveries.
	RoleReader Role = "reader"
	// RoleDeveloper also sends test messages, enables and disables
	// destinations, and replays deliveries.
	RoleDeveloper Role = "developer"
	// RoleManager also creates, changes and deletes destinations and
	// reloads the configuration.
	RoleManager Role = "manager"
)

// Roles lists the roles from the least to the most allowed.
var Roles = []Role{RoleReader, RoleDeveloper, RoleManager}

// Allows reports whether r includes need.
func (r Role) Allows(need Role) bool {
	have := slices.Index(Roles, r)
	return have >= 0 && have >= slices.Index(Roles, need)
}

// API configures the HTTP API beyond ingest (destinations admin, deliveries,
// reload): the tokens that may call it. With no token the API is off.
type API struct {
	Tokens []Token `yaml:"tokens,omitempty"`
}

// Token is one API token: a name for the logs, a role, and the secret a
// client sends as "Authorization: Bearer <token>".
type Token struct {
	Name      string `yaml:"name"`
	Role      Role   `yaml:"role"`
	Token     Secret `yaml:"token,omitempty"`
	TokenFile string `yaml:"token_file,omitempty"`
}

// MinAPITokenLength keeps guessable tokens out.
const MinAPITokenLength = 16

// Enabled reports whether the API is on: at least one token is configured.
func (a API) Enabled() bool { return len(a.Tokens) > 0 }

func (c *Config) setAPIDefaults() {}

// readAPIFiles reads the tokens' token_file secrets.
func (c *Config) readAPIFiles() []error {
	var errs []error
	for i := range c.API.Tokens {
		t := &c.API.Tokens[i]
		if t.TokenFile == "" {
			continue
		}
		if t.Token != "" {
			errs = append(errs, fmt.Errorf("api.tokens[%d]: token and token_file are both set", i))
			continue
		}
		v, err := readSecretFile(c.path(t.TokenFile))
		if err != nil {
			errs = append(errs, fmt.Errorf("api.tokens[%d]: token_file: %w", i, err))
			continue
		}
		t.Token = Secret(v)
	}
	return errs
}

// validateAPI lists the problems of the api section.
func (c *Config) validateAPI() []error {
	var errs []error
	names := map[string]bool{}
	values := map[Secret]bool{}
	for i, t := range c.API.Tokens {
		where := fmt.Sprintf("api.tokens[%d]", i)
		if t.Name != "" {
			where = fmt.Sprintf("api token %q", t.Name)
		}
		switch {
		case t.Name == "":
			errs = append(errs, fmt.Errorf("%s: name is required", where))
		case names[t.Name]:
			errs = append(errs, fmt.Errorf("%s: name is used twice", where))
		}
		names[t.Name] = true
		if !slices.Contains(Roles, t.Role) {
			errs = append(errs, fmt.Errorf("%s: role %q is not one of reader, developer, manager", where, t.Role))
		}
		switch {
		case t.Token == "":
			errs = append(errs, fmt.Errorf("%s: token (or token_file) is required", where))
		case len(t.Token) < MinAPITokenLength:
			errs = append(errs, fmt.Errorf("%s: token must be at least %d characters", where, MinAPITokenLength))
		case values[t.Token]:
			// Never name the value; one token, one role.
			errs = append(errs, fmt.Errorf("%s: the same token is configured twice", where))
		}
		values[t.Token] = true
	}
	if len(errs) > 0 {
		return []error{errors.Join(errs...)}
	}
	return nil
}
