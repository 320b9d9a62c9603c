// Package sources defines how a sender's raw payload becomes an event.Event,
// and names the decoders herald serves.
//
// Each sub-package (teamcity, appcenter, generic) holds one pure Decoder:
// bytes in, event out, no I/O, no clock, no logging. The HTTP server picks
// the decoder by the path segment of POST /v1/events/{source} through the
// explicit registry in registry.go.
package sources

import "github.com/herald-ci/herald/internal/event"

// Decoder turns one request body into an event.
//
// Decode returns an *event.InputError when the body is not the source's
// shape (the server answers 400 and stores nothing), and an error wrapping
// event.ErrIgnored when the body is well formed but describes an event herald
// does not handle (the server answers 202 "ignored"). The returned event's
// Raw holds the body unchanged and its Source is the decoder's name.
type Decoder interface {
	Decode(body []byte) (*event.Event, error)
}
