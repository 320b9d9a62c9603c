package generic

// The value types of the generic format: how each kind of field is read
// and checked, kept in step with the $defs of schema.json.

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// decodeObject reads a JSON object (or null) into the targets named by its
// keys, matching keys exactly and skipping unknown ones, and returns the
// object's members. A target that rejects its value yields a *fieldError
// whose path starts at the key.
func decodeObject(b []byte, targets map[string]any) (map[string]json.RawMessage, error) {
	if isNull(b) {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, &fieldError{msg: "want an object"}
	}
	// Fixed order, so that the first error reported is the same every time.
	keys := make([]string, 0, len(targets))
	for k := range targets {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		raw, ok := m[k]
		if !ok {
			continue
		}
		if err := json.Unmarshal(raw, targets[k]); err != nil {
			return nil, at(k, err, targets[k])
		}
	}
	return m, nil
}

// fieldError says which field was wrong and how, never with the value.
type fieldError struct {
	path string
	msg  string
}

func (e *fieldError) Error() string {
	if e.path == "" {
		return e.msg
	}
	return e.path + ": " + e.msg
}

// at puts key in front of the path of err.
func at(key string, err error, target any) error {
	var fe *fieldError
	if errors.As(err, &fe) {
		path := key
		if fe.path != "" {
			if strings.HasPrefix(fe.path, "[") {
				path += fe.path
			} else {
				path += "." + fe.path
			}
		}
		return &fieldError{path: path, msg: fe.msg}
	}
	switch target.(type) {
	case *string:
		return &fieldError{path: key, msg: "want a string"}
	case *bool:
		return &fieldError{path: key, msg: "want true or false"}
	case **string:
		return &fieldError{path: key, msg: "want a string"}
	}
	return &fieldError{path: key, msg: "wrong JSON type"}
}

func isNull(b []byte) bool {
	return bytes.Equal(bytes.TrimSpace(b), []byte("null"))
}

// maxSafeInt is 2^53-1, the largest integer every JSON reader holds
// exactly; counts and numeric ids are bounded by it.
const maxSafeInt = 1<<53 - 1

// ident is an id or a number: a string, or a non-negative integer (written
// in decimal), or null.
type ident string

func (id *ident) UnmarshalJSON(b []byte) error {
	switch {
	case isNull(b):
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*id = ident(s)
		return nil
	}
	n, ok := integer(b, maxSafeInt)
	if !ok {
		return &fieldError{msg: "want a string or an integer from 0 to 2^53-1"}
	}
	*id = ident(strconv.FormatInt(n, 10))
	return nil
}

// count is a non-negative integer up to 2^53-1, or null.
type count int64

func (c *count) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	n, ok := integer(b, maxSafeInt)
	if !ok {
		return &fieldError{msg: "want an integer from 0 to 2^53-1"}
	}
	*c = count(n)
	return nil
}

func (c count) int() int { return int(min(int64(c), int64(math.MaxInt))) }

// integer reads a JSON number with no fraction (1, 1.0 and 1e2 are all
// integers, as in JSON Schema) in the range 0..limit.
func integer(b []byte, limit int64) (int64, bool) {
	r, ok := rational(b)
	if !ok || !r.IsInt() || r.Sign() < 0 || r.Cmp(new(big.Rat).SetInt64(limit)) > 0 {
		return 0, false
	}
	return r.Num().Int64(), true
}

// jsonNumber is the grammar of a JSON number, split into its significand
// and exponent.
var jsonNumber = regexp.MustCompile(`^(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?)(?:[eE]([+-]?[0-9]+))?$`)

// rational reads a JSON number exactly. An exponent too large to expand is
// reduced to what it means here: a huge magnitude, or a tiny non-zero one.
func rational(b []byte) (*big.Rat, bool) {
	g := jsonNumber.FindSubmatch(bytes.TrimSpace(b))
	if g == nil {
		return nil, false
	}
	sig, ok := new(big.Rat).SetString(string(g[1]))
	if !ok {
		return nil, false
	}
	if len(g[2]) == 0 || sig.Sign() == 0 {
		return sig, true
	}
	exp, err := strconv.Atoi(string(g[2]))
	if err != nil || exp > 400 || exp < -400 {
		// Beyond any bound herald checks: stand in 1e400 or 1e-400.
		huge := new(big.Int).Exp(big.NewInt(10), big.NewInt(400), nil)
		r := new(big.Rat).SetInt(huge)
		if len(g[2]) > 0 && g[2][0] == '-' {
			r.Inv(r)
		}
		if sig.Sign() < 0 {
			r.Neg(r)
		}
		return r, true
	}
	scale := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(exp))), nil))
	if exp < 0 {
		scale.Inv(scale)
	}
	return sig.Mul(sig, scale), true
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// maxDurationSeconds keeps duration_seconds within time.Duration.
const maxDurationSeconds = math.MaxInt64 / int64(time.Second)

// seconds is duration_seconds: a number from 0 to maxDurationSeconds, or
// null.
type seconds struct {
	d   time.Duration
	set bool
}

func (s *seconds) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	r, ok := rational(b)
	if !ok || r.Sign() < 0 || r.Cmp(new(big.Rat).SetInt64(maxDurationSeconds)) > 0 {
		return &fieldError{msg: "want a number of seconds from 0 to " + strconv.FormatInt(maxDurationSeconds, 10)}
	}
	ns := new(big.Rat).Mul(r, new(big.Rat).SetInt64(int64(time.Second)))
	f, _ := ns.Float64()
	s.d, s.set = time.Duration(math.Round(f)), true
	return nil
}

// link is an absolute http or https URL, or null.
type link string

// urlPattern is the "pattern" of schema.json's url; Go's regexp and the
// schema validator read it alike.
var urlPattern = regexp.MustCompile(`^[Hh][Tt][Tt][Pp][Ss]?://[^\x00-\x20\x7f/?#]+([/?#][^\x00-\x20\x7f]*)?$`)

func (l *link) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	var s string
	if b[0] != '"' || json.Unmarshal(b, &s) != nil || !validURL(s) {
		return &fieldError{msg: "want an absolute http or https URL"}
	}
	*l = link(s)
	return nil
}

// validURL is the pattern plus what JSON Schema's "uri" format asks: that
// the URL parses, with any IPv6 host in brackets.
func validURL(s string) bool {
	if !urlPattern.MatchString(s) {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() {
		return false
	}
	if host := u.Hostname(); strings.Contains(host, ":") {
		if !strings.Contains(u.Host, "[") || !strings.Contains(u.Host, "]") {
			return false
		}
		addr, err := netip.ParseAddr(host)
		if err != nil || addr.Zone() != "" {
			return false
		}
	}
	return true
}

// links is the links array: objects with a non-empty title and a URL.
type links []linkIn

type linkIn struct {
	Title string
	URL   link
}

func (ls *links) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(b, &items); err != nil {
		return &fieldError{msg: "want an array"}
	}
	for i, raw := range items {
		idx := "[" + strconv.Itoa(i) + "]"
		if isNull(raw) {
			return &fieldError{path: idx, msg: "want an object"}
		}
		var l linkIn
		var title *string
		var u *link
		m, err := decodeObject(raw, map[string]any{"title": &title, "url": &u})
		if err != nil {
			return at(idx, err, nil)
		}
		if _, ok := m["title"]; !ok || title == nil || *title == "" {
			return &fieldError{path: idx + ".title", msg: "want a non-empty string"}
		}
		if _, ok := m["url"]; !ok || u == nil {
			return &fieldError{path: idx + ".url", msg: "want an absolute http or https URL"}
		}
		l.Title, l.URL = *title, *u
		*ls = append(*ls, l)
	}
	return nil
}

// frames is a stack trace: an array of strings, or null.
type frames []string

func (f *frames) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(b, &items); err != nil {
		return &fieldError{msg: "want an array of strings"}
	}
	out := make([]string, 0, len(items))
	for i, raw := range items {
		var s string
		if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			return &fieldError{path: "[" + strconv.Itoa(i) + "]", msg: "want a string"}
		}
		out = append(out, s)
	}
	*f = out
	return nil
}

// timestamp is an RFC 3339 date-time, or null, read into UTC. A leap
// second (:60) is read as the last instant of second :59, since time.Time
// has none.
type timestamp struct{ time.Time }

// dateTime is schema.json's timestamp "pattern" with groups added: the
// schema states the shape for validators that do not assert formats, and
// the shape is what the format check leaves loose.
var dateTime = regexp.MustCompile(`^([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$`)

func (t *timestamp) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	var s string
	if b[0] != '"' || json.Unmarshal(b, &s) != nil {
		return errDateTime
	}
	v, ok := parseDateTime(s)
	if !ok {
		return errDateTime
	}
	t.Time = v
	return nil
}

var errDateTime = &fieldError{msg: "want an RFC 3339 date-time such as 2024-01-15T09:30:00Z"}

func parseDateTime(s string) (time.Time, bool) {
	g := dateTime.FindStringSubmatch(s)
	if g == nil {
		return time.Time{}, false
	}
	day, err := time.Parse(time.DateOnly, g[1])
	if err != nil {
		return time.Time{}, false
	}
	h, _ := strconv.Atoi(g[2])
	m, _ := strconv.Atoi(g[3])
	sec, _ := strconv.Atoi(g[4])
	if h > 23 || m > 59 || sec > 60 {
		return time.Time{}, false
	}
	var nsec int
	if frac := strings.TrimPrefix(g[5], "."); frac != "" {
		frac = (frac + "000000000")[:9]
		nsec, _ = strconv.Atoi(frac)
	}
	offset := 0
	if z := g[6]; z != "Z" && z != "z" {
		zh, _ := strconv.Atoi(z[1:3])
		zm, _ := strconv.Atoi(z[4:6])
		if zh > 23 || zm > 59 {
			return time.Time{}, false
		}
		offset = (zh*60 + zm) * 60
		if z[0] == '-' {
			offset = -offset
		}
	}
	if sec == 60 {
		// RFC 3339 allows a leap second only at the end of a UTC minute 23:59.
		utc := (h*60 + m - offset/60 + 24*60) % (24 * 60)
		if utc != 23*60+59 {
			return time.Time{}, false
		}
	}
	if sec == 60 {
		sec, nsec = 59, 999999999
	}
	loc := time.UTC
	if offset != 0 {
		loc = time.FixedZone("", offset)
	}
	t := time.Date(day.Year(), day.Month(), day.Day(), h, m, sec, nsec, loc)
	if u := t.UTC(); u.Year() >= 0 && u.Year() <= 9999 {
		return u, true
	}
	// Only 0000-01-01 east of UTC and 9999-12-31 west of it get here; in
	// UTC they would leave the years that RFC 3339 and time.Time's JSON
	// encoding allow, so they keep the sender's offset.
	return t, true
}
