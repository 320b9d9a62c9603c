package auth

import (
	"strconv"
	"testing"
	"time"
)

func TestThrottleBlocksUntilTheWindowEnds(t *testing.T) {
	t.Parallel()
	th := NewThrottle(3, time.Minute, 100)
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 3 {
		if d := th.Blocked("a", t0); d != 0 {
			t.Fatalf("blocked after %d failures", i)
		}
		th.Fail("a", t0.Add(time.Duration(i)*time.Second))
	}
	if d := th.Blocked("a", t0.Add(10*time.Second)); d != 50*time.Second {
		t.Errorf("after 3 failures: wait %v, want 50s (the rest of the window)", d)
	}
	if d := th.Blocked("b", t0.Add(10*time.Second)); d != 0 {
		t.Errorf("another address is blocked too: %v", d)
	}
	if d := th.Blocked("a", t0.Add(time.Minute)); d != 0 {
		t.Errorf("still blocked once the window passed: %v", d)
	}
	// A new window starts from scratch.
	th.Fail("a", t0.Add(time.Minute))
	if d := th.Blocked("a", t0.Add(time.Minute)); d != 0 {
		t.Errorf("one failure in a new window blocks: %v", d)
	}
}

func TestThrottleIsBounded(t *testing.T) {
	t.Parallel()
	const max = 50
	th := NewThrottle(10, time.Minute, max)
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 20 * max {
		th.Fail("10.0."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256), t0)
		if n := th.Len(); n > max {
			t.Fatalf("%d addresses tracked, bound is %d", n, max)
		}
	}
	// Expired windows are swept before live ones are dropped.
	th.Fail("late", t0.Add(2*time.Minute))
	if n := th.Len(); n != 1 {
		t.Errorf("%d addresses tracked after every window expired, want 1", n)
	}
}

func TestAddressKey(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"192.0.2.7:5555":               "192.0.2.7",
		"192.0.2.7":                    "192.0.2.7",
		"[::ffff:192.0.2.7]:80":        "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443":   "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:443":   "2001:db8:1:2::/64",
		"[fe80::1%eth0]:80":            "fe80::/64",
		"not an address":               "not an address",
		"[2001:db8:1:3:3:4:5:6]:443":   "2001:db8:1:3::/64",
		"[::1]:8080":                   "::/64",
		"127.0.0.1:8080":               "127.0.0.1",
		"[2001:db8::ffff:0:1]:1":       "2001:db8::/64",
		"[2001:0db8:0000::0001]:65535": "2001:db8::/64",
	}
	for in, want := range tests {
		if got := AddressKey(in); got != want {
			t.Errorf("AddressKey(%q) = %q, want %q", in, got, want)
		}
	}
}
