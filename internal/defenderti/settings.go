package defenderti

import (
	"encoding/pem"
	"errors"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/riskiq-opencti/connectors/internal/launch"
	"github.com/riskiq-opencti/connectors/opencti/config"
	"github.com/riskiq-opencti/connectors/opencti/scrub"
)

// Setting defaults (spec §0.3, §6.3).
const (
	// DefaultBaseURL is the Microsoft Graph root, version segment included.
	DefaultBaseURL = "https://graph.microsoft.com/v1.0"
	// DefaultAuthorityURL is the Entra ID (global cloud) authority host.
	DefaultAuthorityURL = "https://login.microsoftonline.com"
	// DefaultPageSize is the $top sent on list calls.
	DefaultPageSize = 100
	// MaxPageSize bounds DEFENDER_TI_PAGE_SIZE (the API documents no maximum).
	MaxPageSize = 1000
	// DefaultMaxRecords caps the records of one passive DNS lookup and the
	// indicators of one article.
	DefaultMaxRecords = 10000
	// MaxMaxRecords bounds DEFENDER_TI_MAX_RECORDS.
	MaxMaxRecords = 1_000_000
	// Scope is the OAuth scope of every token: Microsoft Graph, app-only.
	Scope = "https://graph.microsoft.com/.default"
)

// Environment variables and config.yml keys of the settings.
const (
	EnvSource            = "RISKIQ_SOURCE"
	KeySource            = "riskiq.source"
	EnvTenantID          = "DEFENDER_TI_TENANT_ID"
	KeyTenantID          = "defender_ti.tenant_id"
	EnvClientID          = "DEFENDER_TI_CLIENT_ID"
	KeyClientID          = "defender_ti.client_id"
	EnvClientSecret      = "DEFENDER_TI_CLIENT_SECRET"
	KeyClientSecret      = "defender_ti.client_secret"
	EnvClientCertificate = "DEFENDER_TI_CLIENT_CERTIFICATE"
	KeyClientCertificate = "defender_ti.client_certificate"
	EnvBaseURL           = "DEFENDER_TI_BASE_URL"
	KeyBaseURL           = "defender_ti.base_url"
	EnvAuthorityURL      = "DEFENDER_TI_AUTHORITY_URL"
	KeyAuthorityURL      = "defender_ti.authority_url"
	EnvPageSize          = "DEFENDER_TI_PAGE_SIZE"
	KeyPageSize          = "defender_ti.page_size"
	EnvMaxRecords        = "DEFENDER_TI_MAX_RECORDS"
	KeyMaxRecords        = "defender_ti.max_records"
)

// Settings are the Defender TI settings (the defender_ti section).
type Settings struct {
	// TenantID is DEFENDER_TI_TENANT_ID: the Entra ID tenant (directory) id,
	// a GUID or a verified domain name.
	TenantID string
	// ClientID is DEFENDER_TI_CLIENT_ID: the application (client) id of the
	// app registration.
	ClientID string
	// ClientSecret is DEFENDER_TI_CLIENT_SECRET: the client secret value;
	// empty when a certificate is used.
	ClientSecret config.Secret
	// ClientCertificate is DEFENDER_TI_CLIENT_CERTIFICATE: the path of a PEM
	// file holding the private key and the certificate; empty when a secret
	// is used.
	ClientCertificate string
	// BaseURL is DEFENDER_TI_BASE_URL: the Graph root with its version
	// segment, without a trailing slash.
	BaseURL string
	// AuthorityURL is DEFENDER_TI_AUTHORITY_URL: the https authority host,
	// without a path or trailing slash; tokens come from
	// {AuthorityURL}/{TenantID}/oauth2/v2.0/token.
	AuthorityURL string
	// PageSize is DEFENDER_TI_PAGE_SIZE, the $top of list calls.
	PageSize int
	// MaxRecords is DEFENDER_TI_MAX_RECORDS: records kept per passive DNS
	// lookup, indicators per article.
	MaxRecords int
}

// ReadSource returns RISKIQ_SOURCE (riskiq.source): SourcePassiveTotal (the
// default) or SourceDefender, read case-insensitively. Any other value is
// recorded as a problem in src and SourcePassiveTotal is returned.
func ReadSource(src *config.Source) string {
	raw := src.String(EnvSource, KeySource, SourcePassiveTotal)
	switch v := strings.ToLower(strings.TrimSpace(raw)); v {
	case SourcePassiveTotal, SourceDefender:
		return v
	}
	src.AddProblem(&config.Problem{Env: EnvSource, Key: KeySource, Value: raw,
		Reason: "must be " + SourcePassiveTotal + " or " + SourceDefender})
	return SourcePassiveTotal
}

// Variables returns the documentation rows of RISKIQ_SOURCE and the
// DEFENDER_TI_* settings, for the connectors' Variables tables (README and
// config.yml.sample are checked against them). Nothing is mandatory with the
// default source; the README says what the defender source requires.
func Variables() []launch.Variable {
	return []launch.Variable{
		{Env: EnvSource, Key: KeySource, Default: SourcePassiveTotal},
		{Env: EnvTenantID, Key: KeyTenantID},
		{Env: EnvClientID, Key: KeyClientID},
		{Env: EnvClientSecret, Key: KeyClientSecret},
		{Env: EnvClientCertificate, Key: KeyClientCertificate},
		{Env: EnvBaseURL, Key: KeyBaseURL, Default: DefaultBaseURL},
		{Env: EnvAuthorityURL, Key: KeyAuthorityURL, Default: DefaultAuthorityURL},
		{Env: EnvPageSize, Key: KeyPageSize, Default: strconv.Itoa(DefaultPageSize)},
		{Env: EnvMaxRecords, Key: KeyMaxRecords, Default: strconv.Itoa(DefaultMaxRecords)},
	}
}

// reservedTenants are tenant names the client-credentials grant refuses
// (AADSTS9001023) or that MSAL reads as another authority type.
var reservedTenants = map[string]bool{"common": true, "consumers": true, "organizations": true, "adfs": true, "dstsv2": true}

// LoadSettings reads the defender_ti section; call it only when ReadSource
// returned SourceDefender. Every invalid or missing value is recorded as a
// problem in src. It reads the certificate file, if one is named, to check
// that it holds a key and a certificate; it never touches the network.
func LoadSettings(src *config.Source) Settings {
	s := Settings{
		TenantID:          strings.TrimSpace(src.Required(EnvTenantID, KeyTenantID)),
		ClientID:          strings.TrimSpace(src.Required(EnvClientID, KeyClientID)),
		ClientSecret:      src.Secret(EnvClientSecret, KeyClientSecret, false),
		ClientCertificate: strings.TrimSpace(src.String(EnvClientCertificate, KeyClientCertificate, "")),
		BaseURL:           strings.TrimRight(strings.TrimSpace(src.String(EnvBaseURL, KeyBaseURL, DefaultBaseURL)), "/"),
		AuthorityURL:      strings.TrimRight(strings.TrimSpace(src.String(EnvAuthorityURL, KeyAuthorityURL, DefaultAuthorityURL)), "/"),
		PageSize:          src.Int(EnvPageSize, KeyPageSize, DefaultPageSize),
		MaxRecords:        src.Int(EnvMaxRecords, KeyMaxRecords, DefaultMaxRecords),
	}
	problem := func(env, key, value string, reason string) {
		src.AddProblem(&config.Problem{Env: env, Key: key, Value: value, Reason: reason})
	}

	if t := s.TenantID; t != "" {
		switch {
		case t == "ChangeMe":
			problem(EnvTenantID, KeyTenantID, t, "is still the sample value ChangeMe: set the Directory (tenant) ID of the Entra ID tenant")
		case reservedTenants[strings.ToLower(t)]:
			problem(EnvTenantID, KeyTenantID, t, "must be the tenant's own id (a GUID) or a verified domain name: the client-credentials grant is refused for "+t)
		case !validTenant(t):
			problem(EnvTenantID, KeyTenantID, t, "must be the Directory (tenant) ID, a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47, or a verified domain name such as contoso.onmicrosoft.com")
		}
	}
	if c := s.ClientID; c != "" {
		if _, err := uuid.Parse(c); err != nil || len(c) != 36 {
			problem(EnvClientID, KeyClientID, c, "must be the Application (client) ID of the app registration, a GUID such as 00001111-aaaa-2222-bbbb-3333cccc4444")
		}
	}

	secret := s.ClientSecret.Reveal()
	switch {
	case secret == "" && s.ClientCertificate == "":
		src.AddProblem(&config.Problem{Env: EnvClientSecret, Key: KeyClientSecret,
			Reason: "is required unless " + EnvClientCertificate + " (config.yml: " + KeyClientCertificate + ") names a certificate: set one of the two"})
	case secret != "" && s.ClientCertificate != "":
		src.AddProblem(&config.Problem{Env: EnvClientSecret, Key: KeyClientSecret,
			Reason: "must not be set together with " + EnvClientCertificate + " (config.yml: " + KeyClientCertificate + "): set only one of the two"})
	case secret == "ChangeMe":
		src.AddProblem(&config.Problem{Env: EnvClientSecret, Key: KeyClientSecret, Secret: true, Value: secret,
			Reason: "is still the sample value ChangeMe: set the client secret value (not its ID) of the app registration"})
	case s.ClientCertificate != "":
		if reason := checkCertificateFile(s.ClientCertificate); reason != "" {
			problem(EnvClientCertificate, KeyClientCertificate, s.ClientCertificate, reason)
		}
	}

	if reason := checkURL(s.BaseURL, false); reason != "" {
		s.BaseURL = scrub.URL(s.BaseURL)
		problem(EnvBaseURL, KeyBaseURL, s.BaseURL, reason+", e.g. "+DefaultBaseURL)
	} else if u, _ := url.Parse(s.BaseURL); u.Scheme == "http" && !isLoopback(u.Hostname()) {
		src.AddWarning(EnvBaseURL + " = " + strconv.Quote(s.BaseURL) + ": plain http beyond loopback sends the access token unencrypted; use https")
	}
	if reason := checkURL(s.AuthorityURL, true); reason != "" {
		s.AuthorityURL = scrub.URL(s.AuthorityURL)
		problem(EnvAuthorityURL, KeyAuthorityURL, s.AuthorityURL, reason+", e.g. "+DefaultAuthorityURL)
	}

	if s.PageSize < 1 || s.PageSize > MaxPageSize {
		problem(EnvPageSize, KeyPageSize, strconv.Itoa(s.PageSize), "must be between 1 and "+strconv.Itoa(MaxPageSize))
		s.PageSize = DefaultPageSize
	}
	if s.MaxRecords < 1 || s.MaxRecords > MaxMaxRecords {
		problem(EnvMaxRecords, KeyMaxRecords, strconv.Itoa(s.MaxRecords), "must be between 1 and "+strconv.Itoa(MaxMaxRecords))
		s.MaxRecords = DefaultMaxRecords
	}
	return s
}

// validTenant reports whether t is a GUID or a domain name: letters, digits,
// "-" and "." only (azidentity's own check), starting and ending with a
// letter or digit.
func validTenant(t string) bool {
	if len(t) > 253 {
		return false
	}
	for i, r := range t {
		alnum := 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
		if !alnum && ((r != '-' && r != '.') || i == 0 || i == len(t)-1) {
			return false
		}
	}
	return t != ""
}

// checkURL returns why raw is not acceptable as a base (authority: an https
// host without a path), "" when it is.
func checkURL(raw string, authority bool) string {
	if reason := config.BaseURLReason(raw); reason != "" {
		return reason
	}
	u, _ := url.Parse(raw) // BaseURLReason parsed it
	switch {
	case authority && u.Scheme != "https":
		return "must be an https:// URL (the Entra ID library refuses any other scheme)"
	case authority && u.Path != "":
		return "must be the authority host only, without a path: the tenant id is appended to it"
	}
	return ""
}

// isLoopback reports whether host is localhost or a loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkCertificateFile returns why the file at path cannot serve as the
// client certificate, "" when it holds a certificate and an unencrypted
// private key in PEM form.
func checkCertificateFile(path string) string {
	data, err := os.ReadFile(path) //nolint:gosec // G304: the operator names the file
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "must be the path of a readable PEM file holding the private key and the certificate (" + err.Error() + ")"
	}
	var hasCert, hasKey, encrypted bool
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case b.Type == "CERTIFICATE":
			hasCert = true
		case b.Type == "ENCRYPTED PRIVATE KEY" || b.Headers["Proc-Type"] == "4,ENCRYPTED":
			encrypted = true
		case strings.HasSuffix(b.Type, "PRIVATE KEY"):
			hasKey = true
		}
	}
	switch {
	case encrypted:
		return "holds an encrypted private key: store the key unencrypted (and protect the file instead)"
	case !hasCert && !hasKey:
		return "is not a PEM file holding a private key and a certificate"
	case !hasCert:
		return "holds no certificate (PEM block CERTIFICATE): put the key and the certificate in the same file"
	case !hasKey:
		return "holds no private key (PEM block PRIVATE KEY): put the key and the certificate in the same file"
	}
	return ""
}
