package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/internal/store"
	"github.com/herald-ci/herald/sources/sourcestest"
)

func nested(depth int) []byte {
	return []byte(strings.Repeat(`{"a":[`, depth/2) + strings.Repeat("[", depth%2) + "1" + strings.Repeat("]", depth%2) + strings.Repeat(`]}`, depth/2))
}

func TestTooDeep(t *testing.T) {
	t.Parallel()
	tests := []struct {
		json string
		want bool
	}{
		{`{}`, false},
		{string(nested(MaxJSONDepth)), false},
		{string(nested(MaxJSONDepth + 1)), true},
		{`{"s":"` + strings.Repeat("[", 200) + `"}`, false},                   // brackets in a string
		{`{"s":"\"` + strings.Repeat("{", 200) + `"}`, false},                 // after an escaped quote
		{`{"s":"\\"` + `,"t":` + strings.Repeat("[", 100) + `}`, true},        // an escaped backslash ends the string
		{strings.Repeat("]", 500) + strings.Repeat("[", MaxJSONDepth), false}, // malformed: the decoder's to reject
	}
	for i, tc := range tests {
		if got := tooDeep([]byte(tc.json), MaxJSONDepth); got != tc.want {
			t.Errorf("case %d: tooDeep = %v, want %v", i, got, tc.want)
		}
	}
}

// FuzzTooDeep holds tooDeep to encoding/json's own view of nesting on
// every valid document.
func FuzzTooDeep(f *testing.F) {
	f.Add([]byte(`{"a":[1,{"b":"]]]"}],"c":"\\\""}`), 2)
	f.Add(nested(10), 9)
	f.Add([]byte(`"[[["`), 0)
	f.Fuzz(func(t *testing.T, b []byte, limit int) {
		limit = max(0, limit%100)
		got := tooDeep(b, limit)
		if !json.Valid(b) {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		depth, deepest := 0, 0
		for {
			tok, err := dec.Token()
			if err != nil {
				break
			}
			switch tok {
			case json.Delim('{'), json.Delim('['):
				depth++
				deepest = max(deepest, depth)
			case json.Delim('}'), json.Delim(']'):
				depth--
			}
		}
		if want := deepest > limit; got != want {
			t.Fatalf("tooDeep(%q, %d) = %v, encoding/json says depth %d", b, limit, got, deepest)
		}
	})
}

func TestIngestRejectsDeepJSON(t *testing.T) {
	t.Parallel()
	st := &fakeStore{}
	s := newServerWith(t, "", st, zerolog.Nop())
	body := []byte(`{"eventType":"BUILD_FINISHED","payload":` + string(nested(MaxJSONDepth)) + `}`)
	rec, reason := post(s, "/v1/events/teamcity", "192.0.2.5:4000", bytes.NewReader(body), nil)
	if rec.Code != http.StatusBadRequest || reason != "JSON nested deeper than 64 levels" {
		t.Fatalf("got %d %q, want 400 naming the depth limit", rec.Code, reason)
	}
	if st.count() != 0 {
		t.Errorf("a too deep event was stored")
	}
}

// blockingStore holds every Accept until released, so requests stay in
// flight as long as the test wants; entered (buffered) says one arrived.
type blockingStore struct {
	fakeStore
	entered chan struct{}
	release chan struct{}
}

func (b *blockingStore) Accept(ctx context.Context, ev store.EventRecord, d []store.Delivery) (store.Accepted, error) {
	b.entered <- struct{}{}
	select {
	case <-b.release:
	case <-ctx.Done():
		return store.Accepted{}, ctx.Err()
	}
	return b.fakeStore.Accept(ctx, ev, d)
}

// TestConcurrencyCap: beyond limits.max_concurrent_requests, ingest answers
// 503 with Retry-After at once; when a slot frees, requests pass again.
func TestConcurrencyCap(t *testing.T) {
	t.Parallel()
	st := &blockingStore{entered: make(chan struct{}, 8), release: make(chan struct{})}
	s := newServerWith(t, "limits: {max_concurrent_requests: 2}", st, zerolog.Nop())
	body := sourcestest.Body(t, "teamcity-build-finished.json")

	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, _ := post(s, "/v1/events/teamcity", "192.0.2.6:4000", bytes.NewReader(body), nil)
			codes[i] = rec.Code
		}()
	}
	<-st.entered
	<-st.entered // both are in flight, held in the store

	rec, reason := post(s, "/v1/events/teamcity", "192.0.2.6:4000", bytes.NewReader(body), nil)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || reason == "" {
		t.Errorf("third request: %d (Retry-After %q) %s, want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	close(st.release)
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusAccepted {
			t.Errorf("held request %d: %d", i, c)
		}
	}
	if rec, _ := post(s, "/v1/events/teamcity", "192.0.2.6:4000", bytes.NewReader(body), nil); rec.Code != http.StatusAccepted {
		t.Errorf("after the others finished: %d, want 202", rec.Code)
	}
}

// TestSlowClientsCutOff: a client that trickles its headers, or its body,
// is disconnected by the server's timeouts (HTTPServer's, scaled down 50
// times) long before it finishes.
func TestSlowClientsCutOff(t *testing.T) {
	t.Parallel()
	const (
		scale = 50
		tick  = 20 * time.Millisecond // "one byte a second", scaled too
	)
	head := "POST /v1/events/teamcity HTTP/1.1\r\nHost: herald\r\nContent-Type: application/json\r\n"
	body := `{"eventType":"BUILD_STARTED","payload":{"x":"` + strings.Repeat("a", 300) + `"}}`
	tests := []struct {
		name        string
		fast, slow  string // the slow part ends the request: nothing is answered before its last byte
		description string
	}{
		{"headers", "", head + "X-Pad: " + strings.Repeat("a", 300) + "\r\n\r\n", "the headers"},
		{"body", head + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n", body, "the body"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServerWith(t, "", &fakeStore{}, zerolog.Nop())
			hs := s.HTTPServer("127.0.0.1:0")
			hs.ReadHeaderTimeout /= scale
			hs.ReadTimeout /= scale
			hs.WriteTimeout /= scale
			hs.IdleTimeout /= scale
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- hs.Serve(ln) }()
			t.Cleanup(func() {
				_ = hs.Close()
				if err := <-served; !errors.Is(err, http.ErrServerClosed) {
					t.Errorf("serve: %v", err)
				}
			})

			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			closed := make(chan struct{})
			go func() { // ends when the server answers or hangs up
				defer close(closed)
				_, _ = io.Copy(io.Discard, conn)
			}()
			if _, err := io.WriteString(conn, tc.fast); err != nil {
				t.Fatal(err)
			}
			for i := range len(tc.slow) {
				select {
				case <-closed:
					return // cut off before the client was done: the point
				case <-time.After(tick):
				}
				if _, err := conn.Write([]byte{tc.slow[i]}); err != nil {
					return // the server hung up
				}
			}
			t.Fatalf("the server waited for all of %s, sent one byte every %v (%d bytes)", tc.description, tick, len(tc.slow))
		})
	}
}
