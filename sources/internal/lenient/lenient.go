// Package lenient holds what the decoders of formats herald does not own
// (teamcity, appcenter) share to read a webhook body leniently: Object,
// which takes the body as one JSON object, and the scalar types Text,
// Int64, Int32 and Flag, which a payload struct uses for its fields.
//
// A scalar is taken as it comes: a number where a string was expected, or
// the reverse, is read rather than refused, so that a changed type in a
// field herald barely uses does not cost a notification. An object or
// array where a scalar belongs is a wrong shape, a *json.UnmarshalTypeError,
// and rejects the body.
//
// Like the decoders, the package is pure functions of the bytes: no I/O,
// no clock, no logging.
package lenient

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/herald-ci/herald/internal/event"
)

var bom = []byte("\xef\xbb\xbf")

// Object reads a webhook body as one JSON object and returns its members.
// A leading UTF-8 byte order mark, which is not JSON but which some
// senders and proxies add, is dropped: the body is returned without it, so
// that an event's Raw stays valid JSON. An empty body, one that is not
// JSON, and JSON that is not an object (null included) are each an
// *event.InputError.
func Object(body []byte) ([]byte, map[string]json.RawMessage, error) {
	body = bytes.TrimPrefix(body, bom)
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil, event.Invalid("empty body")
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, nil, event.Invalid("body is not valid JSON")
		}
		return nil, nil, event.Invalid("body is not a JSON object")
	}
	if members == nil { // the body was null
		return nil, nil, event.Invalid("body is not a JSON object")
	}
	return body, members, nil
}

// Text is a JSON scalar read as a string: a string as is, a number or a
// boolean in its JSON spelling, null as "".
type Text string

func (t *Text) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	s, _, err := scalar(b, reflect.TypeFor[string]())
	if err != nil {
		return err
	}
	*t = Text(s)
	return nil
}

// Int64 is a JSON scalar read as an integer: a number (truncated toward
// zero, clamped to the int64 range), a string holding one, anything else 0.
type Int64 int64

func (n *Int64) UnmarshalJSON(b []byte) error {
	return unmarshalInt(n, b, math.MinInt64, math.MaxInt64)
}

// Int32 is read as Int64 is, but clamped to the int32 range: a count kept
// within 32 bits is safe to convert to int everywhere, and arithmetic on it
// cannot overflow.
type Int32 int32

func (n *Int32) UnmarshalJSON(b []byte) error {
	return unmarshalInt(n, b, math.MinInt32, math.MaxInt32)
}

func unmarshalInt[T Int64 | Int32](n *T, b []byte, lo, hi int64) error {
	if len(b) == 0 {
		return nil
	}
	s, quoted, err := scalar(b, reflect.TypeFor[int64]())
	if err != nil {
		return err
	}
	if quoted {
		s = strings.TrimSpace(s)
	}
	*n = T(parseInt(s, lo, hi))
	return nil
}

// parseInt reads s as an integer within lo..hi; see Int64.
func parseInt(s string, lo, hi int64) int64 {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return min(max(i, lo), hi)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !isRange(err) || math.IsNaN(f) {
		return 0
	}
	f = math.Trunc(f)
	switch {
	case f >= float64(hi):
		return hi
	case f <= float64(lo):
		return lo
	}
	return int64(f)
}

func isRange(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// Flag is a JSON scalar read as a boolean: true, or the string "true" in
// any case; anything else is false.
type Flag bool

func (f *Flag) UnmarshalJSON(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	s, quoted, err := scalar(b, reflect.TypeFor[bool]())
	if err != nil {
		return err
	}
	if quoted {
		*f = Flag(strings.EqualFold(strings.TrimSpace(s), "true"))
	} else {
		*f = Flag(s == "true")
	}
	return nil
}

// scalar reads the non-empty JSON value b for a scalar type t: the
// contents of a string (quoted is true), or any other scalar in its JSON
// spelling. An object or array is a wrong shape.
func scalar(b []byte, t reflect.Type) (s string, quoted bool, err error) {
	switch b[0] {
	case '{', '[':
		v := "object"
		if b[0] == '[' {
			v = "array"
		}
		return "", false, &json.UnmarshalTypeError{Value: v, Type: t}
	case '"':
		if err := json.Unmarshal(b, &s); err != nil {
			return "", false, err
		}
		return s, true, nil
	}
	return string(b), false, nil
}
