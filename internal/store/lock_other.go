//go:build !unix && !windows

package store

import "errors"

type fileLock struct{}

func acquireLock(string) (*fileLock, error) {
	return nil, errors.New("file locking is not supported on this platform")
}

func (*fileLock) release() {}
