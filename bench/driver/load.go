package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herald-ci/herald/bench/internal/mark"
)

// sent is one request of the load.
type sent struct {
	id      uint64
	at      int64         // wall clock, unix ns: when it was sent, or for open-loop load when it was due
	latency time.Duration // until the whole answer was read, from the same instant
	status  int           // HTTP status; 0 = transport error
	ok      bool          // 202 with "status":"accepted"
}

// load sends events to url and returns every request, with the time the
// first was due and the last answer arrived.
type load struct {
	url    string
	body   *mark.Body
	idBase uint64
	client *http.Client
	seq    atomic.Uint64
}

func newLoad(url string, body *mark.Body, idBase uint64, conns int, timeout time.Duration) *load {
	tr := &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
		IdleConnTimeout: 90 * time.Second, DisableCompression: true,
	}
	return &load{url: url, body: body, idBase: idBase, client: &http.Client{Transport: tr, Timeout: timeout}}
}

var acceptedMark = []byte(`"status":"accepted"`)

// post sends one new event and reports on it; from is the instant its
// latency is counted from.
func (l *load) post(from time.Time) sent {
	id := l.idBase | l.seq.Add(1)
	s := sent{id: id, at: from.UnixNano()}
	body := l.body.Append(make([]byte, 0, 2048), id)
	req, err := http.NewRequest(http.MethodPost, l.url, bytes.NewReader(body))
	if err != nil {
		panic(err) // the URL is ours
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		s.latency = time.Since(from)
		return s
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	s.latency = time.Since(from)
	s.status = resp.StatusCode
	s.ok = resp.StatusCode == http.StatusAccepted && bytes.Contains(answer, acceptedMark)
	return s
}

// closedLoop keeps conns requests in flight until d has passed: the
// sustained maximum. Each connection sends its next event as soon as the
// previous one is answered, so the latency it sees is the service time under
// that concurrency (there is no schedule to fall behind).
func (l *load) closedLoop(ctx context.Context, conns int, d time.Duration) (out []sent, first, last time.Time) {
	first = time.Now()
	deadline := first.Add(d)
	per := make([][]sent, conns)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				per[i] = append(per[i], l.post(time.Now()))
			}
		})
	}
	wg.Wait()
	last = time.Now()
	for _, p := range per {
		out = append(out, p...)
	}
	return out, first, last
}

// openLoop sends n events at rate per second on a fixed schedule, whatever
// the answers do (up to maxOpen in flight), and counts each latency from
// the moment the event was due, not from when it could be sent: a stall
// shows up in every request it delayed (no coordinated omission).
func (l *load) openLoop(ctx context.Context, n int, rate float64, maxOpen int) (out []sent, first, last time.Time) {
	interval := time.Duration(float64(time.Second) / rate)
	out = make([]sent, n)
	sem := make(chan struct{}, maxOpen)
	var wg sync.WaitGroup
	first = time.Now()
	for i := range n {
		if ctx.Err() != nil { // interrupted: report what was sent
			out = out[:i]
			break
		}
		due := first.Add(time.Duration(i) * interval)
		if w := time.Until(due); w > 0 {
			time.Sleep(w)
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i] = l.post(due)
		})
	}
	wg.Wait()
	return out, first, time.Now()
}
