package server

import "time"

// Timeouts of the HTTP server, named in one place. A slow client cannot
// hold a connection open longer than these.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 120 * time.Second
	MaxHeaderBytes    = 64 << 10
	// IngestTimeout bounds decode + render + commit of one event.
	IngestTimeout = 15 * time.Second
	// RetryAfterSeconds is what a 503 asks senders to wait.
	RetryAfterSeconds = "5"
)
