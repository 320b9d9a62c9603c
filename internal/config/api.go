package config

// API configures the HTTP API beyond ingest: the tokens of the admin and
// deliveries endpoints.
type API struct{}

func (c *Config) setAPIDefaults() {}

// readAPIFiles reads the API's *_file secrets.
func (c *Config) readAPIFiles() []error { return nil }

// validateAPI lists the problems of the api section.
func (c *Config) validateAPI() []error { return nil }
