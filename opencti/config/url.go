package config

import (
	"net/url"
	"strings"

	"github.com/riskiq-opencti/connectors/opencti/scrub"
)

// The reasons of BaseURLReason.
const (
	reasonURLNotHTTP  = "must be an http:// or https:// URL with a host"
	reasonURLUserInfo = "must not contain a user name or password"
	reasonURLQuery    = "must not contain a query or fragment"
)

// BaseURLReason returns why raw is not acceptable as the base URL of an
// HTTP API, "" when it is: it must be an http:// or https:// URL with a host,
// without a user name or password (an "@" anywhere counts: a password with an
// unescaped "/", "?" or "#" leaves it outside the user info), query or
// fragment (paths are appended to a base, and a query would be printed with
// every error). It never touches the network.
func BaseURLReason(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		return reasonURLNotHTTP
	case u.User != nil || strings.Contains(raw, "@"):
		return reasonURLUserInfo
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return reasonURLQuery
	}
	return ""
}

// CheckBaseURL returns the problem of the setting env (config.yml: key) when
// raw is not acceptable as a base URL ([BaseURLReason]), nil when it is. The
// problem shows raw through [scrub.URL], so that credentials or a query in it
// are not printed, and its reason ends with hint, e.g.
// ", e.g. https://api.example.com/v2".
func CheckBaseURL(env, key, raw, hint string) *Problem {
	reason := BaseURLReason(raw)
	if reason == "" {
		return nil
	}
	return &Problem{Env: env, Key: key, Value: scrub.URL(raw), Reason: reason + hint}
}
