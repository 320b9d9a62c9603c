package templates

import (
	"regexp"
	"sync"
	"sync/atomic"
)

// sprig's regex helpers compile their pattern on every call: for the
// defaults' whitespace rule ("[\\s\\v\\x{85}\\x{2028}\\x{2029}]+", applied
// to every title, text and button), compiling was an eighth of the
// allocations of a rendering. These replacements behave as sprig's (the
// same results, the same panics and errors for a bad pattern) but compile
// each pattern once, through a small cache shared by every set.
//
// The cache is bounded: a pattern is almost always a constant of the
// template, but one built from event text would otherwise grow it without
// end. Past maxCachedRegexps patterns, new ones are compiled per call, as
// sprig does, and so are patterns longer than maxCachedPattern. A
// *regexp.Regexp is safe for concurrent use.
const (
	maxCachedRegexps = 256
	maxCachedPattern = 1 << 10
)

var (
	regexpCache   sync.Map // pattern → *regexp.Regexp
	regexpsCached atomic.Int32
)

// compileRegexp is regexp.Compile, cached.
func compileRegexp(pattern string) (*regexp.Regexp, error) {
	if r, ok := regexpCache.Load(pattern); ok {
		return r.(*regexp.Regexp), nil
	}
	r, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	if len(pattern) <= maxCachedPattern && regexpsCached.Load() < maxCachedRegexps {
		if _, loaded := regexpCache.LoadOrStore(pattern, r); !loaded {
			regexpsCached.Add(1)
		}
	}
	return r, nil
}

// mustCompileRegexp is regexp.MustCompile, cached: it panics as
// MustCompile does, which text/template turns into the template's error.
func mustCompileRegexp(pattern string) *regexp.Regexp {
	r, err := compileRegexp(pattern)
	if err != nil {
		return regexp.MustCompile(pattern) // panics with MustCompile's message
	}
	return r
}

// regexpFuncs are sprig's regex helpers with cached compilation; Funcs puts
// them in place of sprig's.
var regexpFuncs = map[string]any{
	"regexMatch": func(regex, s string) bool {
		r, err := compileRegexp(regex)
		return err == nil && r.MatchString(s)
	},
	"mustRegexMatch": func(regex, s string) (bool, error) {
		r, err := compileRegexp(regex)
		if err != nil {
			return false, err
		}
		return r.MatchString(s), nil
	},
	"regexFindAll": func(regex, s string, n int) []string {
		return mustCompileRegexp(regex).FindAllString(s, n)
	},
	"mustRegexFindAll": func(regex, s string, n int) ([]string, error) {
		r, err := compileRegexp(regex)
		if err != nil {
			return []string{}, err
		}
		return r.FindAllString(s, n), nil
	},
	"regexFind": func(regex, s string) string {
		return mustCompileRegexp(regex).FindString(s)
	},
	"mustRegexFind": func(regex, s string) (string, error) {
		r, err := compileRegexp(regex)
		if err != nil {
			return "", err
		}
		return r.FindString(s), nil
	},
	"regexReplaceAll": func(regex, s, repl string) string {
		return mustCompileRegexp(regex).ReplaceAllString(s, repl)
	},
	"mustRegexReplaceAll": func(regex, s, repl string) (string, error) {
		r, err := compileRegexp(regex)
		if err != nil {
			return "", err
		}
		return r.ReplaceAllString(s, repl), nil
	},
	"regexReplaceAllLiteral": func(regex, s, repl string) string {
		return mustCompileRegexp(regex).ReplaceAllLiteralString(s, repl)
	},
	"mustRegexReplaceAllLiteral": func(regex, s, repl string) (string, error) {
		r, err := compileRegexp(regex)
		if err != nil {
			return "", err
		}
		return r.ReplaceAllLiteralString(s, repl), nil
	},
	"regexSplit": func(regex, s string, n int) []string {
		return mustCompileRegexp(regex).Split(s, n)
	},
	"mustRegexSplit": func(regex, s string, n int) ([]string, error) {
		r, err := compileRegexp(regex)
		if err != nil {
			return []string{}, err
		}
		return r.Split(s, n), nil
	},
}
