// Package decodetest holds the helpers that the tests of the source
// decoders (appcenter, generic, teamcity) share: golden files, fixture and
// rejection checks, fuzz seeds, the invariants every decoded body must keep
// and the decode benchmark. Only tests import it.
//
// It reads the senders' shared payloads from sources/sourcestest, which
// imports the registry in sources and so every decoder: only a decoder's
// external test package (package teamcity_test, not package teamcity) may
// import it, or the import cycle stops the build. A decoder comes in as a
// Decoder, the method set of sources.Decoder.
//
// Importing it defines the -update flag, which rewrites the golden files:
//
//	go test ./sources/... -update
package decodetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/sources/sourcestest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/TestDecode")

// Decoder is sources.Decoder, restated so that this package need not
// import sources.
type Decoder interface {
	Decode(body []byte) (*event.Event, error)
}

// Fixture runs a parallel subtest, named after file without ".json", that
// decodes testdata/<file> with dec and checks the event: from source, Raw
// the body unchanged, keyOf of it want, and the rest as in the golden file
// testdata/TestDecode/<name>.golden.json.
func Fixture[K comparable](t *testing.T, dec Decoder, source, file string, want K, keyOf func(*event.Event) K) {
	t.Helper()
	name := strings.TrimSuffix(file, ".json")
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		body := ReadFile(t, filepath.Join("testdata", file))
		ev, err := dec.Decode(body)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if ev.Source != source {
			t.Errorf("Source = %q, want %q", ev.Source, source)
		}
		if !bytes.Equal(ev.Raw, body) {
			t.Errorf("Raw differs from the body")
		}
		if got := keyOf(ev); got != want {
			t.Errorf("key fields:\n got %+v\nwant %+v", got, want)
		}
		Golden(t, filepath.Join("testdata", "TestDecode", name+".golden.json"), ev)
	})
}

// Accept decodes body with dec, which must take it, and holds the event to
// check.
func Accept(t *testing.T, dec Decoder, body string, check func(*event.Event) bool) {
	t.Helper()
	ev, err := dec.Decode([]byte(body))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !check(ev) {
		out, _ := json.Marshal(ev)
		t.Errorf("unexpected event: %s", out)
	}
}

// Reject decodes body with dec, which must refuse it with no event, and
// returns the reason of the *event.InputError it gives, after CheckReason
// with maxReason. With ignored, the error must be event.ErrIgnored instead,
// and the reason is "".
func Reject(t *testing.T, dec Decoder, body string, ignored bool, maxReason int) string {
	t.Helper()
	ev, err := dec.Decode([]byte(body))
	if err == nil {
		t.Fatalf("Decode succeeded with %+v", ev)
	}
	if ev != nil {
		t.Errorf("Decode returned an event with an error")
	}
	if ignored {
		if !errors.Is(err, event.ErrIgnored) {
			t.Fatalf("error = %v, want event.ErrIgnored", err)
		}
		return ""
	}
	var ie *event.InputError
	if !errors.As(err, &ie) {
		t.Fatalf("error = %T %v, want *event.InputError", err, err)
	}
	CheckReason(t, ie.Reason, maxReason)
	return ie.Reason
}

// CheckReason holds an InputError reason to the house style: one short
// lower-case line (at most maxLen bytes), no final period, no echo of the
// input.
func CheckReason(t *testing.T, reason string, maxLen int) {
	t.Helper()
	switch {
	case reason == "":
		t.Error("empty reason")
	case unicode.IsUpper([]rune(reason)[0]):
		t.Errorf("reason %q does not start lower-case", reason)
	case strings.HasSuffix(reason, "."):
		t.Errorf("reason %q ends with a period", reason)
	case strings.ContainsAny(reason, "\r\n"), len(reason) > maxLen:
		t.Errorf("reason %q is not one short line", reason)
	case strings.Contains(reason, "SECRET-VALUE"):
		t.Errorf("reason %q echoes the input", reason)
	}
}

// ReadFile returns the contents of the file name, or fails the test.
func ReadFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Golden compares ev, without Raw, with the pretty-printed JSON in name,
// or rewrites the file under -update.
func Golden(t *testing.T, name string, ev *event.Event) {
	t.Helper()
	cp := *ev
	cp.Raw = nil
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep URLs readable in the diff
	enc.SetIndent("", "  ")
	if err := enc.Encode(&cp); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	if *update {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test -update and review the diff):\n got %s\nwant %s", name, got, want)
	}
}

// SeedFiles adds every testdata/*.json to the fuzz corpus of f.
func SeedFiles(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		body, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
}

// Fuzzed holds the result of decoding any body to what every decoder
// promises. An error is an *event.InputError (or, with ignores,
// event.ErrIgnored) and comes without an event. An event has a known kind
// and status, Source source and a Type, passes more (the decoder's own
// invariants; nil for none) and marshals to JSON.
func Fuzzed(t *testing.T, source string, ev *event.Event, err error, ignores bool, more func(*event.Event)) {
	t.Helper()
	if err != nil {
		var ie *event.InputError
		switch {
		case ignores && !errors.Is(err, event.ErrIgnored) && !errors.As(err, &ie):
			t.Fatalf("error %T is neither ignored nor an input error: %v", err, err)
		case !ignores && !errors.As(err, &ie):
			t.Fatalf("error %T is not an input error: %v", err, err)
		}
		if ev != nil {
			t.Fatalf("event returned with an error")
		}
		return
	}
	if ev == nil {
		t.Fatal("nil event with a nil error")
	}
	if !slices.Contains(event.Statuses[ev.Kind], ev.Status) {
		t.Fatalf("%s is not a known kind and status", ev.Name())
	}
	if ev.Source != source || ev.Type == "" {
		t.Fatalf("Source %q, Type %q", ev.Source, ev.Type)
	}
	if more != nil {
		more(ev)
	}
	if _, err := json.Marshal(ev); err != nil {
		t.Fatalf("event does not marshal: %v", err)
	}
}

// bom is the UTF-8 byte order mark some senders put before the JSON; a
// decoder skips it.
const bom = "\xef\xbb\xbf"

// edgeSeeds are bodies every decoder must refuse, or take, without
// trouble: nothing, blank, JSON that is not an object, and an empty object
// bare and behind a byte order mark.
var edgeSeeds = []string{"", " ", "null", "[]", `""`, "{}", bom + "{}"}

// Seed adds to the corpus of f the bodies a decoder's fuzz target starts
// from: every testdata/*.json of the package (SeedFiles); every fixture of
// source in sources/sourcestest, the Rejected ones too, as sent and behind a
// byte order mark; the edge cases every decoder shares; and bodies, the
// target's own.
func Seed(f *testing.F, source string, bodies ...string) {
	f.Helper()
	SeedFiles(f)
	for _, fx := range sourcestest.Fixtures() {
		if fx.Source == source {
			f.Add(fx.Body)
			f.Add(append([]byte(bom), fx.Body...))
		}
	}
	for _, s := range edgeSeeds {
		f.Add([]byte(s))
	}
	for _, s := range bodies {
		f.Add([]byte(s))
	}
}

// CheckDecode decodes body with dec the way the server does, from a buffer
// it clears straight after (the server may reuse its request buffer), and
// holds the result to the sources.Decoder contract:
//
//   - Fuzzed, with ignores and more;
//   - an *event.InputError has a reason in the house style (CheckReason, at
//     most 160 bytes); with ignores, an event.ErrIgnored error, which quotes
//     the ignored type cut short for the log, is one line of at most 400
//     bytes;
//   - an event's Raw is body less a leading byte order mark, valid JSON,
//     and in memory of its own;
//   - decoding the same bytes again gives the same event, or an error with
//     the same text.
//
// It returns the event and the error, for the target's own checks.
func CheckDecode(t *testing.T, dec Decoder, source string, body []byte, ignores bool, more func(*event.Event)) (*event.Event, error) {
	t.Helper()
	in := bytes.Clone(body)
	ev, err := dec.Decode(in)
	clear(in) // what a server reusing its buffer does
	Fuzzed(t, source, ev, err, ignores, more)

	// Fuzzed has checked the error's type; this is its form.
	var ie *event.InputError
	switch {
	case errors.As(err, &ie):
		CheckReason(t, ie.Reason, 160)
	case ignores && errors.Is(err, event.ErrIgnored):
		if s := err.Error(); strings.ContainsAny(s, "\r\n") || len(s) > 400 {
			t.Errorf("ignored error is not one bounded line: %q", s)
		}
	}

	if ev != nil {
		if want := bytes.TrimPrefix(body, []byte(bom)); !bytes.Equal(ev.Raw, want) || !json.Valid(ev.Raw) {
			t.Fatalf("Raw is not the body as sent:\n got %q\nwant %q", ev.Raw, want)
		}
	}

	ev2, err2 := dec.Decode(bytes.Clone(body))
	if !reflect.DeepEqual(ev, ev2) || errText(err) != errText(err2) {
		t.Fatalf("two decodes differ:\n%+v, %v\n%+v, %v", ev, err, ev2, err2)
	}
	return ev, err
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// BenchDecode runs one sub-benchmark per fixture of source in
// sources/sourcestest but the Rejected ones, named after the fixture less
// its "<source>-" prefix, timing dec.Decode of its body. A fixture that
// stops decoding, or decodes to an event of another source or without a
// kind, fails the benchmark rather than timing an error path; so does a
// source without fixtures.
func BenchDecode(b *testing.B, dec Decoder, source string) {
	b.Helper()
	n := 0
	for _, f := range sourcestest.Fixtures() {
		if f.Source != source || sourcestest.Rejected[f.Name] {
			continue
		}
		n++
		b.Run(strings.TrimPrefix(f.Name, f.Source+"-"), func(b *testing.B) {
			ev, err := dec.Decode(f.Body)
			if err != nil {
				b.Fatalf("%s: %v", f.Name, err)
			}
			if ev.Source != source || ev.Kind == "" {
				b.Fatalf("%s: decoded %q %q, want a %s event with a kind", f.Name, ev.Source, ev.Kind, source)
			}
			b.SetBytes(int64(len(f.Body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := dec.Decode(f.Body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	if n == 0 {
		b.Fatalf("no %s fixtures in sources/sourcestest", source)
	}
}
