// Command relay is the baseline herald is measured against: it forwards each
// POST body unchanged to every target URL, with no parsing, rendering or
// persistence, and answers 202.
//
//	relay -targets http://127.0.0.1:P/slack/relay,http://127.0.0.1:P/teams/relay [-addr 127.0.0.1:0] [-mode sync|async]
//
// -mode sync (the default) forwards to the targets one after the other and
// answers 202 only when every target answered 2xx (502 otherwise): a naive
// relay, and the closest analogue of herald's "202 means committed", since
// here 202 means "delivered". Its ingest latency therefore includes the
// round trips to the sink, and its throughput is bounded by the client's
// concurrency, as herald's is.
//
// -mode async answers 202 first and forwards afterwards, from a bounded
// queue (-queue, full = 503) worked by -workers goroutines: the fastest
// possible acknowledgement, and nothing survives a crash.
//
// The driver gives the relay the same two sink URLs it gives herald, so both
// make two deliveries per event. Standard library only; loopback only.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

const maxBody = 1 << 20 // herald's default limits.max_body_bytes

type job struct {
	body        []byte
	contentType string
}

type relay struct {
	targets []string
	client  *http.Client
	queue   chan job // async mode only
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to listen on")
	targets := flag.String("targets", "", "comma-separated URLs to forward every body to")
	mode := flag.String("mode", "sync", "sync: answer after forwarding; async: answer, then forward")
	workers := flag.Int("workers", 20, "async: forwarding goroutines")
	queue := flag.Int("queue", 100000, "async: bodies waiting to be forwarded before 503")
	flag.Parse()
	if err := run(*addr, *targets, *mode, *workers, *queue); err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
}

func run(addr, targets, mode string, workers, queue int) error {
	if err := loopbackOnly(addr); err != nil {
		return err
	}
	r := &relay{
		targets: strings.Split(targets, ","),
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: time.Minute,
		}},
	}
	if targets == "" {
		return errors.New("-targets is required")
	}
	var wg sync.WaitGroup
	var handler http.HandlerFunc
	switch mode {
	case "sync":
		handler = r.sync
	case "async":
		r.queue = make(chan job, queue)
		for range workers {
			wg.Go(func() {
				for j := range r.queue {
					r.forward(j)
				}
			})
		}
		handler = r.async
	default:
		return fmt.Errorf("-mode %q is not sync or async", mode)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("POST /", handler)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Printf("relay listening on http://%s\n", ln.Addr())
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if serr := srv.Shutdown(sctx); err == nil {
		err = serr
	}
	if r.queue != nil {
		close(r.queue)
		wg.Wait()
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func loopbackOnly(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-addr %s: the relay listens on loopback only", addr)
	}
	return nil
}

func read(w http.ResponseWriter, req *http.Request) (job, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxBody))
	if err != nil {
		http.Error(w, `{"error":"could not read the body"}`, http.StatusBadRequest)
		return job{}, false
	}
	return job{body: body, contentType: req.Header.Get("Content-Type")}, true
}

const accepted = `{"status":"accepted"}`

func (r *relay) sync(w http.ResponseWriter, req *http.Request) {
	j, ok := read(w, req)
	if !ok {
		return
	}
	if err := r.forward(j); err != nil {
		http.Error(w, `{"error":"forward failed"}`, http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, accepted)
}

func (r *relay) async(w http.ResponseWriter, req *http.Request) {
	j, ok := read(w, req)
	if !ok {
		return
	}
	select {
	case r.queue <- j:
	default:
		http.Error(w, `{"error":"queue full"}`, http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, accepted)
}

// forward posts the body to each target in turn; the first failure stops it.
func (r *relay) forward(j job) error {
	for _, t := range r.targets {
		resp, err := r.client.Post(t, j.contentType, bytes.NewReader(j.body))
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("target answered %d", resp.StatusCode)
		}
	}
	return nil
}
