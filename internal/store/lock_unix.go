//go:build unix

package store

import (
	"errors"
	"os"
	"syscall"
)

// fileLock is an exclusive advisory lock (flock) on a file beside the
// database. The kernel drops it when the process dies, however it dies, so a
// stale lock file never blocks a restart.
type fileLock struct{ f *os.File }

func acquireLock(path string) (*fileLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, err
	}
	return &fileLock{f: f}, nil
}

// release unlocks by closing. The file stays: removing it would let a
// process that opened it before the removal lock a file nobody else sees.
func (l *fileLock) release() {
	if l != nil && l.f != nil {
		_ = l.f.Close()
		l.f = nil
	}
}
