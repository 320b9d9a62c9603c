//go:build !linux && !darwin && !freebsd && !windows

package store

import "errors"

// diskFree is unknown here: the SQLite reserve is not enforced, and a full
// disk shows only as failing writes.
func diskFree(string) (int64, error) {
	return 0, errors.New("free space is not known on this platform")
}
