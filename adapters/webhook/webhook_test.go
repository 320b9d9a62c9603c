package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/sources"
	"github.com/herald-ci/herald/sources/sourcestest"
)

func newAdapter(t *testing.T, url string) *Adapter {
	t.Helper()
	a, err := New(config.Destination{Name: "hook", Type: config.TypeWebhook, URL: config.SecretURL(url)}, nil, notify.Client(5*time.Second), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestBuild: for every fixture, TeamCity events are forwarded in
// TeamCity's envelope around the original payload; other sources' bodies
// byte for byte.
func TestBuild(t *testing.T) {
	t.Parallel()
	a := newAdapter(t, "")
	for _, f := range sourcestest.Fixtures() {
		if sourcestest.Rejected[f.Name] {
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			dec, _ := sources.Lookup(f.Source)
			ev, err := dec.Decode(f.Body)
			if err != nil {
				t.Fatal(err)
			}
			p, err := a.Build(ev)
			if err != nil {
				t.Fatal(err)
			}
			if p.ContentType != "application/json" {
				t.Errorf("content type %q", p.ContentType)
			}
			if f.Source != "teamcity" {
				if !bytes.Equal(p.Body, f.Body) {
					t.Errorf("body is not the original:\n got %s\nwant %s", p.Body, f.Body)
				}
				return
			}
			var got, in struct {
				EventType string          `json:"eventType"`
				Payload   json.RawMessage `json:"payload"`
			}
			if err := json.Unmarshal(p.Body, &got); err != nil {
				t.Fatalf("body %s: %v", p.Body, err)
			}
			if err := json.Unmarshal(f.Body, &in); err != nil {
				t.Fatal(err)
			}
			if got.EventType != ev.Type {
				t.Errorf("eventType = %q, want %q", got.EventType, ev.Type)
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, in.Payload); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Payload, compact.Bytes()) {
				t.Errorf("payload changed:\n got %s\nwant %s", got.Payload, compact.Bytes())
			}
		})
	}
}

func TestBuildWithoutRaw(t *testing.T) {
	t.Parallel()
	ev := &event.Event{Source: "generic", Kind: event.KindBuild, Status: event.StatusFailed, Project: "p </script> \u2028"}
	p, err := newAdapter(t, "").Build(ev)
	if err != nil {
		t.Fatal(err)
	}
	var back event.Event
	if err := json.Unmarshal(p.Body, &back); err != nil || back.Project != ev.Project || back.Kind != ev.Kind {
		t.Errorf("body %s does not hold the event: %v", p.Body, err)
	}
}

func TestSend(t *testing.T) {
	t.Parallel()
	const token = "SECRET-PATH-TOKEN"
	for _, tc := range []struct {
		name       string
		status     int
		body       string
		header     map[string]string
		refused    bool
		wantErr    bool
		retry      bool
		reason     string
		retryAfter time.Duration
	}{
		{name: "200", status: 200, body: "anything"},
		{name: "202", status: 202},
		{name: "204", status: 204},
		{name: "400", status: 400, body: "bad", wantErr: true, reason: "http 400 bad"},
		{name: "404", status: 404, wantErr: true, reason: "http 404"},
		{name: "410", status: 410, wantErr: true, reason: "http 410"},
		{name: "429", status: 429, header: map[string]string{"Retry-After": "2"}, wantErr: true, retry: true, reason: "http 429", retryAfter: 2 * time.Second},
		{name: "500", status: 500, wantErr: true, retry: true, reason: "http 500"},
		{name: "503", status: 503, wantErr: true, retry: true, reason: "http 503"},
		{name: "302", status: 302, header: map[string]string{"Location": "https://elsewhere.example/" + token}, wantErr: true, reason: "http 302 redirect not followed"},
		{name: "connection refused", refused: true, wantErr: true, retry: true, reason: "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var n int
			var body []byte
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				n++
				var b bytes.Buffer
				_, _ = b.ReadFrom(r.Body)
				body = b.Bytes()
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			base := srv.URL
			if tc.refused {
				l, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				base = "http://" + l.Addr().String()
				_ = l.Close()
			}
			a := newAdapter(t, base+"/hooks/"+token)
			p, err := a.Build(&event.Event{Source: "appcenter", Kind: event.KindTest, Status: event.StatusPing, Raw: json.RawMessage(`{"text":"hi"}`)})
			if err != nil {
				t.Fatal(err)
			}
			retry, err := a.Send(context.Background(), p)
			if retry != tc.retry || (err != nil) != tc.wantErr {
				t.Fatalf("Send = %v, %v; want retry %v, error %v", retry, err, tc.retry, tc.wantErr)
			}
			if err != nil {
				if strings.Contains(err.Error(), token) {
					t.Errorf("error leaks the url: %q", err)
				}
				var ne *notify.Error
				if !errors.As(err, &ne) || ne.Reason != tc.reason || ne.RetryAfter != tc.retryAfter {
					t.Errorf("error = %+v, want reason %q after %v", err, tc.reason, tc.retryAfter)
				}
			}
			if tc.refused {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if n != 1 || string(body) != `{"text":"hi"}` {
				t.Errorf("%d requests, body %s", n, body)
			}
		})
	}
}
