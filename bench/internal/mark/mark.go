// Package mark is the event id the benchmark driver puts into each event and
// the sink finds again in whatever arrives: the raw event (from the relay) or
// the Slack or Teams message herald rendered from it.
//
// A mark is "hbm" and 16 lower-case hex digits, 19 characters. The driver
// puts it in the TeamCity build number (payload.number), which every default
// template shows in the message title ("Build #hbm… failed"): the Slack
// header keeps 150 characters, the Teams card 40, and neither escape changes
// letters or digits. bench/internal/mark's test renders a marked event with
// the default templates, so a template change that drops the number breaks
// that test instead of silently emptying the benchmark's latency columns.
//
// Standard library only: the sink and the relay must stay dependency-free.
package mark

import (
	"bytes"
	"strconv"
)

// Prefix starts every mark.
const Prefix = "hbm"

// Len is the length of a mark: the prefix and 16 hex digits.
const Len = len(Prefix) + 16

// Format returns the mark of id.
func Format(id uint64) string {
	b := make([]byte, 0, Len)
	return string(Append(b, id))
}

// Append appends the mark of id to b.
func Append(b []byte, id uint64) []byte {
	b = append(b, Prefix...)
	const hex = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, hex[(id>>uint(shift))&0xf])
	}
	return b
}

// Find returns the id of the first mark in body.
func Find(body []byte) (uint64, bool) {
	for i := 0; ; {
		j := bytes.Index(body[i:], []byte(Prefix))
		if j < 0 {
			return 0, false
		}
		start := i + j + len(Prefix)
		if start+16 <= len(body) {
			if id, err := strconv.ParseUint(string(body[start:start+16]), 16, 64); err == nil && isLowerHex(body[start:start+16]) {
				return id, true
			}
		}
		i = i + j + 1
	}
}

func isLowerHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
