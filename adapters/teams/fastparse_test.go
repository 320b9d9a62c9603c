package teams

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/herald-ci/herald/sources/sourcestest"
	"github.com/herald-ci/herald/templates"
)

// parseCases are JSON texts on which fastParse must agree with
// parseTokens: escapes, invalid UTF-8, numbers, repeated keys, nesting.
var parseCases = []string{
	`{}`, `[]`, `""`, `0`, `-1.5e+10`, `true`, `false`, `null`, ` {"a" : [ 1 , 2 ] } `,
	`{"a":"x\"y\\z\/\b\f\n\r\t\u00e9\u2028\ud83d\ude00"}`,
	`{"a":"\ud800"}`, `{"a":"\udc00x"}`, "{\"a\":\"\xff\xfe\"}", "{\"\xc3\":1}",
	`{"a":1,"a":2}`, `{"a":{"b":1,"b":2}}`, `{"a\u0062":1,"ab":2}`,
	`[{"k":"v"},{"k":"v"}]`, `{"a":"<at>x</at> & ü"}`,
	`{"a":1}{"b":2}`, `{"a":1} x`, `{"a":`, `[1,]`, `{"a" 1}`, `"\x"`,
}

func TestFastParseMatchesTokens(t *testing.T) {
	cases := append([]string{}, parseCases...)
	cases = append(cases, manyKeys(40, -1), manyKeys(40, 20), manyKeys(16, 15), manyKeys(17, 16))
	cases = append(cases, strings.Repeat("[", maxDepth)+strings.Repeat("]", maxDepth),
		strings.Repeat("[", maxDepth+1)+strings.Repeat("]", maxDepth+1),
		strings.Repeat(`{"a":`, maxDepth+2)+"1"+strings.Repeat("}", maxDepth+2))
	// Every card the defaults render for the fixtures, and the goldens.
	set := templates.Defaults()
	for _, c := range sourcestest.Events(t) {
		for _, prefix := range []string{prefixAdaptive, prefixMessageCard} {
			name := templates.Name(prefix, c.Event, "card")
			if !set.Has(name) {
				name = prefix + ".event.card"
			}
			out, err := set.RenderEvent(name, c.Event, "test")
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			cases = append(cases, string(out))
		}
	}
	goldens, _ := filepath.Glob("testdata/*/*.json")
	for _, g := range goldens {
		b, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, string(b))
	}
	for _, c := range cases {
		checkParse(t, []byte(c))
	}
}

// manyKeys is an object of n keys, key dup repeating key 0 (none when
// dup < 0).
func manyKeys(n, dup int) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		k := i
		if i == dup {
			k = 0
		}
		fmt.Fprintf(&b, `"k%d":%d`, k, i)
	}
	b.WriteByte('}')
	return b.String()
}

func checkParse(t *testing.T, b []byte) {
	t.Helper()
	got, gotErr := parse(b)
	want, wantErr := parseTokens(b)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("parse(%.200q): error %v, tokenizer's %v", b, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parse(%.200q) gives another tree than the tokenizer", b)
	}
	if got != nil && string(got.encode()) != string(want.encode()) {
		t.Fatalf("parse(%.200q) encodes differently", b)
	}
}

func FuzzFastParse(f *testing.F) {
	for _, c := range parseCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkParse(t, b) })
}
