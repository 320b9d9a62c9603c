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
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/herald-ci/herald/internal/fields"
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
	DefaultMaxAge       = 24 * time.Hour
	DefaultRetention    = 24 * time.Hour // River's own default for completed jobs
)

// Delivery defaults per destination type: the one place they are written.
// Each applies to a destination that leaves the key out (or sets it to 0).
//
//   - slack: about 1 message per second per webhook, short bursts tolerated
//     (Slack's incoming-webhook rate limits); 1 in flight, so messages reach
//     the channel in the order they were accepted.
//   - teams: 4 requests per second and 60 per 30 seconds per webhook (the
//     Office 365 connector's published limits, which Workflows webhooks share
//     in practice). Burst 1: a bucket of 4 at 4/s would allow 7 in one second.
//     2 in flight, since Workflows can take seconds to answer; starts are paced
//     a quarter second apart, so they still arrive in order.
//   - webhook: no rate limit (an endpoint we know nothing about), 2 in flight.
//   - console: no rate limit, 1 in flight.
var typeDefaults = map[string]Destination{
	TypeSlack:   {RateLimit: &RateLimit{PerSecond: 1, Burst: 3}, MaxInFlight: 1},
	TypeTeams:   {RateLimit: &RateLimit{PerSecond: 4, Burst: 1, Window: &Window{Limit: 60, Period: 30 * time.Second}}, MaxInFlight: 2},
	TypeWebhook: {MaxInFlight: 2},
	TypeConsole: {MaxInFlight: 1},
}

// Circuit breaker defaults (every type).
const (
	DefaultBreakerFailures   = 5
	DefaultBreakerOpenFor    = 30 * time.Second
	DefaultBreakerMaxOpenFor = 10 * time.Minute
)

// Config is the whole file.
type Config struct {
	Listen       string            `yaml:"listen"`
	Store        Store             `yaml:"store"`
	TemplatesDir string            `yaml:"templates_dir,omitempty"`
	Sources      map[string]Source `yaml:"sources,omitempty"` // inbound authentication and limits per source (sources.go)
	API          API               `yaml:"api"`               // tokens for the admin and deliveries API (api.go)
	Egress       Egress            `yaml:"egress"`            // where herald may send (egress.go)
	Limits       Limits            `yaml:"limits"`
	Delivery     Delivery          `yaml:"delivery"`
	Projects     []Project         `yaml:"projects,omitempty"` // project hierarchy with inherited rules (rules.go)
	Mentions     []Mention         `yaml:"mentions,omitempty"` // commit authors' chat accounts, for mentions (mentions.go)
	Destinations []Destination     `yaml:"destinations"`

	// dir is the directory relative paths in the file are resolved against.
	dir string
}

// Store selects the database.
type Store struct {
	Driver string `yaml:"driver"` // sqlite (default) or postgres
	DSN    Secret `yaml:"dsn"`    // a file path for sqlite; may hold a password for postgres
}

// Limits bound inbound requests.
type Limits struct {
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxQueueDepth, when positive, makes ingest answer 503 (and readiness
	// fail) while more deliveries than this wait to be sent. 0: no limit.
	MaxQueueDepth int64 `yaml:"max_queue_depth"`
	// MaxConcurrentRequests bounds the ingest requests served at once; more
	// get 503 with Retry-After (default and validation in sources.go).
	MaxConcurrentRequests int `yaml:"max_concurrent_requests"`
}

// Delivery tunes the delivery workers.
type Delivery struct {
	Timeout     time.Duration `yaml:"timeout"`      // one attempt
	MaxAttempts int           `yaml:"max_attempts"` // 0 = the delivery package's default (about 24 h of retries)
	// Retention is how long delivered deliveries and old events are kept
	// before they are pruned (failed and dead ones are kept a week).
	Retention time.Duration `yaml:"retention"`
	// FirstAttemptFromMemory makes each delivery's first attempt from
	// memory, right after its event commits, instead of through the
	// queue's polling (internal/store/lease.go). Experimental, off by
	// default: much faster to fast destinations, but a slow destination
	// with a backlog can fall behind (bench/README.md). Read at start only.
	FirstAttemptFromMemory bool `yaml:"first_attempt_from_memory"`
}

// Destination is one chat channel or webhook.
type Destination struct {
	Name         string    `yaml:"name"`
	Type         string    `yaml:"type"`
	URL          SecretURL `yaml:"url,omitempty"`
	URLFile      string    `yaml:"url_file,omitempty"`
	Events       Events    `yaml:"events,omitempty"` // herald or TeamCity names (rules.go)
	Format       string    `yaml:"format,omitempty"` // teams only
	TemplatesDir string    `yaml:"templates_dir,omitempty"`

	// Fields projects the webhook type's forwarded payload, per TeamCity
	// event type: {BUILD_INTERRUPTED: "fields=buildTypeId,number"}.
	Fields map[string]string `yaml:"fields,omitempty"`
	// BasicAuth authenticates the webhook type's outgoing requests.
	BasicAuth *BasicAuth `yaml:"basic_auth,omitempty"`

	// Rules: build-outcome policies, branch filters, field projection
	// (rules.go).
	Rules `yaml:",inline"`

	// How this destination is delivered to. Unset keys take the type's
	// default (typeDefaults) or the delivery section's.

	// RateLimit applies per webhook URL: destinations sharing a URL share it.
	RateLimit *RateLimit `yaml:"rate_limit,omitempty"`
	// MaxInFlight bounds the attempts sent to this URL at once.
	MaxInFlight int `yaml:"max_in_flight,omitempty"`
	// MaxAttempts bounds the attempts of one message (0: delivery.max_attempts).
	MaxAttempts int `yaml:"max_attempts,omitempty"`
	// RetryCount is TeamCity's way of saying it: retries after the first
	// attempt, so retry_count: N means max_attempts: N+1. Not with max_attempts.
	RetryCount *int `yaml:"retry_count,omitempty"`
	// MaxAge gives up on a message this long after its event was accepted.
	MaxAge time.Duration `yaml:"max_age,omitempty"`
	// Timeout bounds one attempt (default delivery.timeout).
	Timeout time.Duration `yaml:"timeout,omitempty"`
	// CircuitBreaker pauses the URL after consecutive retryable failures.
	CircuitBreaker *CircuitBreaker `yaml:"circuit_breaker,omitempty"`

	// Set at run time by the admin API (runtime.go), never in the file.

	// Disabled keeps the destination (its queued deliveries still go out)
	// but routes no new event to it.
	Disabled bool `yaml:"-"`
	// Origin is OriginAPI for a destination created through the admin
	// API; empty for the file's own.
	Origin string `yaml:"-"`
}

// BasicAuth is a username and a password (or a file holding it).
type BasicAuth struct {
	Username     string `yaml:"username"`
	Password     Secret `yaml:"password,omitempty"`
	PasswordFile string `yaml:"password_file,omitempty"`
}

// readFile resolves PasswordFile (relative to the config's directory) into
// Password.
func (b *BasicAuth) readFile(c *Config) error {
	if b == nil || b.PasswordFile == "" {
		return nil
	}
	if b.Password != "" {
		return errors.New("basic_auth: password and password_file are both set")
	}
	v, err := readSecretFile(c.path(b.PasswordFile))
	if err != nil {
		return fmt.Errorf("basic_auth.password_file: %w", err)
	}
	b.Password = Secret(v)
	return nil
}

// maxSecretFileBytes bounds a *_file secret. Secrets are short; the bound
// keeps a wrong path (/dev/zero, a log file) from hanging the load or
// filling memory.
const maxSecretFileBytes = 64 << 10

// readSecretFile reads a *_file secret: the file's content without the
// trailing newline editors add. It reads at most maxSecretFileBytes+1
// bytes; a larger file is an error that never quotes the content (the
// caller names the key).
func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFileBytes+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxSecretFileBytes {
		return "", fmt.Errorf("larger than %d KiB", maxSecretFileBytes>>10)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// RateLimit is a token bucket (per_second, burst) and optionally a sliding
// window (at most window.limit sends in any window.period). A send waits for
// both. Zero fields take the type's default.
type RateLimit struct {
	PerSecond float64 `yaml:"per_second,omitempty"`
	Burst     int     `yaml:"burst,omitempty"`
	Window    *Window `yaml:"window,omitempty"`
}

// Window is at most Limit sends in any Period.
type Window struct {
	Limit  int           `yaml:"limit,omitempty"`
	Period time.Duration `yaml:"period,omitempty"`
}

// CircuitBreaker opens after Failures consecutive retryable failures: no
// attempt for OpenFor, then one probe; a failed probe doubles the pause, up
// to MaxOpenFor.
type CircuitBreaker struct {
	Failures   int           `yaml:"failures,omitempty"`
	OpenFor    time.Duration `yaml:"open_for,omitempty"`
	MaxOpenFor time.Duration `yaml:"max_open_for,omitempty"`
}

// Attempts is the destination's attempt limit: max_attempts, or
// retry_count + 1, or 0 when neither is set (delivery.max_attempts applies).
func (d Destination) Attempts() int {
	if d.RetryCount != nil {
		return *d.RetryCount + 1
	}
	return d.MaxAttempts
}

// setDefaults fills the delivery keys the destination leaves unset.
func (d *Destination) setDefaults(g Delivery) {
	def := typeDefaults[d.Type]
	if def.RateLimit != nil {
		rl := RateLimit{}
		if d.RateLimit != nil {
			rl = *d.RateLimit
		}
		if rl.PerSecond == 0 {
			rl.PerSecond = def.RateLimit.PerSecond
		}
		if rl.Burst == 0 {
			rl.Burst = def.RateLimit.Burst
		}
		if dw := def.RateLimit.Window; dw != nil {
			w := Window{}
			if rl.Window != nil {
				w = *rl.Window
			}
			if w.Limit == 0 {
				w.Limit = dw.Limit
			}
			if w.Period == 0 {
				w.Period = dw.Period
			}
			rl.Window = &w
		}
		d.RateLimit = &rl
	}
	if d.RateLimit != nil && d.RateLimit.PerSecond > 0 && d.RateLimit.Burst == 0 {
		d.RateLimit.Burst = 1
	}
	if d.MaxInFlight == 0 {
		d.MaxInFlight = max(def.MaxInFlight, 1)
	}
	if d.MaxAge == 0 {
		d.MaxAge = DefaultMaxAge
	}
	if d.Timeout == 0 {
		d.Timeout = g.Timeout
	}
	cb := CircuitBreaker{}
	if d.CircuitBreaker != nil {
		cb = *d.CircuitBreaker
	}
	if cb.Failures == 0 {
		cb.Failures = DefaultBreakerFailures
	}
	if cb.OpenFor == 0 {
		cb.OpenFor = DefaultBreakerOpenFor
	}
	if cb.MaxOpenFor == 0 {
		cb.MaxOpenFor = max(DefaultBreakerMaxOpenFor, cb.OpenFor)
	}
	d.CircuitBreaker = &cb
}

// validateDelivery lists the problems of the destination's delivery keys,
// after defaults.
func (d Destination) validateDelivery() []string {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if d.RetryCount != nil && d.MaxAttempts != 0 {
		add("retry_count and max_attempts are both set; retry_count: N means max_attempts: N+1")
	}
	if d.RetryCount != nil && *d.RetryCount < 0 {
		add("retry_count: must not be negative")
	}
	if d.MaxAttempts < 0 {
		add("max_attempts: must be positive")
	}
	if rl := d.RateLimit; rl != nil {
		if rl.PerSecond < 0 {
			add("rate_limit.per_second: must be positive")
		}
		if rl.Burst < 0 {
			add("rate_limit.burst: must be positive")
		}
		if rl.Burst > 0 && rl.PerSecond == 0 {
			add("rate_limit.burst: needs rate_limit.per_second")
		}
		if w := rl.Window; w != nil {
			if w.Limit < 1 {
				add("rate_limit.window.limit: must be at least 1")
			}
			if w.Period <= 0 {
				add("rate_limit.window.period: must be positive")
			}
		}
	}
	if d.MaxInFlight < 0 {
		add("max_in_flight: must be positive")
	}
	if d.MaxAge < 0 {
		add("max_age: must be positive")
	}
	if d.Timeout < 0 {
		add("timeout: must be positive")
	}
	if cb := d.CircuitBreaker; cb != nil {
		if cb.Failures < 0 {
			add("circuit_breaker.failures: must be positive")
		}
		if cb.OpenFor < 0 {
			add("circuit_breaker.open_for: must be positive")
		}
		if cb.MaxOpenFor < cb.OpenFor {
			add("circuit_breaker.max_open_for: must be at least open_for")
		}
	}
	return errs
}

// LongestTimeout is the longest attempt timeout of any destination, for
// the HTTP client and the queue's job timeout, which must not cut an
// attempt short.
func (c *Config) LongestTimeout() time.Duration {
	t := c.Delivery.Timeout
	for _, d := range c.Destinations {
		t = max(t, d.Timeout)
	}
	return t
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
		return nil, redactYAML(err)
	}
	if err := checkTags(&root); err != nil {
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
				return nil, redactYAML(err)
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
			return nil, redactYAML(err)
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
	if c.Delivery.Retention == 0 {
		c.Delivery.Retention = DefaultRetention
	}
	c.TemplatesDir = c.path(c.TemplatesDir)
	c.setSourceDefaults()
	c.setAPIDefaults()
	for i := range c.Destinations {
		d := &c.Destinations[i]
		d.TemplatesDir = c.path(d.TemplatesDir)
		d.URLFile = c.path(d.URLFile)
		d.setDefaults(c.Delivery)
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
	errs := c.readSourceFiles()
	errs = append(errs, c.readAPIFiles()...)
	for i := range c.Destinations {
		d := &c.Destinations[i]
		if err := d.BasicAuth.readFile(c); err != nil {
			errs = append(errs, fmt.Errorf("destination %q: %w", d.Name, err))
		}
		if d.URLFile == "" {
			continue
		}
		if d.URL != "" {
			errs = append(errs, fmt.Errorf("destination %q: url and url_file are both set", d.Name))
			continue
		}
		v, err := readSecretFile(d.URLFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("destination %q: url_file: %w", d.Name, err))
			continue
		}
		d.URL = SecretURL(strings.TrimSpace(v))
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
	if c.Limits.MaxQueueDepth < 0 {
		add("limits.max_queue_depth: must be positive, or 0 for no limit")
	}
	if c.Delivery.Timeout < 0 {
		add("delivery.timeout: must be positive")
	}
	if c.Delivery.MaxAttempts < 0 {
		add("delivery.max_attempts: must be positive")
	}
	if c.Delivery.Retention < 0 {
		add("delivery.retention: must be positive")
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
			if err := c.CheckDestinationURL(d.Type, d.URL.Value()); err != nil {
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
		if len(d.Fields) > 0 && d.Type != TypeWebhook {
			add("%s: fields applies to webhook destinations only", where)
		}
		if _, err := fields.ParseAll(d.Fields); err != nil {
			add("%s: %w", where, err)
		}
		if d.BasicAuth != nil {
			if d.Type != TypeWebhook {
				add("%s: basic_auth applies to webhook destinations only", where)
			} else if d.BasicAuth.Username == "" {
				add("%s: basic_auth.username is required", where)
			}
		}
		for _, e := range d.validateDelivery() {
			add("%s: %s", where, e)
		}
	}
	errs = append(errs, c.checkSharedURLs()...)
	errs = append(errs, c.validateSources()...)
	errs = append(errs, c.validateAPI()...)
	errs = append(errs, c.validateEgress()...)
	errs = append(errs, c.validateRules()...)
	errs = append(errs, c.validateMentions()...)
	return errors.Join(errs...)
}

// checkSharedURLs requires destinations posting to the same URL to agree
// on its rate limit, concurrency and breaker: those belong to the URL (one
// webhook, one platform budget), not to the destination. The error names
// the destinations, never the URL.
func (c *Config) checkSharedURLs() []error {
	var errs []error
	first := map[string]Destination{}
	for _, d := range c.Destinations {
		u := d.URL.Value()
		if u == "" {
			continue
		}
		f, ok := first[u]
		if !ok {
			first[u] = d
			continue
		}
		if !reflect.DeepEqual(f.RateLimit, d.RateLimit) || f.MaxInFlight != d.MaxInFlight || !reflect.DeepEqual(f.CircuitBreaker, d.CircuitBreaker) {
			errs = append(errs, fmt.Errorf("destination %q: shares its url with %q but sets a different rate_limit, max_in_flight or circuit_breaker", d.Name, f.Name))
		}
	}
	return errs
}

// CheckEventName accepts one entry of an events list: a herald name
// ("<kind>", "<kind>.*", "<kind>.<status>", "build.<transition>", "*") or a
// TeamCity name, or several separated by ';' (ExpandEvents, rules.go).
func CheckEventName(name string) error {
	_, err := ExpandEvents([]string{name})
	return err
}

// checkTags refuses YAML tags other than the standard ones (!!str,
// !!int...): herald needs none, and yaml.v3 quotes a tag it cannot apply
// in its error, where a secret written after "!" would show. The error
// names the line only.
func checkTags(n *yaml.Node) error {
	if n.Style&yaml.TaggedStyle != 0 && !standardTags[n.Tag] {
		return fmt.Errorf("line %d: custom YAML tags are not supported", n.Line)
	}
	for _, c := range n.Content {
		if err := checkTags(c); err != nil {
			return err
		}
	}
	return nil
}

// standardTags are the tags YAML's core schema defines, as yaml.v3 names
// them, and "!", the non-specific tag.
var standardTags = map[string]bool{
	"!": true, "!!str": true, "!!int": true, "!!bool": true, "!!float": true, "!!null": true,
	"!!map": true, "!!seq": true, "!!timestamp": true, "!!binary": true, "!!merge": true,
}

// redactYAML drops the values yaml.v3 quotes in its messages: one may be a
// secret (a webhook URL given a wrong type). The line and the types stay.
func redactYAML(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, e := range te.Errors {
			msgs[i] = redactQuoted(e)
		}
		return errors.New("yaml: unmarshal errors:\n  " + strings.Join(msgs, "\n  "))
	}
	return errors.New(redactQuoted(err.Error()))
}

// redactQuoted replaces the value yaml.v3 quotes in one message ("cannot
// unmarshal !!str `https://hooks…` into int") with "the value": everything
// from the first backquote to the last, since the value may hold
// backquotes itself; an unclosed one drops the rest.
func redactQuoted(msg string) string {
	i, j := strings.IndexByte(msg, '`'), strings.LastIndexByte(msg, '`')
	switch {
	case i < 0:
		return msg
	case i == j:
		return msg[:i] + "the value"
	}
	return msg[:i] + "the value" + msg[j+1:]
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
