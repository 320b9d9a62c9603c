// Command sink is the benchmark's stand-in for Slack and Teams: a loopback
// HTTP server that answers like the platform, counts requests, and records
// when each event's message first arrived, keyed by the mark the driver put
// in the event (bench/internal/mark).
//
//	sink [-addr 127.0.0.1:0] [-delay 0] [-throttle 0] [-retry-after 1] [-fail 0]
//
// The first path segment names the destination and picks the answer:
//
//	/slack/...        200 "ok"  (Slack incoming webhook)
//	/teams/...        202       (Teams Workflows webhook: accepted, posted later)
//	/messagecard/...  200 "1"   (legacy Office 365 connector)
//	anything else     202
//
// -throttle answers that fraction of deliveries 429 with Retry-After, and
// -fail that fraction 500, before anything is recorded; -delay holds each
// answer that long (Slack itself takes some 100-300 ms). A throttled or
// failed request is counted but is not an arrival: the sender must retry.
//
// Control endpoints, for the driver:
//
//	GET  /_sink/stats     JSON counters
//	GET  /_sink/arrivals  one line per (destination, mark): "dest hexid first_unix_nanos count"
//	POST /_sink/reset     forget everything
//	POST /_sink/config?delay=50ms&throttle=0.1&retry_after=1&fail=0.01
//	GET  /readyz
//
// It prints "sink listening on http://HOST:PORT" once it listens, and stops
// on SIGINT or SIGTERM. Standard library only. Loopback only: it refuses a
// non-loopback -addr.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/herald-ci/herald/bench/internal/mark"
)

// maxBody bounds what one delivery may send: Teams' limit is 28 KB.
const maxBody = 1 << 20

type key struct {
	dest string
	id   uint64
}

type arrival struct {
	first int64 // wall clock, unix nanoseconds: comparable with the driver's
	count int32
}

// behaviour is the sink's current answer policy.
type behaviour struct {
	delay      time.Duration
	throttle   float64
	retryAfter int
	fail       float64
}

type sink struct {
	requests, throttled, failed, unmarked, duplicates, bad atomic.Int64

	mu       sync.Mutex
	arrivals map[key]arrival
	behave   atomic.Pointer[behaviour]
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to listen on")
	delay := flag.Duration("delay", 0, "hold each delivery's answer this long")
	throttle := flag.Float64("throttle", 0, "fraction of deliveries answered 429 with Retry-After")
	retryAfter := flag.Int("retry-after", 1, "Retry-After seconds of a throttled answer")
	fail := flag.Float64("fail", 0, "fraction of deliveries answered 500")
	flag.Parse()

	if err := run(*addr, behaviour{delay: *delay, throttle: *throttle, retryAfter: *retryAfter, fail: *fail}); err != nil {
		fmt.Fprintln(os.Stderr, "sink:", err)
		os.Exit(1)
	}
}

func run(addr string, b behaviour) error {
	if err := loopbackOnly(addr); err != nil {
		return err
	}
	s := &sink{arrivals: make(map[key]arrival, 1<<16)}
	s.behave.Store(&b)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("GET /_sink/stats", s.stats)
	mux.HandleFunc("GET /_sink/arrivals", s.dump)
	mux.HandleFunc("POST /_sink/reset", s.reset)
	mux.HandleFunc("POST /_sink/config", s.configure)
	mux.HandleFunc("/", s.deliver)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Printf("sink listening on http://%s\n", ln.Addr())
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

func loopbackOnly(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-addr %s: the sink listens on loopback only", addr)
	}
	return nil
}

func (s *sink) deliver(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	now := time.Now().UnixNano()
	s.requests.Add(1)
	if err != nil || r.Method != http.MethodPost {
		s.bad.Add(1)
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	b := s.behave.Load()
	if b.delay > 0 {
		time.Sleep(b.delay)
	}
	if b.throttle > 0 && rand.Float64() < b.throttle {
		s.throttled.Add(1)
		w.Header().Set("Retry-After", strconv.Itoa(b.retryAfter))
		http.Error(w, "rate_limited", http.StatusTooManyRequests)
		return
	}
	if b.fail > 0 && rand.Float64() < b.fail {
		s.failed.Add(1)
		http.Error(w, "internal_error", http.StatusInternalServerError)
		return
	}
	dest, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if id, ok := mark.Find(body); ok {
		k := key{dest, id}
		s.mu.Lock()
		a, seen := s.arrivals[k]
		if !seen {
			a.first = now
		}
		a.count++
		s.arrivals[k] = a
		s.mu.Unlock()
		if seen {
			s.duplicates.Add(1)
		}
	} else {
		s.unmarked.Add(1)
	}
	switch dest {
	case "slack":
		io.WriteString(w, "ok")
	case "messagecard":
		io.WriteString(w, "1")
	default:
		w.WriteHeader(http.StatusAccepted)
	}
}

// Stats is the body of GET /_sink/stats.
type Stats struct {
	Requests   int64 `json:"requests"`   // every delivery request
	Arrivals   int   `json:"arrivals"`   // distinct (destination, mark) pairs
	Duplicates int64 `json:"duplicates"` // a (destination, mark) seen again
	Unmarked   int64 `json:"unmarked"`   // accepted, but no mark in the body
	Throttled  int64 `json:"throttled"`  // answered 429
	Failed     int64 `json:"failed"`     // answered 500
	Bad        int64 `json:"bad"`        // unreadable or not a POST
}

func (s *sink) stats(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	n := len(s.arrivals)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(Stats{
		Requests: s.requests.Load(), Arrivals: n, Duplicates: s.duplicates.Load(), Unmarked: s.unmarked.Load(),
		Throttled: s.throttled.Load(), Failed: s.failed.Load(), Bad: s.bad.Load(),
	})
}

func (s *sink) dump(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	lines := make([]byte, 0, len(s.arrivals)*48)
	for k, a := range s.arrivals {
		lines = append(lines, k.dest...)
		lines = append(lines, ' ')
		lines = strconv.AppendUint(lines, k.id, 16)
		lines = append(lines, ' ')
		lines = strconv.AppendInt(lines, a.first, 10)
		lines = append(lines, ' ')
		lines = strconv.AppendInt(lines, int64(a.count), 10)
		lines = append(lines, '\n')
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	w.Write(lines)
}

func (s *sink) reset(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	s.arrivals = make(map[key]arrival, 1<<16)
	s.mu.Unlock()
	for _, c := range []*atomic.Int64{&s.requests, &s.throttled, &s.failed, &s.unmarked, &s.duplicates, &s.bad} {
		c.Store(0)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *sink) configure(w http.ResponseWriter, r *http.Request) {
	b := *s.behave.Load()
	q := r.URL.Query()
	var errs []error
	if v := q.Get("delay"); v != "" {
		d, err := time.ParseDuration(v)
		errs = append(errs, err)
		b.delay = d
	}
	for name, dst := range map[string]*float64{"throttle": &b.throttle, "fail": &b.fail} {
		if v := q.Get(name); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil && (f < 0 || f > 1) {
				err = fmt.Errorf("%s must be in [0, 1]", name)
			}
			errs = append(errs, err)
			*dst = f
		}
	}
	if v := q.Get("retry_after"); v != "" {
		n, err := strconv.Atoi(v)
		errs = append(errs, err)
		b.retryAfter = n
	}
	if err := errors.Join(errs...); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.behave.Store(&b)
	w.WriteHeader(http.StatusNoContent)
}
