package appcenter

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"

	"github.com/herald-ci/herald/sources/internal/lenient"
)

// payload is the union of the flat App Center bodies (build, distribute,
// crash, test ping), as documented in shared/fixtures/README.md §2. Every
// field is optional. Scalars are read leniently (package lenient): a
// number where a string was expected, or the reverse, is taken as it comes,
// because the format was never formally specified. An object or array
// where a scalar belongs, or the reverse, is a wrong shape and rejects the
// body. Sizes and counts are read as lenient.Int64.
type payload struct {
	// Build.
	AppName                  lenient.Text `json:"app_name"`
	Branch                   lenient.Text `json:"branch"`
	BuildStatus              lenient.Text `json:"build_status"`
	BuildID                  lenient.Text `json:"build_id"`
	BuildLink                lenient.Text `json:"build_link"`
	BuildReason              lenient.Text `json:"build_reason"`
	StartTime                lenient.Text `json:"start_time"`
	FinishTime               lenient.Text `json:"finish_time"`
	NotificationSettingsLink lenient.Text `json:"notification_settings_link"`
	OS                       lenient.Text `json:"os"`
	SourceVersion            lenient.Text `json:"source_version"`

	// Distribute.
	AppDisplayName   lenient.Text  `json:"app_display_name"`
	ReleaseID        lenient.Text  `json:"release_id"`
	Platform         lenient.Text  `json:"platform"`
	ReleaseNotes     lenient.Text  `json:"release_notes"`
	Version          lenient.Text  `json:"version"`
	ShortVersion     lenient.Text  `json:"short_version"`
	MinOS            lenient.Text  `json:"min_os"`
	MandatoryUpdate  lenient.Flag  `json:"mandatory_update"`
	Size             lenient.Int64 `json:"size"`
	BundleIdentifier lenient.Text  `json:"bundle_identifier"`
	InstallLink      lenient.Text  `json:"install_link"`
	IconLink         lenient.Text  `json:"icon_link"`

	// Crash.
	ID            lenient.Text  `json:"id"`
	Name          lenient.Text  `json:"name"`
	Reason        lenient.Text  `json:"reason"`
	FileName      lenient.Text  `json:"file_name"`
	LineNumber    lenient.Int64 `json:"line_number"`
	URL           lenient.Text  `json:"url"`
	AppPlatform   lenient.Text  `json:"app_platform"`
	AppVersion    lenient.Text  `json:"app_version"`
	StackTrace    stackTrace    `json:"stack_trace"`
	AffectedUsers lenient.Int64 `json:"affected_users"`
	CrashCount    lenient.Int64 `json:"crash_count"`

	// Test ping, and every event.
	Text   lenient.Text `json:"text"`
	SentAt lenient.Text `json:"sent_at"`
}

// count converts a counter to int, clamped to 0..MaxInt32 so that it is
// the same on every platform.
func count(n lenient.Int64) int {
	return int(min(max(int64(n), 0), math.MaxInt32))
}

// stackTrace is App Center's stack_trace: an array of frames, each read as
// lenient.Text. A single string is split into lines; null is empty.
type stackTrace []string

func (st *stackTrace) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0 || string(b) == "null":
		return nil
	case b[0] == '[':
		var frames []lenient.Text
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
