package adapters

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters/console"
	"github.com/herald-ci/herald/adapters/slack"
	"github.com/herald-ci/herald/adapters/teams"
	"github.com/herald-ci/herald/adapters/webhook"
	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/templates"
)

// registry maps a destination type to its constructor. Adding a
// destination type is one line here.
var registry = map[string]Factory{
	config.TypeSlack: func(d config.Destination, x Deps) (Adapter, error) {
		return slack.New(d, x.Templates, x.Client, x.Logger)
	},
	config.TypeTeams: func(d config.Destination, x Deps) (Adapter, error) {
		return teams.New(d, x.Templates, x.Client, x.Logger)
	},
	config.TypeWebhook: func(d config.Destination, x Deps) (Adapter, error) {
		return webhook.New(d, x.Templates, x.Client, x.Logger)
	},
	config.TypeConsole: func(d config.Destination, x Deps) (Adapter, error) {
		return console.New(d, x.Templates, x.Client, x.Logger)
	},
}

// Interface guards: each implementation satisfies Adapter.
var (
	_ Adapter = (*slack.Adapter)(nil)
	_ Adapter = (*teams.Adapter)(nil)
	_ Adapter = (*webhook.Adapter)(nil)
	_ Adapter = (*console.Adapter)(nil)
)

// New builds the adapter for one destination.
func New(d config.Destination, deps Deps) (Adapter, error) {
	f, ok := registry[d.Type]
	if !ok {
		return nil, fmt.Errorf("destination %q: unknown type %q", d.Name, d.Type)
	}
	a, err := f(d, deps)
	if err != nil {
		return nil, fmt.Errorf("destination %q: %w", d.Name, err)
	}
	return a, nil
}

// Set holds the adapters of one configuration, by destination name.
type Set struct {
	byName    map[string]Adapter
	templates []*templates.Set // the user template sets, for OnFallback
}

// OnFallback installs f on every user template set of s: it is called each
// time a destination's template failed and the default was used instead.
func (s *Set) OnFallback(f func(error)) {
	for _, ts := range s.templates {
		ts.OnFallback(f)
	}
}

// NewSet loads every destination's templates (the global templates_dir,
// then the destination's own) and builds its adapter. Template sets are
// shared between destinations with the same directories, and carry the
// config's mentions for the mention helper.
func NewSet(c *config.Config, client *http.Client, log zerolog.Logger) (*Set, error) {
	s := &Set{byName: make(map[string]Adapter, len(c.Destinations))}
	sets := map[string]*templates.Set{}
	mentions := MentionTable(c.Mentions)
	for _, d := range c.Destinations {
		key := c.TemplatesDir + "\x00" + d.TemplatesDir
		ts, ok := sets[key]
		if !ok {
			var err error
			if ts, err = templates.Load(c.TemplatesDir, d.TemplatesDir); err != nil {
				return nil, fmt.Errorf("destination %q: %w", d.Name, err)
			}
			if mentions != nil {
				ts = ts.WithMentions(mentions)
			}
			sets[key] = ts
			if ts.Fallback() != nil {
				s.templates = append(s.templates, ts)
			}
		}
		a, err := New(d, Deps{Templates: ts, Client: client, Logger: log.With().Str("destination", d.Name).Logger()})
		if err != nil {
			return nil, err
		}
		s.byName[d.Name] = a
	}
	return s, nil
}

// MentionTable is the config's mentions section as the templates' mention
// helper reads it, or nil when the section is empty. `herald render` can
// give it to ForRender's set with templates.Set.WithMentions.
func MentionTable(ms []config.Mention) *templates.Mentions {
	if len(ms) == 0 {
		return nil
	}
	people := make([]templates.Person, 0, len(ms))
	for _, m := range ms {
		p := templates.Person{Match: m.Match, Slack: m.Slack}
		if m.Teams != nil {
			p.TeamsID, p.TeamsName = m.Teams.ID, m.Teams.Name
		}
		people = append(people, p)
	}
	return templates.NewMentions(people)
}

// Get returns the adapter of the named destination.
func (s *Set) Get(name string) (Adapter, bool) {
	a, ok := s.byName[name]
	return a, ok
}

// ForRender builds an adapter for `herald render`: no URL, the given
// adapter name (slack, teams, teams-messagecard, teams-adaptive-card,
// webhook, console) and template directories.
func ForRender(name string, ts *templates.Set, log zerolog.Logger) (Adapter, error) {
	d := config.Destination{Name: "render", Type: name}
	if f, ok := strings.CutPrefix(name, "teams-"); ok {
		d.Type, d.Format = config.TypeTeams, f
	} else if name == config.TypeTeams {
		d.Format = config.FormatWorkflows
	}
	if _, ok := registry[d.Type]; !ok {
		return nil, fmt.Errorf("unknown adapter %q (valid: slack, teams, teams-messagecard, teams-adaptive-card, webhook, console)", name)
	}
	return New(d, Deps{Templates: ts, Client: nil, Logger: log})
}
