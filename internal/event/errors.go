package event

import (
	"errors"
	"fmt"
)

// The decode contract shared by every source decoder and the server.

// ErrIgnored marks a well-formed event of a type herald does not handle,
// such as a future TeamCity eventType. The server answers it 202 "ignored"
// so that senders don't log failures, and stores nothing.
var ErrIgnored = errors.New("event type not handled")

// Ignored returns an error wrapping ErrIgnored that names the sender's type.
func Ignored(eventType string) error {
	return fmt.Errorf("%w: %q", ErrIgnored, eventType)
}

// InputError says why a body was rejected (the server answers 400). Its
// message is short, one line, and never echoes the input: at most a field name.
type InputError struct {
	Reason string
}

func (e *InputError) Error() string { return e.Reason }

// Invalid returns an *InputError with a formatted reason.
func Invalid(format string, args ...any) error {
	return &InputError{Reason: fmt.Sprintf(format, args...)}
}
