//go:build linux || darwin || freebsd

package store

import "golang.org/x/sys/unix"

// diskFree is the space in bytes an unprivileged process may still use on
// dir's filesystem (statfs's available blocks: root's reserve excluded).
func diskFree(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	// The field types differ between systems; FreeBSD's count can be
	// negative once root's reserve is in use.
	return max(int64(st.Bavail), 0) * int64(st.Bsize), nil
}
