//go:build linux

package storetest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Tmpfs mounts a tmpfs of size bytes on a new directory, for a database
// whose disk a test fills, and unmounts it when t ends: after the cleanups t
// registers later, such as stopping a process that writes there. Mounting
// needs root; without it, or when the mount fails, t is skipped, except in
// CI (CI=true), where it fails, so that the disk-full tests can't silently
// stop running.
func Tmpfs(t testing.TB, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		needTmpfs(t, "mounting a tmpfs needs root")
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV,
		fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		needTmpfs(t, "mount tmpfs: "+err.Error())
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("storetest: unmount %s: %v (detaching it)", dir, err)
			_ = unix.Unmount(dir, unix.MNT_DETACH)
		}
	})
	return dir
}

func needTmpfs(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: the disk-full tests must run, as root on Linux)", reason)
	}
	t.Skipf("%s: skipping the disk-full test (run it as root on Linux)", reason)
}

// Fill writes a file in dir until the filesystem has no room left (ENOSPC)
// and returns its path: removing it gives the space back.
func Fill(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatalf("storetest: fill: %v", err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	// Big writes while they fit, then ever smaller ones down to a byte, so
	// that not even the tail of a block is left.
	for n := len(buf); n > 0; {
		if _, err := f.Write(buf[:n]); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("storetest: fill: %v", err)
			}
			n /= 2
		}
	}
	return path
}
