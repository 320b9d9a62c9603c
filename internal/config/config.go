// Package config loads herald's one YAML file: parsing with unknown keys as
// errors (reported with line numbers), ${VAR} expansion from the environment,
// secrets read from *_file twins, defaults set in one place, and validation
// that lists every problem at once.
//
// It does no network I/O. Secret values are types that print as <secret>.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/herald-ci/herald/internal/event"
)

// Destination types.
const (
	TypeSlack   = "slack"
	TypeTeams   = "teams"
	TypeWebhook = "webhook"
	TypeConsole = "console"
)

// Teams formats: the Workflows envelope, the legacy connector's MessageCard,
// and the bare Adaptive Card some custom flows want.
const (
	FormatWorkflows    = "workflows"
	FormatMessageCard  = "messagecard"
	FormatAdaptiveCard = "adaptive-card"
)

// Defaults.
const (
	DefaultListen       = "127.0.0.1:8080"
	DefaultStoreDriver  = "sqlite"
	DefaultSQLiteDSN    = "herald.db"
	DefaultMaxBodyBytes = 1 << 20
	DefaultTimeout      = 10 * time.Second
)

// Config is the whole file.
type Config struct {
	Listen       string        `yaml:"listen"`
	Store        Store         `yaml:"store"`
	TemplatesDir string        `yaml:"templates_dir,omitempty"`
	Egress       Egress        `yaml:"egress"`
	Limits       Limits        `yaml:"limits"`
	Delivery     Delivery      `yaml:"delivery"`
	Destinations []Destination `yaml:"destinations"`

	// dir is the directory relative paths in the file are resolved against.
	dir string
}

// Store selects the database.
type Store struct {
	Driver string `yaml:"driver"` // sqlite (default) or postgres
	DSN    Secret `yaml:"dsn"`    // a file path for sqlite; may hold a password for postgres
}

// Egress controls where herald may send.
type Egress struct {
	// AllowPrivate permits destinations on loopback and private addresses:
	// local test sinks and on-premise chat servers. Off by default.
	AllowPrivate bool `yaml:"allow_private"`
}

// Limits bound inbound requests.
type Limits struct {
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
}

// Delivery tunes the delivery workers.
type Delivery struct {
	Timeout     time.Duration `yaml:"timeout"`      // one attempt
	MaxAttempts int           `yaml:"max_attempts"` // 0 = the delivery package's default (about 24 h of retries)
}

// Destination is one chat channel or webhook.
type Destination struct {
	Name         string    `yaml:"name"`
	Type         string    `yaml:"type"`
	URL          SecretURL `yaml:"url,omitempty"`
	URLFile      string    `yaml:"url_file,omitempty"`
	Events       []string  `yaml:"events,omitempty"`
	Format       string    `yaml:"format,omitempty"` // teams only
	TemplatesDir string    `yaml:"templates_dir,omitempty"`
}

// Load reads, expands, defaults and validates the file at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config path: %w", err)
	}
	c, err := Parse(b, filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse reads a config from b; relative paths resolve against dir.
func Parse(b []byte, dir string) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, err
	}
	if err := expandEnv(&root); err != nil {
		return nil, err
	}
	c := &Config{dir: dir}
	if len(root.Content) > 0 {
		// Unknown keys are errors; find them on the text as written so
		// their line numbers are the user's. Type errors are left to the
		// decode of the expanded tree, where "${PORT}" has become a number.
		var probe Config
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&probe); err != nil {
			var te *yaml.TypeError
			if !errors.As(err, &te) {
				return nil, err
			}
			var unknown []string
			for _, e := range te.Errors {
				if strings.Contains(e, "not found in type") {
					unknown = append(unknown, strings.Replace(e, "not found in type config.", "is not a known key of ", 1))
				}
			}
			if len(unknown) > 0 {
				return nil, errors.New(strings.Join(unknown, "; "))
			}
		}
		if err := root.Decode(c); err != nil {
			return nil, err
		}
	}
	c.setDefaults()
	if err := c.readFiles(); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Default is the configuration herald runs on without a file: loopback
// listener, herald.db in the working directory, a Slack and/or Teams
// destination from SLACK_WEBHOOK_URL / TEAMS_WEBHOOK_URL, and otherwise a
// console destination that logs every rendered message.
func Default(getenv func(string) string) (*Config, error) {
	c := &Config{dir: "."}
	if u := getenv("SLACK_WEBHOOK_URL"); u != "" {
		c.Destinations = append(c.Destinations, Destination{Name: "slack", Type: TypeSlack, URL: SecretURL(u)})
	}
	if u := getenv("TEAMS_WEBHOOK_URL"); u != "" {
		c.Destinations = append(c.Destinations, Destination{Name: "teams", Type: TypeTeams, URL: SecretURL(u)})
	}
	if len(c.Destinations) == 0 {
		c.Destinations = []Destination{{Name: "console", Type: TypeConsole}}
	}
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) setDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Store.Driver == "" {
		c.Store.Driver = DefaultStoreDriver
	}
	if c.Store.Driver == "sqlite" && c.Store.DSN == "" {
		c.Store.DSN = DefaultSQLiteDSN
	}
	if c.Limits.MaxBodyBytes == 0 {
		c.Limits.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Delivery.Timeout == 0 {
		c.Delivery.Timeout = DefaultTimeout
	}
	c.TemplatesDir = c.path(c.TemplatesDir)
	for i := range c.Destinations {
		d := &c.Destinations[i]
		d.TemplatesDir = c.path(d.TemplatesDir)
		d.URLFile = c.path(d.URLFile)
	}
}

// path resolves a relative path against the config file's directory.
func (c *Config) path(p string) string {
	if p == "" || filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}

func (c *Config) readFiles() error {
	var errs []error
	for i := range c.Destinations {
		d := &c.Destinations[i]
		if d.URLFile == "" {
			continue
		}
		if d.URL != "" {
			errs = append(errs, fmt.Errorf("destination %q: url and url_file are both set", d.Name))
			continue
		}
		b, err := os.ReadFile(d.URLFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("destination %q: url_file: %w", d.Name, err))
			continue
		}
		d.URL = SecretURL(strings.TrimSpace(string(b)))
	}
	return errors.Join(errs...)
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$`)

// Validate lists every problem in the config, joined.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		add("listen: %q is not host:port", c.Listen)
	}
	switch c.Store.Driver {
	case "sqlite", "postgres":
	default:
		add("store.driver: %q is not one of sqlite, postgres", c.Store.Driver)
	}
	if c.Store.DSN == "" {
		add("store.dsn: required for driver %s", c.Store.Driver)
	}
	if c.Limits.MaxBodyBytes < 0 {
		add("limits.max_body_bytes: must be positive")
	}
	if c.Delivery.Timeout < 0 {
		add("delivery.timeout: must be positive")
	}
	if c.Delivery.MaxAttempts < 0 {
		add("delivery.max_attempts: must be positive")
	}
	if len(c.Destinations) == 0 {
		add("destinations: at least one is required")
	}
	seen := map[string]bool{}
	for i, d := range c.Destinations {
		where := fmt.Sprintf("destinations[%d]", i)
		if d.Name != "" {
			where = fmt.Sprintf("destination %q", d.Name)
		}
		switch {
		case d.Name == "":
			add("%s: name is required", where)
		case !nameRE.MatchString(d.Name):
			add("%s: name may hold letters, digits, '_', '.', '-' (at most 64)", where)
		case seen[d.Name]:
			add("%s: name is used twice", where)
		}
		seen[d.Name] = true
		switch d.Type {
		case TypeSlack, TypeTeams, TypeWebhook:
			if err := c.checkURL(d.URL.Value()); err != nil {
				add("%s: url: %w", where, err)
			}
		case TypeConsole:
			if d.URL != "" {
				add("%s: a console destination takes no url", where)
			}
		case "":
			add("%s: type is required (slack, teams, webhook, console)", where)
		default:
			add("%s: type %q is not one of slack, teams, webhook, console", where, d.Type)
		}
		if d.Format != "" {
			if d.Type != TypeTeams {
				add("%s: format applies to teams destinations only", where)
			} else if !slices.Contains([]string{FormatWorkflows, FormatMessageCard, FormatAdaptiveCard}, d.Format) {
				add("%s: format %q is not one of workflows, messagecard, adaptive-card", where, d.Format)
			}
		}
		for _, e := range d.Events {
			if err := CheckEventName(e); err != nil {
				add("%s: events: %w", where, err)
			}
		}
	}
	return errors.Join(errs...)
}

// checkURL accepts http(s) URLs with a host; loopback and private
// addresses only when egress.allow_private is set. The guard on the
// address actually dialled belongs to the delivery client.
func (c *Config) checkURL(raw string) error {
	if raw == "" {
		return errors.New("required")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return errors.New("must be an absolute http or https URL")
	}
	if !c.Egress.AllowPrivate && IsPrivateHost(u.Hostname()) {
		return fmt.Errorf("%s is a loopback or private address; set egress.allow_private: true to allow it", u.Hostname())
	}
	return nil
}

// IsPrivateHost reports whether host names this machine or a private,
// link-local or unspecified address.
func IsPrivateHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	if ip == nil {
		return false
	}
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified()
}

// CheckEventName accepts "<kind>", "<kind>.*" and "<kind>.<status>" for the
// kinds and statuses in event.Statuses, and "*".
func CheckEventName(name string) error {
	if name == "*" {
		return nil
	}
	kind, status, _ := strings.Cut(name, ".")
	statuses, ok := event.Statuses[event.Kind(kind)]
	if !ok {
		kinds := make([]string, 0, len(event.Statuses))
		for k := range event.Statuses {
			kinds = append(kinds, string(k))
		}
		slices.Sort(kinds)
		return fmt.Errorf("%q: unknown kind %q (valid: %s)", name, kind, strings.Join(kinds, ", "))
	}
	if status == "" || status == "*" || slices.Contains(statuses, event.Status(status)) {
		return nil
	}
	valid := make([]string, len(statuses))
	for i, s := range statuses {
		valid[i] = kind + "." + string(s)
	}
	return fmt.Errorf("%q: unknown status (valid: %s)", name, strings.Join(valid, ", "))
}

// envRE matches ${VAR} and ${VAR:-default}.
var envRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expandEnv replaces ${VAR} in every scalar value (never in keys, and never
// in the YAML text itself, so a variable cannot inject structure). An unset
// variable without a default is an error naming it and its line.
func expandEnv(n *yaml.Node) error {
	var errs []error
	var walk func(n *yaml.Node, isKey bool)
	walk = func(n *yaml.Node, isKey bool) {
		switch n.Kind {
		case yaml.ScalarNode:
			if isKey || !strings.Contains(n.Value, "${") {
				return
			}
			n.Value = envRE.ReplaceAllStringFunc(n.Value, func(m string) string {
				sub := envRE.FindStringSubmatch(m)
				if v, ok := os.LookupEnv(sub[1]); ok {
					return v
				}
				if sub[2] != "" {
					return sub[3]
				}
				errs = append(errs, fmt.Errorf("line %d: environment variable %s is not set", n.Line, sub[1]))
				return ""
			})
			// An expanded value is always a string, even "true" or "8080".
			if n.Tag == "" || n.Tag == "!!str" || n.Style != 0 {
				return
			}
			n.Tag = ""
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i], true)
				walk(n.Content[i+1], false)
			}
		default:
			for _, c := range n.Content {
				walk(c, false)
			}
		}
	}
	walk(n, false)
	return errors.Join(errs...)
}
