package notify

import (
	"errors"
	"net/url"
	"strings"
)

// A platform's answer may quote the request back (its URL, its
// Authorization header), and Post copies the answer's first line into the
// error's reason, which ends up in logs, the deliveries API and the CLI.
// Post therefore removes the URL's credentials from every reason, and an
// adapter that adds credentials of its own removes them with Redact.

// urlSecrets are the parts of a webhook URL that hold its credentials: the
// path (Slack's and the connectors' tokens), the query (Workflows' sig=),
// and the "sig=" key itself, in case only a piece is quoted.
func urlSecrets(rawURL string) []string {
	secrets := []string{"sig="}
	if u, err := url.Parse(rawURL); err == nil {
		if p := u.EscapedPath(); len(p) > 1 {
			secrets = append(secrets, p, u.Path)
		}
		if u.RawQuery != "" {
			secrets = append(secrets, u.RawQuery)
		}
	}
	return secrets
}

// Redact removes every secret from err's reason when err is an *Error: from
// wherever one starts, the text up to the next space becomes "***" (an
// answer may quote a secret cut short or followed by more of the URL).
// Empty secrets are ignored. It returns err.
func Redact(err error, secrets ...string) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	e.Reason = redact(e.Reason, secrets)
	return err
}

func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		for range 8 { // a bound, in case a secret holds "***"
			i := strings.Index(s, sec)
			if i < 0 {
				break
			}
			end := strings.IndexAny(s[i:], " \t")
			if end < 0 {
				end = len(s) - i
			}
			s = s[:i] + "***" + s[i+end:]
		}
	}
	return s
}
