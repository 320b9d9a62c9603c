package config

// Source is the inbound configuration of one source (teamcity, appcenter,
// generic): how its requests authenticate and how large they may be.
type Source struct {
	// Insecure accepts the source's requests without authentication even
	// when herald listens beyond loopback (logged at every start).
	Insecure bool `yaml:"insecure,omitempty"`
}

func (c *Config) setSourceDefaults() {}

// readSourceFiles reads the sources' *_file secrets.
func (c *Config) readSourceFiles() []error { return nil }

// validateSources lists the problems of the sources section.
func (c *Config) validateSources() []error { return nil }
