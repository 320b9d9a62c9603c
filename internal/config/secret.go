package config

import (
	"encoding/json"

	"github.com/herald-ci/herald/internal/notify"
)

// Redacted is what a secret prints as, everywhere.
const Redacted = "<secret>"

// Secret is a string that never prints, marshals or logs its value.
type Secret string

func (s Secret) String() string               { return Redacted }
func (s Secret) GoString() string             { return Redacted }
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(Redacted) }
func (s Secret) MarshalYAML() (any, error)    { return Redacted, nil }
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }
func (s Secret) Value() string                { return string(s) }

// SecretURL is a webhook URL: the URL is the credential. It prints as
// scheme://host/*** so operators can still tell destinations apart.
type SecretURL string

func (u SecretURL) String() string               { return notify.RedactURL(string(u)) }
func (u SecretURL) GoString() string             { return u.String() }
func (u SecretURL) MarshalJSON() ([]byte, error) { return json.Marshal(u.String()) }
func (u SecretURL) MarshalYAML() (any, error)    { return u.String(), nil }
func (u SecretURL) MarshalText() ([]byte, error) { return []byte(u.String()), nil }
func (u SecretURL) Value() string                { return string(u) }
