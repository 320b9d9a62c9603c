//go:build !linux

package storetest

import "testing"

// Tmpfs skips t: the disk-full tests mount a tmpfs, which only Linux has.
func Tmpfs(t testing.TB, size int64) string {
	t.Helper()
	t.Skip("the disk-full tests mount a tmpfs: Linux only")
	return ""
}

// Fill is never reached: Tmpfs skipped.
func Fill(t testing.TB, dir string) string {
	t.Helper()
	t.Fatal("storetest: Fill needs Tmpfs")
	return ""
}
