package config

// Rules decide which events a destination (or a project) gets beyond its
// event subscription: build-outcome policies, branch filters, and the
// webhook's field projection. Inlined into Destination.
type Rules struct{}

// Project is one node of the project hierarchy (a TeamCity project id or
// an App Center app); its settings apply to its children unless they set
// their own.
type Project struct {
	ID     string `yaml:"id"`
	Parent string `yaml:"parent,omitempty"`
}

// validateRules lists the problems of the rules and the project hierarchy.
func (c *Config) validateRules() []error { return nil }
