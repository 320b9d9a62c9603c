package templates

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/Masterminds/sprig/v3"
)

// TestRegexpFuncsMatchSprig calls each cached regex helper and sprig's own
// with the same arguments, a bad pattern included: same results, same
// errors, same panics.
func TestRegexpFuncsMatchSprig(t *testing.T) {
	orig := sprig.TxtFuncMap()
	for name := range regexpFuncs {
		if _, ok := orig[name]; !ok {
			t.Errorf("sprig has no %s", name)
		}
	}
	patterns := []string{`[\s\v\x{85}\x{2028}\x{2029}]+`, `^https?://[^\s]+$`, `a(b*)`, `(`, ``}
	inputs := []string{"", "a  b\u2028c", "https://x.example/a b", "abbbab", "(("}
	for name, f := range regexpFuncs {
		for _, p := range patterns {
			for _, in := range inputs {
				var args []reflect.Value
				switch reflect.TypeOf(f).NumIn() {
				case 2:
					args = []reflect.Value{reflect.ValueOf(p), reflect.ValueOf(in)}
				case 3:
					third := reflect.ValueOf("<$1>")
					if reflect.TypeOf(f).In(2).Kind() == reflect.Int {
						third = reflect.ValueOf(-1)
					}
					args = []reflect.Value{reflect.ValueOf(p), reflect.ValueOf(in), third}
				}
				for range 2 { // the second call is served from the cache
					got, want := call(f, args), call(orig[name], args)
					if !reflect.DeepEqual(got, want) {
						t.Errorf("%s(%q, %q) = %v, sprig gives %v", name, p, in, got, want)
					}
				}
			}
		}
	}
}

// call returns f's results, errors and a panic as strings.
func call(f any, args []reflect.Value) (out []string) {
	defer func() {
		if r := recover(); r != nil {
			out = append(out, fmt.Sprint("panic: ", r))
		}
	}()
	for _, v := range reflect.ValueOf(f).Call(args) {
		out = append(out, fmt.Sprintf("%#v", v.Interface()))
	}
	return out
}
