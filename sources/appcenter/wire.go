package appcenter

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// payload is the union of the flat App Center bodies (build, distribute,
// crash, test ping), as documented in shared/fixtures/README.md §2. Every
// field is optional. Scalars are read leniently (text, number, flag): a
// number where a string was expected, or the reverse, is taken as it comes,
// because the format was never formally specified. An object or array
// where a scalar belongs, or the reverse, is a wrong shape and rejects the
// body.
type payload struct {
	// Build.
	AppName                  text `json:"app_name"`
	Branch                   text `json:"branch"`
	BuildStatus              text `json:"build_status"`
	BuildID                  text `json:"build_id"`
	BuildLink                text `json:"build_link"`
	BuildReason              text `json:"build_reason"`
	StartTime                text `json:"start_time"`
	FinishTime               text `json:"finish_time"`
	NotificationSettingsLink text `json:"notification_settings_link"`
	OS                       text `json:"os"`
	SourceVersion            text `json:"source_version"`

	// Distribute.
	AppDisplayName   text   `json:"app_display_name"`
	ReleaseID        text   `json:"release_id"`
	Platform         text   `json:"platform"`
	ReleaseNotes     text   `json:"release_notes"`
	Version          text   `json:"version"`
	ShortVersion     text   `json:"short_version"`
	MinOS            text   `json:"min_os"`
	MandatoryUpdate  flag   `json:"mandatory_update"`
	Size             number `json:"size"`
	BundleIdentifier text   `json:"bundle_identifier"`
	InstallLink      text   `json:"install_link"`
	IconLink         text   `json:"icon_link"`

	// Crash.
	ID            text       `json:"id"`
	Name          text       `json:"name"`
	Reason        text       `json:"reason"`
	FileName      text       `json:"file_name"`
	LineNumber    number     `json:"line_number"`
	URL           text       `json:"url"`
	AppPlatform   text       `json:"app_platform"`
	AppVersion    text       `json:"app_version"`
	StackTrace    stackTrace `json:"stack_trace"`
	AffectedUsers number     `json:"affected_users"`
	CrashCount    number     `json:"crash_count"`

	// Test ping, and every event.
	Text   text `json:"text"`
	SentAt text `json:"sent_at"`
}

// text is a JSON scalar read as a string: a string as is, a number or a
// boolean in its JSON spelling, null as "".
type text string

func (t *text) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0:
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = text(s)
	case b[0] == '{' || b[0] == '[':
		return shapeError(b, reflect.TypeFor[string]())
	case string(b) == "null":
	default: // number, true, false
		*t = text(b)
	}
	return nil
}

// number is a JSON scalar read as an integer: a number (truncated toward
// zero, clamped to the int64 range), a string holding one, anything else 0.
type number int64

func (n *number) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0:
		return nil
	case b[0] == '{' || b[0] == '[':
		return shapeError(b, reflect.TypeFor[int64]())
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*n = parseNumber(strings.TrimSpace(s))
	default:
		*n = parseNumber(string(b))
	}
	return nil
}

func parseNumber(s string) number {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return number(i)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !isRange(err) || math.IsNaN(f) {
		return 0
	}
	f = math.Trunc(f)
	switch {
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return number(f)
}

func isRange(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// count converts a counter to int, clamped to 0..MaxInt32 so that it is
// the same on every platform.
func count(n number) int {
	return int(min(max(int64(n), 0), math.MaxInt32))
}

// flag is a JSON scalar read as a boolean: true, or the string "true" in
// any case; anything else is false.
type flag bool

func (f *flag) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0:
		return nil
	case b[0] == '{' || b[0] == '[':
		return shapeError(b, reflect.TypeFor[bool]())
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flag(strings.EqualFold(strings.TrimSpace(s), "true"))
	default:
		*f = flag(bytes.Equal(b, []byte("true")))
	}
	return nil
}

// stackTrace is App Center's stack_trace: an array of frames, each read as
// text. A single string is split into lines; null is empty.
type stackTrace []string

func (st *stackTrace) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0 || string(b) == "null":
		return nil
	case b[0] == '[':
		var frames []text
		if err := json.Unmarshal(b, &frames); err != nil {
			return err
		}
		out := make([]string, 0, len(frames))
		for _, f := range frames {
			out = append(out, string(f))
		}
		*st = out
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		for _, line := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
			if strings.TrimSpace(line) != "" {
				*st = append(*st, line)
			}
		}
	default:
		return &json.UnmarshalTypeError{Value: "scalar", Type: reflect.TypeFor[[]string]()}
	}
	return nil
}

func shapeError(b []byte, t reflect.Type) error {
	v := "object"
	if b[0] == '[' {
		v = "array"
	}
	return &json.UnmarshalTypeError{Value: v, Type: t}
}
