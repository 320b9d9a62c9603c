//go:build windows

package store

import "golang.org/x/sys/windows"

// diskFree is the space in bytes this process may still use on dir's
// volume (quotas included).
func diskFree(dir string) (int64, error) {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, err
	}
	var avail, total, free uint64
	if err := windows.GetDiskFreeSpaceEx(p, &avail, &total, &free); err != nil {
		return 0, err
	}
	return int64(min(avail, 1<<62)), nil
}
