package server

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/sources"
	"github.com/herald-ci/herald/sources/sourcestest"
)

func TestPreview(t *testing.T) {
	t.Parallel()
	st := &fakeStore{}
	s := newTestServer(t, st)
	failed := sourcestest.Body(t, "teamcity-build-finished-failure.json")
	succeeded := sourcestest.Body(t, "teamcity-build-finished.json")

	preview := func(t *testing.T, tok, path string, body []byte) (int, Preview, string) {
		t.Helper()
		rec, _ := doAs(s, tok, "POST", path, "application/json", bytes.NewReader(body))
		var p Preview
		if rec.Code == 200 {
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatalf("preview answer: %v\n%s", err, rec.Body)
			}
		}
		return rec.Code, p, rec.Body.String()
	}

	// Every destination that would get the event, rendered exactly as
	// ingest renders it; nothing stored.
	code, p, raw := preview(t, "test-reader-token-00001", "/v1/preview/teamcity", failed)
	if code != 200 || p.Event != "build.failed" || len(p.Messages) != 2 {
		t.Fatalf("preview = %d %s", code, raw)
	}
	rt := s.Runtime()
	ev, err := mustDecode(t, "teamcity", failed)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range p.Messages {
		if !m.Subscribed || m.Error != "" {
			t.Errorf("%s: %+v", m.Destination, m)
		}
		a, _ := rt.Adapters.Get(m.Destination)
		want, err := a.Build(ev)
		if err != nil {
			t.Fatal(err)
		}
		if !sameJSON(t, m.Payload, payloadJSON(string(want.Body))) || m.ContentType != want.ContentType {
			t.Errorf("%s: preview differs from what ingest would send:\n got %s\nwant %s", m.Destination, m.Payload, want.Body)
		}
	}
	if strings.Contains(raw, "SECRET") {
		t.Errorf("preview leaks a webhook URL: %s", raw)
	}
	if st.count() != 0 {
		t.Errorf("preview stored %d events", st.count())
	}

	// A named destination is rendered even when it would not get the event.
	code, p, raw = preview(t, testManagerToken, "/v1/preview/teamcity?destination=failures", succeeded)
	if code != 200 || len(p.Messages) != 1 || p.Messages[0].Subscribed || p.Messages[0].Type != "slack" || len(p.Messages[0].Payload) == 0 {
		t.Errorf("named, unsubscribed = %d %s", code, raw)
	}

	for _, tc := range []struct {
		name, tok, path string
		body            []byte
		code            int
		want            string
	}{
		{"no token", "", "/v1/preview/teamcity", failed, 401, "token"},
		{"unknown destination", testManagerToken, "/v1/preview/teamcity?destination=nope", failed, 404, "no destination of that name"},
		{"unknown source", testManagerToken, "/v1/preview/jenkins", failed, 404, "unknown source"},
		{"bad body", testManagerToken, "/v1/preview/teamcity", []byte(`{"eventType":`), 400, "error"},
		{"too deep", testManagerToken, "/v1/preview/generic", []byte(strings.Repeat("[", 100) + strings.Repeat("]", 100)), 400, "nested deeper"},
	} {
		code, _, raw := preview(t, tc.tok, tc.path, tc.body)
		if code != tc.code || !strings.Contains(raw, tc.want) {
			t.Errorf("%s: %d %s; want %d containing %q", tc.name, code, raw, tc.code, tc.want)
		}
	}
	if st.count() != 0 {
		t.Errorf("preview stored %d events", st.count())
	}
}

// sameJSON reports whether a and b hold the same JSON value (the API's
// encoder escapes <, > and & where the adapters don't).
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%v: %s", err, a)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return reflect.DeepEqual(x, y)
}

// mustDecode decodes body with the named source's decoder.
func mustDecode(t *testing.T, source string, body []byte) (*event.Event, error) {
	t.Helper()
	dec, ok := sources.Lookup(source)
	if !ok {
		t.Fatalf("no source %s", source)
	}
	return dec.Decode(body)
}
