// Package origin compares URL origins (scheme, host and port) so that HTTP
// clients never send credentials to another origin than the one configured:
// net/http keeps the Authorization header on a redirect to another port of
// the same host, and custom headers on any redirect.
package origin

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// MaxRedirects is how many redirects [CheckRedirect] follows when the caller
// has no policy of its own (net/http's default).
const MaxRedirects = 10

// Of returns scheme://host:port of u, lower-cased, with the default port of
// http and https made explicit.
func Of(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// Same reports whether a and b have the same origin.
func Same(a, b *url.URL) bool { return Of(a) == Of(b) }

// CheckRedirect returns an http.Client CheckRedirect function that refuses a
// redirect leaving the first request's origin with an error wrapping refused,
// then applies next (the caller's policy, or a limit of [MaxRedirects] when
// nil).
func CheckRedirect(refused error, next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) > 0 && !Same(req.URL, via[0].URL) {
			return fmt.Errorf("%w (to %s)", refused, Of(req.URL))
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= MaxRedirects {
			return fmt.Errorf("stopped after %d redirects", MaxRedirects)
		}
		return nil
	}
}
