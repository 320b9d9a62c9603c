package config_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/notify"
)

// marker is the secret the fuzzer carries around: in the input text, in
// an environment variable and in a *_file.
const (
	marker    = "SECRETTOKEN"
	secretURL = "https://hooks.slack.com/services/T000/B000/" + marker
	secretEnv = "HERALD_FUZZ_SECRET_URL"
)

// FuzzParse feeds config.Parse random YAML documents, starting from
// config.example.yaml and testdata/conf.*.yaml, and checks that it never
// panics and never shows a secret: when every value holding the marker
// sits where a secret belongs (store.dsn, a destination's url or
// basic_auth.password, an API token, or their *_file and ${ENV} forms),
// the marker is in neither the error text nor the loaded config printed
// with %v, %+v or %#v, or marshalled to JSON or YAML. A url's scheme and
// host are not secret (SecretURL prints them), so a marker there does not
// count.
func FuzzParse(f *testing.F) {
	dir := f.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte(secretURL+"\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	f.Setenv(secretEnv, secretURL)

	files, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	files = append(files, filepath.Join("..", "..", "config.example.yaml"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	const dest = "destinations:\n  - name: builds\n    type: slack\n"
	for _, s := range []string{
		dest + "    url: " + secretURL + "\n",
		dest + "    url: \"" + secretURL + "\"\n    events: [build.exploded]\n",
		dest + "    url: ${" + secretEnv + "}\n    max_in_flight: -1\n",
		dest + "    url_file: secret\n    rate_limit: {per_second: -1}\n",
		dest + "    url: " + secretURL + "\n  - name: builds\n    type: teams\n    url: " + secretURL + "\n",
		dest + "    url: " + secretURL + "?x=1\n    basic_auth:\n      username: u\n      password: " + marker + "\n",
		dest + "    url: !!str " + secretURL + "\n    timeout: !!int 5s\n",
		dest + "    url: &u " + secretURL + "\n  - name: other\n    type: slack\n    url: *u\n",
		"store:\n  driver: postgres\n  dsn: postgres://herald:" + marker + "@db/herald\n" + dest + "    url: " + secretURL + "\n",
		"api:\n  tokens:\n    - name: ci\n      role: manager\n      token: " + marker + "\n" + dest,
		"api:\n  tokens:\n    - name: ci\n      role: admin\n      token_file: secret\n    - name: ci\n      token: x\n" + dest,
		"sources:\n  teamcity:\n    bearer_token: " + marker + "\n    url_token: " + marker + "/x\n" + dest,
		"sources:\n  generic:\n    standard_webhooks:\n      secrets: [whsec_" + marker + "]\n    hub_signature: {secret: " + marker + "}\n" + dest,
		"sources:\n  appcenter:\n    basic_auth: {username: a:b, password: " + marker + "}\n    url_token_file: secret\n" + dest,
		"sources:\n  teamcity:\n    standard_webhooks: {secrets_file: secret}\n    bearer_token: ${" + secretEnv + "}\n" + dest,
		"listen: [" + marker + "\n",
		"",
		"---\n...\n",
	} {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, doc string) {
		secretOnly, ok := checkable(doc)
		if !ok {
			return // a path herald must not read from a test (/dev/zero...)
		}
		cfg, err := config.Parse([]byte(doc), dir)
		if !secretOnly {
			return // the marker is also plain text, which may be shown
		}
		if err != nil && strings.Contains(err.Error(), marker) {
			t.Fatalf("the error shows a secret: %v", err)
		}
		if cfg == nil {
			return
		}
		j, jerr := json.Marshal(cfg)
		y, yerr := yaml.Marshal(cfg)
		for what, s := range map[string]string{
			"%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", cfg), "%#v": fmt.Sprintf("%#v", cfg),
			"JSON": string(j) + fmt.Sprint(jerr), "YAML": string(y) + fmt.Sprint(yerr),
		} {
			if strings.Contains(s, marker) {
				t.Fatalf("the config printed as %s shows a secret:\n%s", what, s)
			}
		}
	})
}

// secretPath is where a secret value belongs, as mapping keys from the
// document's root: "*" stands for a sequence item, "?" for any map key.
type secretPath struct {
	keys []string
	url  bool // a SecretURL, whose scheme and host are shown
}

// secretPaths lists every field of type config.Secret or config.SecretURL
// (or a list or map of them) in config.Config, found by reflection, so a
// secret added to the config is fuzzed without a change here.
var secretPaths = func() []secretPath {
	secretT, urlT := reflect.TypeFor[config.Secret](), reflect.TypeFor[config.SecretURL]()
	var out []secretPath
	var walk func(t reflect.Type, keys []string)
	walk = func(t reflect.Type, keys []string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case len(keys) > 16:
			return
		case t == secretT || t == urlT:
			out = append(out, secretPath{keys: slices.Clone(keys), url: t == urlT})
			return
		}
		switch t.Kind() {
		case reflect.Slice, reflect.Array:
			walk(t.Elem(), append(keys, "*"))
		case reflect.Map:
			walk(t.Elem(), append(keys, "?"))
		case reflect.Struct:
			for _, f := range reflect.VisibleFields(t) {
				name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
				switch {
				case !f.IsExported() || f.Anonymous && opts != "inline" || name == "-":
				case strings.Contains(","+opts+",", ",inline,"):
					walk(f.Type, keys)
				default:
					if name == "" {
						name = strings.ToLower(f.Name) // yaml.v3's default
					}
					walk(f.Type, append(keys, name))
				}
			}
		}
	}
	walk(reflect.TypeFor[config.Config](), nil)
	return out
}()

// envRef is config's ${VAR} and ${VAR:-default}.
var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// checkable walks doc's first document as config.Parse will read it.
// secretOnly is true when every scalar that holds the marker (after
// ${VAR} expansion; keys and !!binary values included) sits on a secret
// path, outside a url's scheme and host. ok is false when a value names a
// device or a process file, which a *_file key would read forever.
func checkable(doc string) (secretOnly, ok bool) {
	var root yaml.Node
	if yaml.Unmarshal([]byte(doc), &root) != nil {
		// Parse fails on the same text; yaml.v3's syntax errors quote
		// no values, so there is nothing to tell apart.
		return !strings.Contains(doc, marker), true
	}
	secretOnly, ok = true, true
	var walk func(n *yaml.Node, path []string, depth int)
	walk = func(n *yaml.Node, path []string, depth int) {
		if n == nil || depth > 64 || !ok {
			return
		}
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path, depth+1)
			}
		case yaml.AliasNode:
			walk(n.Alias, path, depth+1)
		case yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, append(path, "*"), depth+1)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				walk(k, append(path, "<key>"), depth+1)
				walk(n.Content[i+1], append(path, k.Value), depth+1)
			}
		case yaml.ScalarNode:
			v := expand(n.Value)
			if n.Tag == "!!binary" {
				if b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(n.Value), "")); err == nil {
					v += "\x00" + string(b)
				}
			}
			for _, dev := range []string{"dev/", "proc/", "sys/", "fd/"} {
				if strings.Contains(v, dev) {
					ok = false
				}
			}
			if strings.Contains(v, marker) && !onSecretPath(path, v) {
				secretOnly = false
			}
		}
	}
	walk(&root, nil, 0)
	return secretOnly, ok
}

func onSecretPath(path []string, v string) bool {
	for _, p := range secretPaths {
		if !matchKeys(p.keys, path) {
			continue
		}
		if p.url && strings.Contains(notify.RedactURL(v), marker) {
			return false // in the host: shown on purpose
		}
		return true
	}
	return false
}

func matchKeys(pattern, path []string) bool {
	if len(pattern) != len(path) {
		return false
	}
	for i, k := range pattern {
		if k != path[i] && (k != "?" || path[i] == "*" || path[i] == "<key>") {
			return false
		}
	}
	return true
}

// expand is v with ${VAR} references replaced as config does, keeping the
// reference too, so that a marker in either form counts.
func expand(v string) string {
	return v + "\x00" + envRef.ReplaceAllStringFunc(v, func(m string) string {
		sub := envRef.FindStringSubmatch(m)
		if x, ok := os.LookupEnv(sub[1]); ok {
			return x
		}
		return sub[3]
	})
}
