package notify

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestPostRedactsQuotedRequest: an answer that quotes the request's URL
// back never carries the URL's credentials into the error.
func TestPostRedactsQuotedRequest(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("bad request to " + r.URL.RequestURI() + " and " + r.URL.Path + " " + r.URL.RawQuery))
	}))
	t.Cleanup(srv.Close)
	client, err := ForType(NewClient(5*time.Second, Egress{AllowPrivate: true}), "webhook")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Post(t.Context(), client, srv.URL+"/services/T0/B0/PATHTOKEN?api-version=1&sig=SIGTOKEN", Payload{Body: []byte(`{}`)}, nil)
	var e *Error
	if !errors.As(err, &e) || e.Status != 400 {
		t.Fatalf("err = %v", err)
	}
	for _, secret := range []string{"PATHTOKEN", "SIGTOKEN", "sig="} {
		if strings.Contains(e.Reason, secret) || strings.Contains(err.Error(), secret) {
			t.Errorf("reason %q holds %s", e.Reason, secret)
		}
	}
	if !strings.HasPrefix(e.Reason, "http 400 bad request to ***") {
		t.Errorf("reason %q lost its non-secret part", e.Reason)
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	err := Redact(&Error{Reason: "http 401 Basic dXNlcjpwYXNz rejected; pass=hunter2x"}, "dXNlcjpwYXNz", "hunter2x", "")
	if got := err.Error(); strings.Contains(got, "dXNlcjpwYXNz") || strings.Contains(got, "hunter2x") || !strings.Contains(got, "Basic *** rejected") {
		t.Errorf("redacted: %q", got)
	}
	plain := errors.New("not a notify error: hunter2x")
	if Redact(plain, "hunter2x") != plain {
		t.Error("Redact changed an error that is not *Error")
	}
}
