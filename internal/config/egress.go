package config

// Egress controls where herald may send.
type Egress struct {
	// AllowPrivate permits destinations on loopback and private addresses:
	// local test sinks and on-premise chat servers. Off by default.
	AllowPrivate bool `yaml:"allow_private"`
}

// validateEgress lists the problems of the egress section.
func (c *Config) validateEgress() []error { return nil }
