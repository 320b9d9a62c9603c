package auth

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// Throttle slows down guessing. It counts authentication failures per
// remote address in fixed windows; an address that reaches the limit is
// blocked until its window ends.
//
// It tracks at most a fixed number of addresses, so a spray of addresses
// cannot grow it without bound: when it is full, expired windows are swept
// (at most once per window) and then arbitrary entries are dropped. A
// dropped address starts afresh, which costs a sprayer nothing it did not
// already have: each of its addresses gets its own limit anyway.
//
// It runs no goroutine; the time is passed in.
type Throttle struct {
	limit  int
	window time.Duration
	max    int

	mu      sync.Mutex
	entries map[string]span
	swept   time.Time
}

// span is one address's failures in its current window.
type span struct {
	start    time.Time
	failures int
}

// NewThrottle blocks an address after limit failures within window, and
// tracks at most maxAddresses addresses.
func NewThrottle(limit int, window time.Duration, maxAddresses int) *Throttle {
	return &Throttle{limit: max(limit, 1), window: window, max: max(maxAddresses, 1), entries: map[string]span{}}
}

// Blocked returns how long key must still wait, or 0 when it may try.
func (t *Throttle) Blocked(key string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.entries[key]
	if !ok {
		return 0
	}
	end := w.start.Add(t.window)
	if !now.Before(end) {
		delete(t.entries, key)
		return 0
	}
	if w.failures < t.limit {
		return 0
	}
	return end.Sub(now)
}

// Fail records one failure of key.
func (t *Throttle) Fail(key string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.entries[key]
	if ok && now.Before(w.start.Add(t.window)) {
		w.failures++
		t.entries[key] = w
		return
	}
	if !ok && len(t.entries) >= t.max {
		t.makeRoom(now)
	}
	t.entries[key] = span{start: now, failures: 1}
}

// Len is the number of addresses tracked.
func (t *Throttle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

// makeRoom frees at least one slot; the caller holds mu.
func (t *Throttle) makeRoom(now time.Time) {
	if now.Sub(t.swept) >= t.window {
		for k, w := range t.entries {
			if !now.Before(w.start.Add(t.window)) {
				delete(t.entries, k)
			}
		}
		t.swept = now
	}
	for k := range t.entries {
		if len(t.entries) < t.max {
			break
		}
		delete(t.entries, k)
	}
}

// AddressKey is the throttling key of a remote address (host:port or a bare
// host): the IP, or its /64 for IPv6, since one IPv6 client commonly holds
// a whole /64.
func AddressKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, err := ip.Prefix(64)
		if err == nil {
			return p.String()
		}
	}
	return ip.String()
}
