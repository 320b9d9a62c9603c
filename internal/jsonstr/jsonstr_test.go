package jsonstr

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// reference is encoding/json's encoding of s without HTML escaping.
func reference(t testing.TB, s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func check(t testing.TB, s string) {
	want := reference(t, s)
	if got := Append(nil, s); !bytes.Equal(got, want) {
		t.Fatalf("Append(%q) = %s, encoding/json writes %s", s, got, want)
	}
	if got, want := Plain(s), bytes.Equal(want, []byte(`"`+s+`"`)); got != want {
		t.Fatalf("Plain(%q) = %v, want %v", s, got, want)
	}
}

var cases = []string{
	"", "a", `"`, `\`, "<&>", "\x00\x01\x1f\x7f", "\b\f\n\r\t", "é ü 日本 😀",
	"\u2028\u2029", "a\u2028b", "\xff", "a\xffb", "\xe2\x80", "\xed\xa0\x80",
	"\u202e evil", "line\nbreak \"quoted\" back\\slash", "\u0085\u00a0",
}

func TestAppendMatchesEncodingJSON(t *testing.T) {
	for _, s := range cases {
		check(t, s)
	}
	// Random strings over an alphabet of the interesting bytes.
	alphabet := []byte("aZ \"\\<>&\x00\x1f\x7f\n\t\xe2\x80\xa8\xa9\xff\xc3\xa9\xf0\x9f\x98\x80")
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		check(t, string(b))
	}
}

func TestAppendKeepsDst(t *testing.T) {
	if got := string(Append([]byte("x:"), "y")); got != `x:"y"` {
		t.Fatalf("got %s", got)
	}
}

func FuzzAppend(f *testing.F) {
	for _, s := range cases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { check(t, s) })
}
