package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Egress is where herald may send. Every request is held to it twice:
// before it is made (Check: scheme, the form of the host, the destination
// type's host allowlist) and when its connection is dialled, against the
// address actually dialled after DNS, so that a name which resolves (or
// later re-resolves) to a private address is refused all the same.
//
// The zero value is the safe default: https only, public addresses only,
// each type's default hosts.
type Egress struct {
	// AllowPrivate permits loopback and private addresses (RFC 1918,
	// CGNAT, unique-local, ...): local test sinks, on-premise servers. Such
	// a destination skips the host allowlist, and may use plain http.
	// Link-local addresses (cloud metadata), multicast, broadcast,
	// unspecified and reserved addresses stay refused.
	AllowPrivate bool
	// AllowHTTP permits plain http to any address the rest allows.
	AllowHTTP bool
	// Hosts replaces, per destination type, that type's default host
	// allowlist (DefaultHosts). A type left out keeps its default.
	Hosts map[string][]string

	// lookup replaces DNS, for tests: the dial-time check then sees the
	// addresses it returns. nil: the system resolver.
	lookup func(ctx context.Context, host string) ([]netip.Addr, error)
}

// Destination types whose host allowlists have defaults. They are the
// config package's type names (notify cannot import config).
const (
	typeSlack   = "slack"
	typeTeams   = "teams"
	typeWebhook = "webhook"
)

// defaultHosts are the hosts each destination type may post to unless
// egress.hosts says otherwise.
var defaultHosts = map[string][]string{
	// Slack incoming webhooks: https://hooks.slack.com/services/T…/B…/…
	// (api.slack.com/messaging/webhooks), and the same on GovSlack,
	// Slack's US-government instance (hooks.slack-gov.com).
	typeSlack: {"hooks.slack.com", "hooks.slack-gov.com"},
	typeTeams: {
		// Office 365 connector ("Incoming Webhook", MessageCard):
		// https://<tenant>.webhook.office.com/webhookb2/…, the form that
		// replaced outlook.office.com/webhook/…, and its twin in the US
		// government clouds.
		"*.webhook.office.com",
		"*.webhook.office365.us",
		// Teams Workflows (Power Automate "When a Teams webhook request is
		// received"): older flows are Logic Apps triggers,
		// https://prod-NN.<region>.logic.azure.com:443/workflows/…, newer
		// ones https://<env>.<nn>.environment.api.powerplatform.com:443/
		// powerautomate/automations/direct/workflows/…; and the same in
		// Azure Government / GCC.
		"*.logic.azure.com",
		"*.environment.api.powerplatform.com",
		"*.logic.azure.us",
		"*.environment.api.powerplatform.us",
	},
	// A generic webhook may go to any public host.
	typeWebhook: {"*"},
}

// DefaultHosts returns a copy of typ's default host allowlist; nil for a
// type without one (which may then post nowhere unless configured).
func DefaultHosts(typ string) []string { return slices.Clone(defaultHosts[typ]) }

// hosts is typ's allowlist: the configured one, else the default.
func (e Egress) hosts(typ string) []string {
	if h, ok := e.Hosts[typ]; ok {
		return h
	}
	return defaultHosts[typ]
}

// Check reports whether a destination of type typ may post to rawURL;
// typ "" applies every rule but the host allowlist. The error names the
// host at most, never the path or query, where webhook URLs keep their
// credentials. The config package checks every destination with it at
// load; the client checks every request with it again.
func (e Egress) Check(typ, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return errors.New("must be an absolute http or https URL")
	}
	return e.check(typ, u)
}

func (e Egress) check(typ string, u *url.URL) error {
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return errors.New("must be an absolute http or https URL")
	}
	host, ip, err := canonicalHost(u.Hostname())
	if err != nil {
		return err
	}
	class := classPublic
	switch {
	case ip.IsValid():
		class = classify(ip)
	case isLocalName(host):
		class = classPrivate
	}
	switch class {
	case classForbidden:
		return fmt.Errorf("%s is a link-local, multicast, broadcast, unspecified or reserved address, never a destination", host)
	case classPrivate:
		if !e.AllowPrivate {
			return fmt.Errorf("%s is a loopback or private address; set egress.allow_private: true to allow it", host)
		}
	}
	// Plain http: with allow_http anywhere; with allow_private to a private
	// address, or to a name, which the dialer then holds to private
	// addresses. Never to a public address written as such.
	if u.Scheme == "http" && !e.AllowHTTP && !(e.AllowPrivate && (class == classPrivate || !ip.IsValid())) {
		if e.AllowPrivate {
			return fmt.Errorf("plain http to the public address %s is not allowed; use https, or set egress.allow_http: true", host)
		}
		return errors.New("plain http is not allowed; use https, or set egress.allow_http: true")
	}
	if class == classPrivate || typ == "" {
		return nil // a private destination skips the allowlist
	}
	allowed := e.hosts(typ)
	for _, p := range allowed {
		if matchHost(p, host) {
			return nil
		}
	}
	if len(allowed) == 0 {
		return fmt.Errorf("host %s is not allowed: egress.hosts.%s is empty", host, typ)
	}
	return fmt.Errorf("host %s is not allowed for %s destinations (egress.hosts.%s: %s)", host, typ, typ, strings.Join(allowed, ", "))
}

// canonicalHost lower-cases host and drops one trailing dot. An IP address
// must be written canonically: a host whose last label is a number
// (2130706433, 0177.0.0.1, 0x7f.1, 127.1) is one to browsers and to
// inet_aton, so anything but a plain dotted quad is refused rather than
// guessed at. Names must be ASCII letters, digits, '-' and '_'.
func canonicalHost(h string) (string, netip.Addr, error) {
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if h == "" {
		return "", netip.Addr{}, errors.New("must be an absolute http or https URL")
	}
	if strings.Contains(h, ":") { // an IPv6 literal, brackets already gone
		ip, err := netip.ParseAddr(h)
		if err != nil {
			return "", netip.Addr{}, fmt.Errorf("host %q is not a valid IPv6 address", h)
		}
		if ip.Zone() != "" {
			return "", netip.Addr{}, errors.New("an IPv6 zone is not allowed in a destination")
		}
		return ip.String(), ip, nil
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		return h, ip, nil
	}
	if len(h) > 253 {
		return "", netip.Addr{}, errors.New("host name is too long")
	}
	labels := strings.Split(h, ".")
	if isNumber(labels[len(labels)-1]) {
		return "", netip.Addr{}, fmt.Errorf("host %q is not a canonical IP address; write IPv4 addresses as four decimal numbers", h)
	}
	for _, l := range labels {
		if !isLabel(l) {
			return "", netip.Addr{}, fmt.Errorf("host %q is not a valid host name", h)
		}
	}
	return h, netip.Addr{}, nil
}

// isNumber reports whether a label reads as a number in the WHATWG URL
// standard's IPv4 parser (and inet_aton): decimal, 0-prefixed octal, or
// 0x-prefixed hexadecimal.
func isNumber(l string) bool {
	if l == "" {
		return false
	}
	digits := "0123456789"
	if len(l) >= 2 && l[0] == '0' && l[1] == 'x' {
		l, digits = l[2:], "0123456789abcdef"
	}
	for _, c := range l {
		if !strings.ContainsRune(digits, c) {
			return false
		}
	}
	return true
}

func isLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for _, c := range l {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// isLocalName reports names that always mean this machine (RFC 6761).
func isLocalName(h string) bool {
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}

// matchHost matches a canonical host against a pattern: "*" is any host,
// "*.example.com" any name below example.com (not example.com itself),
// anything else that exact host.
func matchHost(pattern, host string) bool {
	p := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(pattern)), ".")
	if ip, err := netip.ParseAddr(p); err == nil {
		p = ip.String()
	}
	switch {
	case p == "*":
		return true
	case strings.HasPrefix(p, "*."):
		return len(host) > len(p)-1 && strings.HasSuffix(host, p[1:])
	}
	return host == p
}

// CheckHostPattern reports whether p is a valid egress.hosts pattern: "*",
// "*." followed by a name of at least two labels, a host name, or an IP
// address written canonically.
func CheckHostPattern(p string) error {
	if p == "*" {
		return nil
	}
	name, wild := strings.CutPrefix(p, "*.")
	if strings.Contains(name, "*") {
		return fmt.Errorf("%q: a wildcard may only be \"*\" or a leading \"*.\"", p)
	}
	host, ip, err := canonicalHost(name)
	if err != nil {
		return fmt.Errorf("%q: %w", p, err)
	}
	if wild && (ip.IsValid() || !strings.Contains(host, ".")) {
		return fmt.Errorf("%q: \"*.\" must be followed by a domain of at least two labels", p)
	}
	return nil
}

// addrClass is what an address may be used for.
type addrClass int

const (
	classPublic    addrClass = iota
	classPrivate             // only with AllowPrivate
	classForbidden           // never
)

func prefixes(ss ...string) []netip.Prefix {
	ps := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		ps[i] = netip.MustParsePrefix(s)
	}
	return ps
}

var (
	// Never a destination, whatever the config says (IANA special-purpose
	// registries, RFC 6890 and successors).
	forbidden4 = prefixes(
		"0.0.0.0/8",          // "this network", 0.0.0.0 reaches this host
		"169.254.0.0/16",     // link-local: cloud metadata (169.254.169.254, ECS 169.254.170.2)
		"100.100.100.200/32", // Alibaba Cloud metadata, inside CGNAT space
		"224.0.0.0/4",        // multicast
		"240.0.0.0/4",        // reserved, and 255.255.255.255 broadcast
	)
	forbidden6 = prefixes(
		"::/128",            // unspecified
		"100::/64",          // discard-only
		"fe80::/10",         // link-local
		"ff00::/8",          // multicast
		"fd00:ec2::254/128", // AWS instance metadata over IPv6
	)
	// Loopback, private and otherwise not globally reachable: allowed
	// with AllowPrivate.
	private4 = prefixes(
		"127.0.0.0/8",     // loopback
		"10.0.0.0/8",      // RFC 1918
		"172.16.0.0/12",   // RFC 1918
		"192.168.0.0/16",  // RFC 1918
		"100.64.0.0/10",   // shared address space (CGNAT)
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation (TEST-NET-1)
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation (TEST-NET-2)
		"203.0.113.0/24",  // documentation (TEST-NET-3)
	)
	private6 = prefixes(
		"::1/128",       // loopback
		"fc00::/7",      // unique local
		"fec0::/10",     // site-local (deprecated)
		"2001::/23",     // IETF protocol assignments (Teredo handled apart)
		"2001:db8::/32", // documentation
	)
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
	nat64          = netip.MustParsePrefix("64:ff9b::/96")    // RFC 6052: a public v4 is public
	nat64Local     = netip.MustParsePrefix("64:ff9b:1::/48")  // RFC 8215: local use
	compat4        = netip.MustParsePrefix("::/96")           // deprecated IPv4-compatible
	translated4    = netip.MustParsePrefix("::ffff:0:0:0/96") // SIIT IPv4-translated
	sixToFour      = netip.MustParsePrefix("2002::/16")       // 6to4: v4 in bits 16-47
	teredo         = netip.MustParsePrefix("2001::/32")       // client v4, inverted, in the last 32 bits
)

// classify says what ip may be used for. IPv6 forms that carry an IPv4
// address (mapped, compatible, translated, NAT64, 6to4, Teredo) are
// judged by that address as well, so [::ffff:127.0.0.1] is loopback.
func classify(ip netip.Addr) addrClass {
	ip = ip.WithZone("") // Prefix.Contains never matches a zoned address
	if !ip.IsValid() {
		return classForbidden
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return classify4(ip)
	}
	b := ip.As16()
	last4 := netip.AddrFrom4([4]byte(b[12:16]))
	switch {
	case ip.IsUnspecified():
		return classForbidden
	case ip.IsLoopback():
		return classPrivate
	case compat4.Contains(ip), translated4.Contains(ip), nat64.Contains(ip):
		return classify4(last4)
	case nat64Local.Contains(ip):
		return max(classPrivate, classify4(last4))
	case sixToFour.Contains(ip):
		return classify4(netip.AddrFrom4([4]byte(b[2:6])))
	case teredo.Contains(ip):
		return max(classPrivate, classify4(netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]})))
	}
	for _, p := range forbidden6 {
		if p.Contains(ip) {
			return classForbidden
		}
	}
	for _, p := range private6 {
		if p.Contains(ip) {
			return classPrivate
		}
	}
	if !globalUnicast6.Contains(ip) {
		return classForbidden // unallocated or reserved
	}
	return classPublic
}

func classify4(ip netip.Addr) addrClass {
	for _, p := range forbidden4 {
		if p.Contains(ip) {
			return classForbidden
		}
	}
	for _, p := range private4 {
		if p.Contains(ip) {
			return classPrivate
		}
	}
	return classPublic
}

// IsPrivateHost reports whether host is, as written, a loopback or private
// address or a name for this machine (localhost): what egress.allow_private
// governs. Names are not resolved.
func IsPrivateHost(host string) bool {
	h, ip, err := canonicalHost(host)
	if err != nil {
		return false
	}
	if ip.IsValid() {
		return classify(ip) != classPublic
	}
	return isLocalName(h)
}

// Dialler settings, as net/http's DefaultTransport has them.
const (
	dialTimeout         = 30 * time.Second
	dialKeepAlive       = 30 * time.Second
	idleConnTimeout     = 90 * time.Second
	tlsHandshakeTimeout = 10 * time.Second
	maxIdleConns        = 100
)

// NewClient returns the HTTP client every adapter sends with. It never
// follows redirects (a webhook that redirects is misconfigured, and
// following it could leak the payload), uses no proxy from the environment
// (the address check must see the address dialled), and holds every
// request to e: before the request (Check, with the allowlist of the type
// ForType binds; an unbound client sends nothing) and at dial time, on
// each address the name resolved to. A refusal is a final *Error, never
// retried.
func NewClient(timeout time.Duration, e Egress) *http.Client {
	return &http.Client{
		Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		Transport: &guard{
			egress: e,
			tls:    e.transport(false),
			plain:  e.transport(true),
		},
	}
}

// Client is NewClient with the default egress rules: https only, public
// addresses only, each type's default hosts. A local test sink needs
// NewClient(timeout, Egress{AllowPrivate: true}).
func Client(timeout time.Duration) *http.Client { return NewClient(timeout, Egress{}) }

// ForType returns c held, in addition, to the host allowlist of
// destination type typ. It shares c's connections. c must come from
// NewClient or Client: a client without the dial-time guard is refused.
func ForType(c *http.Client, typ string) (*http.Client, error) {
	g, ok := c.Transport.(*guard)
	if !ok {
		return nil, errors.New("http client was not built by notify.NewClient")
	}
	bound := *g
	bound.typ = typ
	cc := *c
	cc.Transport = &bound
	return &cc, nil
}

// guard checks each request, then hands it to the transport for its
// scheme; each transport's dialer checks the address dialled.
type guard struct {
	egress Egress
	typ    string
	tls    *http.Transport // https
	plain  *http.Transport // http: its dialer also refuses public addresses unless AllowHTTP
}

func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	err := g.egress.check(g.typ, req.URL)
	if g.typ == "" {
		// Unbound, no allowlist would apply: an adapter that forgot
		// ForType fails loudly instead.
		err = errors.New("the client is not bound to a destination type (notify.ForType)")
	}
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close() // a RoundTripper closes the body, even on error
		}
		return nil, &Error{Reason: "egress refused: " + err.Error()}
	}
	if req.URL.Scheme == "http" {
		return g.plain.RoundTrip(req)
	}
	return g.tls.RoundTrip(req)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach both
// transports.
func (g *guard) CloseIdleConnections() {
	g.tls.CloseIdleConnections()
	g.plain.CloseIdleConnections()
}

// transport is an http.Transport whose dialer refuses what e does not
// allow. plain: the connections carry plain http.
func (e Egress) transport(plain bool) *http.Transport {
	d := &net.Dialer{
		Timeout:   dialTimeout,
		KeepAlive: dialKeepAlive,
		// Control runs after DNS, on each address about to be dialled:
		// what is checked is what is connected to.
		Control: func(network, address string, _ syscall.RawConn) error {
			return e.checkDial(plain, network, address)
		},
	}
	dial := d.DialContext
	if e.lookup != nil {
		dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			ips, err := e.lookup(ctx, host)
			if err != nil {
				return nil, err
			}
			err = errors.New("no addresses")
			for _, ip := range ips {
				var c net.Conn
				if c, err = d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port)); err == nil {
					return c, nil
				}
			}
			return nil, err
		}
	}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           dial,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          maxIdleConns,
		IdleConnTimeout:       idleConnTimeout,
		TLSHandshakeTimeout:   tlsHandshakeTimeout,
		ExpectContinueTimeout: time.Second,
	}
}

// checkDial is the dial-time rule on "ip:port" as net.Dialer.Control sees
// it. The error is a final *Error.
func (e Egress) checkDial(plain bool, network, address string) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || (network != "tcp4" && network != "tcp6") {
		return &Error{Reason: "egress refused: cannot check the address dialled"}
	}
	ip := ap.Addr() // classify sees through zones and IPv4-mapped forms
	switch classify(ip) {
	case classForbidden:
		return &Error{Reason: fmt.Sprintf("egress refused: %s is a link-local, multicast, broadcast, unspecified or reserved address", ip)}
	case classPrivate:
		if !e.AllowPrivate {
			return &Error{Reason: fmt.Sprintf("egress refused: %s is a loopback or private address (egress.allow_private is off)", ip)}
		}
	case classPublic:
		if plain && !e.AllowHTTP {
			return &Error{Reason: fmt.Sprintf("egress refused: plain http to the public address %s (egress.allow_http is off)", ip)}
		}
	}
	return nil
}
