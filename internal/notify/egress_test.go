package notify

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestCheck is the table of what a destination URL may be, before any
// request: odd host forms, private and reserved addresses in every
// spelling, plain http, and each type's host allowlist.
func TestCheck(t *testing.T) {
	t.Parallel()
	strict := Egress{}
	private := Egress{AllowPrivate: true}
	plain := Egress{AllowHTTP: true}
	custom := Egress{Hosts: map[string][]string{"slack": {"chat.example.com"}, "teams": {}}}
	tests := []struct {
		name   string
		egress Egress
		typ    string
		url    string
		want   string // a substring of the error; "" means allowed
	}{
		// Allowed.
		{"slack", strict, "slack", "https://hooks.slack.com/services/T/B/SECRET", ""},
		{"slack upper case and final dot", strict, "slack", "https://HOOKS.Slack.COM./services/T/B/SECRET", ""},
		{"govslack", strict, "slack", "https://hooks.slack-gov.com/services/T/B/SECRET", ""},
		{"teams connector", strict, "teams", "https://contoso.webhook.office.com/webhookb2/SECRET", ""},
		{"teams logic apps", strict, "teams", "https://prod-27.westeurope.logic.azure.com:443/workflows/SECRET", ""},
		{"teams power platform", strict, "teams", "https://default0a1b.c2.environment.api.powerplatform.com:443/powerautomate/SECRET", ""},
		{"webhook any public name", strict, "webhook", "https://ci.example.com/hook", ""},
		{"webhook public v4", strict, "webhook", "https://8.8.8.8/hook", ""},
		{"webhook public v6", strict, "webhook", "https://[2606:4700::1111]/hook", ""},
		{"webhook nat64 of a public v4", strict, "webhook", "https://[64:ff9b::808:808]/hook", ""},
		{"webhook 6to4 of a public v4", strict, "webhook", "https://[2002:808:808::1]/hook", ""},
		{"no type: no allowlist", strict, "", "https://anything.example/hook", ""},
		{"private: loopback sink for slack", private, "slack", "http://127.0.0.1:8080/services/SECRET", ""},
		{"private: localhost sink for teams", private, "teams", "http://localhost:8080/workflows/SECRET", ""},
		{"private: mapped loopback", private, "webhook", "http://[::ffff:127.0.0.1]:8080/hook", ""},
		{"private: rfc1918", private, "webhook", "https://10.1.2.3/hook", ""},
		{"private: mapped rfc1918", private, "webhook", "https://[::ffff:10.1.2.3]/hook", ""},
		{"webhook mapped public v4", strict, "webhook", "https://[::ffff:8.8.8.8]/hook", ""},
		{"private: http to a name, the dialer decides", private, "webhook", "http://sink.internal:8080/hook", ""},
		{"allow_http: any public host", plain, "webhook", "http://ci.example.com/hook", ""},
		{"custom slack host", custom, "slack", "https://chat.example.com/services/SECRET", ""},

		// Not an http(s) URL.
		{"ftp", strict, "webhook", "ftp://example.com/SECRET", "must be an absolute http or https URL"},
		{"relative", strict, "webhook", "/hooks/SECRET", "must be an absolute http or https URL"},
		{"no host", strict, "webhook", "https:///SECRET", "must be an absolute http or https URL"},
		{"empty host with port", strict, "webhook", "https://:443/SECRET", "must be an absolute http or https URL"},
		{"bad host name", strict, "webhook", "https://exa_mple!.com/SECRET", "not a valid host name"},

		// Numbers that are IP addresses to inet_aton and browsers.
		{"decimal", strict, "webhook", "http://2130706433/SECRET", "not a canonical IP address"},
		{"decimal https", private, "webhook", "https://2130706433/SECRET", "not a canonical IP address"},
		{"octal", private, "webhook", "https://0177.0.0.1/SECRET", "not a canonical IP address"},
		{"hex", private, "webhook", "https://0x7f.1/SECRET", "not a canonical IP address"},
		{"hex whole", private, "webhook", "https://0x7f000001/SECRET", "not a canonical IP address"},
		{"short", private, "webhook", "https://127.1/SECRET", "not a canonical IP address"},
		{"leading zeros", private, "webhook", "https://127.000.000.001/SECRET", "not a canonical IP address"},
		{"ends in a number", strict, "webhook", "https://example.123/SECRET", "not a canonical IP address"},
		{"ipv6 zone", private, "webhook", "https://[fe80::1%25eth0]/SECRET", "zone is not allowed"},

		// Loopback and private, in every spelling.
		{"loopback", strict, "webhook", "https://127.0.0.1/SECRET", "127.0.0.1 is a loopback or private address; set egress.allow_private: true"},
		{"loopback 127/8", strict, "webhook", "https://127.5.6.7/SECRET", "loopback or private"},
		{"localhost", strict, "webhook", "https://localhost/SECRET", "localhost is a loopback or private address"},
		{"sub.localhost", strict, "webhook", "https://api.localhost/SECRET", "loopback or private"},
		{"v6 loopback", strict, "webhook", "https://[::1]/SECRET", "::1 is a loopback or private address"},
		{"mapped loopback", strict, "webhook", "https://[::ffff:127.0.0.1]/SECRET", "loopback or private"},
		{"mapped loopback hex", strict, "webhook", "https://[::ffff:7f00:1]/SECRET", "loopback or private"},
		{"compatible loopback", strict, "webhook", "https://[::127.0.0.1]/SECRET", "loopback or private"},
		{"translated private", strict, "webhook", "https://[::ffff:0:a00:1]/SECRET", "loopback or private"},
		{"nat64 loopback", strict, "webhook", "https://[64:ff9b::7f00:1]/SECRET", "loopback or private"},
		{"nat64 rfc1918", strict, "webhook", "https://[64:ff9b::10.0.0.1]/SECRET", "loopback or private"},
		{"local nat64", strict, "webhook", "https://[64:ff9b:1::808:808]/SECRET", "loopback or private"},
		{"6to4 loopback", strict, "webhook", "https://[2002:7f00:1::1]/SECRET", "loopback or private"},
		{"teredo", strict, "webhook", "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/SECRET", "loopback or private"},
		{"10/8", strict, "webhook", "https://10.0.0.1/SECRET", "loopback or private"},
		{"172.16/12", strict, "webhook", "https://172.31.255.255/SECRET", "loopback or private"},
		{"192.168/16", strict, "webhook", "https://192.168.1.1/SECRET", "loopback or private"},
		{"cgnat", strict, "webhook", "https://100.64.0.1/SECRET", "loopback or private"},
		{"unique local", strict, "webhook", "https://[fd12:3456::1]/SECRET", "loopback or private"},

		// Never, even with allow_private.
		{"metadata", private, "webhook", "http://169.254.169.254/latest/meta-data/", "link-local"},
		{"link-local", private, "webhook", "https://169.254.1.1/SECRET", "link-local"},
		{"mapped metadata", private, "webhook", "https://[::ffff:169.254.169.254]/SECRET", "link-local"},
		{"6to4 metadata", private, "webhook", "https://[2002:a9fe:a9fe::]/SECRET", "link-local"},
		{"teredo to metadata", private, "webhook", "https://[2001:0:4136:e378:8000:63bf:5601:5601]/SECRET", "link-local"},
		{"nat64 metadata", private, "webhook", "https://[64:ff9b::a9fe:a9fe]/SECRET", "link-local"},
		{"aws v6 metadata", private, "webhook", "https://[fd00:ec2::254]/SECRET", "link-local"},
		{"alibaba metadata", private, "webhook", "https://100.100.100.200/SECRET", "link-local"},
		{"v6 link-local", private, "webhook", "https://[fe80::1]/SECRET", "link-local"},
		{"unspecified", private, "webhook", "https://0.0.0.0/SECRET", "unspecified"},
		{"this network", private, "webhook", "https://0.1.2.3/SECRET", "unspecified"},
		{"v6 unspecified", private, "webhook", "https://[::]/SECRET", "unspecified"},
		{"multicast", private, "webhook", "https://224.0.0.1/SECRET", "multicast"},
		{"v6 multicast", private, "webhook", "https://[ff02::1]/SECRET", "multicast"},
		{"broadcast", private, "webhook", "https://255.255.255.255/SECRET", "broadcast"},
		{"reserved", private, "webhook", "https://240.0.0.1/SECRET", "reserved"},
		{"v6 unallocated", private, "webhook", "https://[4000::1]/SECRET", "reserved"},

		// Plain http.
		{"http by default", strict, "webhook", "http://ci.example.com/SECRET", "plain http is not allowed; use https, or set egress.allow_http: true"},
		{"http to a public address with allow_private", private, "webhook", "http://8.8.8.8/SECRET", "plain http to the public address 8.8.8.8"},
		{"http to slack", private, "slack", "http://hooks.slack.com/services/SECRET", ""}, // a name: refused at dial unless private

		// Host allowlists.
		{"slack elsewhere", strict, "slack", "https://example.com/services/T/B/SECRET", "host example.com is not allowed for slack destinations (egress.hosts.slack: hooks.slack.com, hooks.slack-gov.com)"},
		{"slack look-alike", strict, "slack", "https://hooks.slack.com.evil.example/services/SECRET", "not allowed for slack"},
		{"slack userinfo trick", strict, "slack", "https://hooks.slack.com@evil.example/services/SECRET", "host evil.example is not allowed"},
		{"slack public ip", strict, "slack", "https://8.8.8.8/services/SECRET", "not allowed for slack"},
		{"teams bare suffix", strict, "teams", "https://webhook.office.com/webhookb2/SECRET", "not allowed for teams"},
		{"teams look-alike", strict, "teams", "https://evilwebhook.office.com/webhookb2/SECRET", "not allowed for teams"},
		{"teams elsewhere", strict, "teams", "https://example.com/SECRET", "not allowed for teams"},
		{"custom replaces the default", custom, "slack", "https://hooks.slack.com/services/SECRET", "egress.hosts.slack: chat.example.com"},
		{"custom empty list", custom, "teams", "https://x.webhook.office.com/SECRET", "egress.hosts.teams is empty"},
		{"type without hosts", strict, "console", "https://example.com/SECRET", "egress.hosts.console is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.egress.Check(tc.typ, tc.url)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Check(%q, %s) = %v, want allowed", tc.typ, tc.url, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check(%q, %s) allowed, want %q", tc.typ, tc.url, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check(%q, %s) = %q, want it to contain %q", tc.typ, tc.url, err, tc.want)
			}
			if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "/") {
				t.Errorf("error %q shows the URL's path", err)
			}
		})
	}
}

func TestCheckHostPattern(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"*", "hooks.slack.com", "*.webhook.office.com", "HOOKS.slack.com.", "203.0.113.7", "2001:db8::1", "sink"} {
		if err := CheckHostPattern(p); err != nil {
			t.Errorf("CheckHostPattern(%q) = %v, want nil", p, err)
		}
	}
	for _, p := range []string{"", "*.com", "*.", "foo.*.com", "*foo.com", "**", "*.10.0.0.1", "0x7f.1", "2130706433", "exa mple.com", "fe80::1%eth0"} {
		if err := CheckHostPattern(p); err == nil {
			t.Errorf("CheckHostPattern(%q) = nil, want an error", p)
		}
	}
}

// TestCheckDial is the rule on the address actually dialled, as
// net.Dialer.Control sees it: whatever the URL said, this is what the
// connection would reach.
func TestCheckDial(t *testing.T) {
	t.Parallel()
	tests := []struct {
		egress  Egress
		plain   bool
		network string
		address string
		want    string // "" allowed
	}{
		{Egress{}, false, "tcp4", "8.8.8.8:443", ""},
		{Egress{}, false, "tcp6", "[2606:4700::1111]:443", ""},
		{Egress{}, false, "tcp4", "127.0.0.1:443", "127.0.0.1 is a loopback or private address"},
		{Egress{}, false, "tcp6", "[::1]:443", "::1 is a loopback or private address"},
		{Egress{}, false, "tcp6", "[::ffff:127.0.0.1]:443", "127.0.0.1 is a loopback or private address"},
		{Egress{}, false, "tcp6", "[64:ff9b::7f00:1]:443", "loopback or private"},
		{Egress{}, false, "tcp4", "10.0.0.1:443", "loopback or private"},
		{Egress{}, false, "tcp4", "100.64.1.1:443", "loopback or private"},
		{Egress{}, false, "tcp6", "[fd00::1]:443", "loopback or private"},
		{Egress{}, false, "tcp4", "169.254.169.254:80", "link-local"},
		{Egress{AllowPrivate: true}, false, "tcp4", "169.254.169.254:80", "link-local"},
		{Egress{AllowPrivate: true}, false, "tcp6", "[fe80::1%eth0]:80", "link-local"},
		{Egress{AllowPrivate: true}, false, "tcp6", "[fd00::1%eth0]:80", ""}, // zones do not hide a class
		{Egress{AllowPrivate: true}, false, "tcp4", "0.0.0.0:80", "unspecified"},
		{Egress{AllowPrivate: true}, false, "tcp4", "255.255.255.255:80", "broadcast"},
		{Egress{AllowPrivate: true}, false, "tcp4", "127.0.0.1:443", ""},
		{Egress{AllowPrivate: true}, true, "tcp4", "127.0.0.1:80", ""},
		// Plain http reaches a public address only with allow_http.
		{Egress{}, true, "tcp4", "8.8.8.8:80", "plain http to the public address 8.8.8.8"},
		{Egress{AllowPrivate: true}, true, "tcp4", "8.8.8.8:80", "plain http to the public address"},
		{Egress{AllowHTTP: true}, true, "tcp4", "8.8.8.8:80", ""},
		{Egress{AllowHTTP: true}, true, "tcp4", "127.0.0.1:80", "loopback or private"},
		// Nothing that cannot be read.
		{Egress{AllowPrivate: true}, false, "tcp4", "localhost:80", "cannot check"},
		{Egress{AllowPrivate: true}, false, "udp4", "127.0.0.1:443", "cannot check"},
	}
	for _, tc := range tests {
		err := tc.egress.checkDial(tc.plain, tc.network, tc.address)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%+v plain=%v %s: %v, want allowed", tc.egress, tc.plain, tc.address, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Retry {
			t.Errorf("%+v plain=%v %s: %v, want a final *Error", tc.egress, tc.plain, tc.address, err)
			continue
		}
		if !strings.Contains(e.Reason, tc.want) {
			t.Errorf("%+v plain=%v %s: %q, want %q", tc.egress, tc.plain, tc.address, e.Reason, tc.want)
		}
	}
}

// sink is a loopback HTTP server that counts the requests it answers.
type sink struct {
	*httptest.Server
	n atomic.Int32
}

func newSink(t *testing.T, h http.HandlerFunc) *sink {
	t.Helper()
	s := &sink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.n.Add(1)
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func ok(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }

// port is the sink's port.
func (s *sink) port(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}

// resolveTo is a lookup that answers every name with addrs: DNS as an
// attacker who controls a name's records would have it.
func resolveTo(addrs ...string) func(context.Context, string) ([]netip.Addr, error) {
	return func(context.Context, string) ([]netip.Addr, error) {
		out := make([]netip.Addr, len(addrs))
		for i, a := range addrs {
			out[i] = netip.MustParseAddr(a)
		}
		return out, nil
	}
}

func post(t *testing.T, e Egress, typ, rawURL string) (bool, error) {
	t.Helper()
	c, err := ForType(NewClient(5*time.Second, e), typ)
	if err != nil {
		t.Fatal(err)
	}
	return Post(context.Background(), c, rawURL, Payload{Body: []byte(`{}`)}, Accept2xx)
}

// wantRefused asserts a final *Error whose reason holds want and not the
// URL's secret path.
func wantRefused(t *testing.T, retry bool, err error, want string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want a *notify.Error", err, err)
	}
	if retry || e.Retry {
		t.Errorf("retry = %v, %+v; an egress refusal is final", retry, e)
	}
	if !strings.Contains(e.Reason, want) {
		t.Errorf("reason %q, want it to contain %q", e.Reason, want)
	}
	if strings.Contains(e.Reason, "SECRET") {
		t.Errorf("reason %q shows the URL", e.Reason)
	}
}

// TestDialTimeRebinding: a name that passes every check before the
// request (a public-looking host, allowed for webhooks) but resolves to
// loopback when dialled is refused at dial time, and the sink behind it
// never sees the request.
func TestDialTimeRebinding(t *testing.T) {
	t.Parallel()
	s := newSink(t, ok)
	for _, tc := range []struct {
		name  string
		addrs []string
		want  string
	}{
		{"loopback", []string{"127.0.0.1"}, "127.0.0.1 is a loopback or private address"},
		{"mapped loopback", []string{"::ffff:127.0.0.1"}, "127.0.0.1 is a loopback or private address"},
		{"every address loopback", []string{"::1", "127.0.0.1"}, "is a loopback or private address"},
		// Other addresses (169.254.169.254, public ones) are left to
		// TestCheckDial: were the guard broken, this test would connect
		// to them, and tests reach loopback only.
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := Egress{AllowHTTP: true, lookup: resolveTo(tc.addrs...)}
			u := "http://ci.example.com:" + s.port(t) + "/hooks/SECRET"
			if err := e.Check("webhook", u); err != nil {
				t.Fatalf("the name should pass the check before the request: %v", err)
			}
			retry, err := post(t, e, "webhook", u)
			wantRefused(t, retry, err, tc.want)
		})
	}
	if n := s.n.Load(); n != 0 {
		t.Errorf("the loopback sink answered %d requests, want 0", n)
	}
}

// TestDialTimeLiteral: the transports refuse loopback even when the check
// before the request is skipped, for every spelling Go dials.
func TestDialTimeLiteral(t *testing.T) {
	t.Parallel()
	s := newSink(t, ok)
	g := NewClient(5*time.Second, Egress{AllowHTTP: true}).Transport.(*guard)
	for _, host := range []string{"127.0.0.1", "[::ffff:127.0.0.1]", "localhost"} {
		req, err := http.NewRequest(http.MethodGet, "http://"+host+":"+s.port(t)+"/SECRET", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := g.plain.RoundTrip(req) // past the guard's own check
		if err == nil {
			_ = resp.Body.Close()
			t.Errorf("%s: dialled", host)
			continue
		}
		var e *Error
		if !errors.As(err, &e) || !strings.Contains(e.Reason, "loopback or private") {
			t.Errorf("%s: %v, want an egress refusal", host, err)
		}
	}
	if n := s.n.Load(); n != 0 {
		t.Errorf("the loopback sink answered %d requests, want 0", n)
	}
}

// TestAllowPrivateLoopbackSink: with allow_private a loopback sink is
// reached over plain http by a slack-type client, allowlist or not.
func TestAllowPrivateLoopbackSink(t *testing.T) {
	t.Parallel()
	s := newSink(t, ok)
	retry, err := post(t, Egress{AllowPrivate: true}, "slack", s.URL+"/services/SECRET")
	if err != nil || retry {
		t.Fatalf("Post = %v, %v; want delivered", retry, err)
	}
	if n := s.n.Load(); n != 1 {
		t.Errorf("sink answered %d requests, want 1", n)
	}
}

// TestHTTPRefusedByDefault: plain http is refused before any connection,
// even to a sink that would answer.
func TestHTTPRefusedByDefault(t *testing.T) {
	t.Parallel()
	s := newSink(t, ok)
	e := Egress{lookup: resolveTo("127.0.0.1")}
	retry, err := post(t, e, "webhook", "http://ci.example.com:"+s.port(t)+"/hooks/SECRET")
	wantRefused(t, retry, err, "egress refused: plain http is not allowed")
	if n := s.n.Load(); n != 0 {
		t.Errorf("sink answered %d requests, want 0", n)
	}
}

// TestAllowlistPerRequest: a slack-type client refuses a host outside
// egress.hosts.slack on each request, final, naming the host but not the
// URL; the same request goes through once the host is listed.
func TestAllowlistPerRequest(t *testing.T) {
	t.Parallel()
	s := newSink(t, ok)
	// The name resolves to the loopback sink and private addresses are
	// allowed: only the allowlist stands between the request and the sink.
	e := Egress{AllowPrivate: true, AllowHTTP: true, lookup: resolveTo("127.0.0.1")}
	u := "http://chat.example.com:" + s.port(t) + "/services/T/B/SECRET"
	retry, err := post(t, e, "slack", u)
	wantRefused(t, retry, err, "egress refused: host chat.example.com is not allowed for slack destinations")
	if n := s.n.Load(); n != 0 {
		t.Fatalf("sink answered %d requests, want 0", n)
	}

	e.Hosts = map[string][]string{"slack": {"*.example.com"}}
	if retry, err := post(t, e, "slack", u); err != nil || retry {
		t.Fatalf("with the host listed: Post = %v, %v; want delivered", retry, err)
	}
	if n := s.n.Load(); n != 1 {
		t.Errorf("sink answered %d requests, want 1", n)
	}
}

// TestRedirectNotFollowed: a 3xx is final and its Location never visited.
func TestRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	var s *sink
	s = newSink(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			_, _ = w.Write([]byte("ok"))
			return
		}
		http.Redirect(w, r, s.URL+"/elsewhere", http.StatusFound)
	})
	retry, err := post(t, Egress{AllowPrivate: true}, "webhook", s.URL+"/hooks/SECRET")
	var e *Error
	if !errors.As(err, &e) || retry || e.Reason != "http 302 redirect not followed" {
		t.Fatalf("Post = %v, %v; want final \"http 302 redirect not followed\"", retry, err)
	}
	if n := s.n.Load(); n != 1 {
		t.Errorf("sink answered %d requests, want 1 (the redirect followed?)", n)
	}
}

// TestForTypeNeedsGuardedClient: an adapter cannot be handed a client
// without the dial-time guard.
func TestForTypeNeedsGuardedClient(t *testing.T) {
	t.Parallel()
	for _, c := range []*http.Client{{}, http.DefaultClient, {Transport: http.DefaultTransport}} {
		if _, err := ForType(c, "slack"); err == nil {
			t.Errorf("ForType accepted a client with transport %T", c.Transport)
		}
	}
	c := Client(time.Second)
	b, err := ForType(c, "slack")
	if err != nil {
		t.Fatal(err)
	}
	if b.Transport.(*guard).typ != "slack" || c.Transport.(*guard).typ != "" {
		t.Error("ForType changed the shared client")
	}
	if b.Transport.(*guard).tls != c.Transport.(*guard).tls {
		t.Error("ForType does not share the connection pool")
	}
}

// TestNoProxy: the address check must see the address dialled, so no
// proxy from the environment is used.
func TestNoProxy(t *testing.T) {
	t.Parallel()
	g := Client(time.Second).Transport.(*guard)
	for _, tr := range []*http.Transport{g.tls, g.plain} {
		if tr.Proxy != nil {
			t.Error("transport uses a proxy")
		}
	}
}

func TestIsPrivateHost(t *testing.T) {
	t.Parallel()
	for _, h := range []string{"127.0.0.1", "localhost", "LOCALHOST.", "10.0.0.1", "::1", "::ffff:192.168.0.1", "169.254.169.254", "0.0.0.0"} {
		if !IsPrivateHost(h) {
			t.Errorf("IsPrivateHost(%q) = false", h)
		}
	}
	for _, h := range []string{"hooks.slack.com", "8.8.8.8", "2606:4700::1111", "2130706433", ""} {
		if IsPrivateHost(h) {
			t.Errorf("IsPrivateHost(%q) = true", h)
		}
	}
}

// TestUnboundClientSendsNothing: a client that no adapter bound to its
// type (ForType) refuses every request, so a forgotten binding cannot
// silently skip the allowlist.
func TestUnboundClientSendsNothing(t *testing.T) {
	t.Parallel()
	s := newSink(t, ok)
	retry, err := Post(context.Background(), NewClient(5*time.Second, Egress{AllowPrivate: true}), s.URL+"/hooks/SECRET", Payload{}, Accept2xx)
	wantRefused(t, retry, err, "not bound to a destination type")
	if n := s.n.Load(); n != 0 {
		t.Errorf("sink answered %d requests, want 0", n)
	}
}
