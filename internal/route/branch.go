package route

import "strings"

// BranchMatches reports whether branch passes patterns: it matches no
// exclude ("!glob") and, when there is at least one include, some include.
// No patterns pass every branch. A "refs/heads/" prefix is ignored on the
// branch and on the patterns, so "refs/heads/main" and "main" are one.
func BranchMatches(patterns []string, branch string) bool {
	branch = strings.TrimPrefix(branch, "refs/heads/")
	included, includes := false, false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(strings.TrimPrefix(p, "!"), "refs/heads/")
		if neg {
			if glob(p, branch) {
				return false
			}
			continue
		}
		includes = true
		included = included || glob(p, branch)
	}
	return included || !includes
}

// glob matches s against pattern, where '*' is any run of characters, '/'
// included (TeamCity's branch filter semantics: "feature/*" covers
// "feature/a/b"), '?' is one character, and anything else is itself.
func glob(pattern, s string) bool {
	p, t := []rune(pattern), []rune(s)
	// Iterative matching with one backtrack point: the last '*' seen.
	pi, ti, star, mark := 0, 0, -1, 0
	for ti < len(t) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ti
			pi++
		case pi < len(p) && (p[pi] == '?' || p[pi] == t[ti]):
			pi++
			ti++
		case star >= 0:
			pi = star + 1
			mark++
			ti = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
