// Package jsonstr writes JSON string literals exactly as encoding/json does
// with HTML escaping off (Encoder.SetEscapeHTML(false)), without its
// allocations: no Encoder, no boxing of the string in an interface.
//
// The renderer's json helper and the Teams card encoder write every string
// of every message through it; the tests compare it with encoding/json byte
// for byte (including invalid UTF-8, control characters, U+2028/U+2029), so
// that golden files cannot tell the two apart.
package jsonstr

import "unicode/utf8"

const hex = "0123456789abcdef"

// Append appends s to dst as a JSON string literal, quotes included, with
// the escapes encoding/json writes when HTML escaping is off: \" and \\,
// \b \f \n \r \t, \u00XX for the other control characters, \ufffd for each
// byte of invalid UTF-8, and \u2028 and \u2029.
func Append(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Plain reports whether Append writes s as it is between two quotes: no
// byte needs an escape and s is valid UTF-8 without U+2028 or U+2029.
func Plain(s string) bool {
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b < 0x20 || b == '"' || b == '\\' {
				return false
			}
			i++
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if (c == utf8.RuneError && size == 1) || c == '\u2028' || c == '\u2029' {
			return false
		}
		i += size
	}
	return true
}
