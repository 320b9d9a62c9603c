package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Destinations changed at run time, through the admin API: the ones it
// creates, kept in the store as a JSON object of the file's own keys, and
// the file's destinations it disables. cmd/herald composes the
// configuration herald runs on from the file and the store, and validates
// the whole exactly as a loaded file is validated, so a destination created
// through the API passes every check one written in the file passes
// (names, egress rules on its URL, shared URLs, events, policies).

// Origins of a destination, as the admin API shows them.
const (
	OriginConfig = "config" // the config file
	OriginAPI    = "api"    // the admin API; kept in the store
)

// OriginOf is d's origin: OriginAPI or OriginConfig.
func OriginOf(d Destination) string {
	if d.Origin == OriginAPI {
		return OriginAPI
	}
	return OriginConfig
}

// hostPathKeys are the destination keys that name files or directories on
// herald's host. The admin API refuses them: a caller of the API must not
// make herald read its files (a password_file sent as basic auth to a URL
// of the caller's choosing would hand them over).
var hostPathKeys = []string{"url_file", "templates_dir", "basic_auth.password_file"}

// DecodeDestination reads one destination written as a JSON object with
// the config file's keys (name, type, url, events, format, build_success,
// branches, dedup_window, rate_limit, ...): the admin API's request bodies
// and the store's copies. Unknown keys are errors, as in the file. Unlike
// the file, values are taken as written: no ${VAR} expansion (a caller of
// the API must not read herald's environment), and the keys that name
// files on herald's host (url_file, templates_dir,
// basic_auth.password_file) are refused. Defaults are left unset:
// WithAPIDestinations sets them. Errors never quote a value.
func DecodeDestination(b []byte) (Destination, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil || obj == nil {
		return Destination{}, errors.New("a destination is a JSON object of config keys")
	}
	if ba, ok := obj["basic_auth"]; ok {
		var inner map[string]json.RawMessage
		if json.Unmarshal(ba, &inner) == nil {
			for k, v := range inner {
				obj["basic_auth."+k] = v
			}
		}
	}
	for _, k := range hostPathKeys {
		if _, ok := obj[k]; ok {
			return Destination{}, fmt.Errorf("%s: names a file on herald's host; not accepted through the API", k)
		}
	}
	// JSON as Go writes it (one line, only the escapes YAML also knows:
	// not "\/") is YAML in flow style, so the file's decoder, with its
	// types, tags and strictness, reads it as it reads the file.
	flow, err := normalJSON(b)
	if err != nil {
		return Destination{}, errors.New("a destination is a JSON object of config keys")
	}
	var d Destination
	dec := yaml.NewDecoder(bytes.NewReader(flow))
	dec.KnownFields(true)
	if err := dec.Decode(&d); err != nil {
		return Destination{}, apiYAMLError(err)
	}
	return d, nil
}

// normalJSON re-encodes b: numbers kept as written, strings with Go's
// escapes, keys sorted.
func normalJSON(b []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(out.Bytes()), nil
}

var (
	yamlLineRE    = regexp.MustCompile(`^line \d+: `)
	yamlUnknownRE = regexp.MustCompile(`^field (\S+) not found in type config\.(\w+)$`)
)

// apiYAMLError rewords yaml.v3's errors for a JSON body: no line numbers
// (the body is one line), "x is not a known key", values redacted.
func apiYAMLError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return redactYAML(errors.New(strings.TrimPrefix(err.Error(), "yaml: ")))
	}
	var msgs []string
	for _, e := range te.Errors {
		e = yamlLineRE.ReplaceAllString(e, "")
		if m := yamlUnknownRE.FindStringSubmatch(e); m != nil {
			e = m[1] + " is not a known key"
			if m[2] != "Destination" {
				e += " of " + m[2]
			}
		}
		msgs = append(msgs, redactQuoted(e))
	}
	return errors.New(strings.Join(msgs, "; "))
}

// WithAPIDestinations returns a copy of c with ds appended as destinations
// of origin api, after c's own, their defaults set as the file's are, and
// the whole validated as a loaded file is. c is not changed; the copy
// shares everything but its destination list with it.
func (c *Config) WithAPIDestinations(ds []Destination) (*Config, error) {
	out := *c
	out.Destinations = slices.Clone(c.Destinations)
	for _, d := range ds {
		if d.URLFile != "" || d.TemplatesDir != "" || (d.BasicAuth != nil && d.BasicAuth.PasswordFile != "") {
			return nil, fmt.Errorf("destination %q: url_file, templates_dir and basic_auth.password_file are not accepted through the API", d.Name)
		}
		d.Origin = OriginAPI
		d.setDefaults(c.Delivery)
		out.Destinations = append(out.Destinations, d)
	}
	if err := out.Validate(); err != nil {
		return nil, err
	}
	return &out, nil
}
