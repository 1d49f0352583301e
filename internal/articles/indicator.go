package articles

import (
	"errors"
	"net/netip"
	"strings"
	"unicode"

	"github.com/riskiq-opencti/connectors/opencti/stix"
)

// value is one indicator value mapped to STIX.
type value struct {
	// pattern is the STIX pattern of the indicator.
	pattern string
	// mainType is x_opencti_main_observable_type of the indicator.
	mainType string
	// observable builds the observable; nil when the value has none with a
	// deterministic id (an X.509 certificate known by issuer or subject only).
	observable func(c stix.ObservableCommon) stix.Object
}

// mapFunc validates a trimmed value of one indicator type and maps it.
type mapFunc func(v string) (value, error)

// indicatorTypes maps the provider's indicator types (lower-cased, trimmed)
// to STIX, as the Python importer did (spec §3), plus IPv6 for "ip".
var indicatorTypes = map[string]mapFunc{
	"hash_md5":                            fileHash("MD5"),
	"hash_sha1":                           fileHash("SHA-1"),
	"sha1":                                fileHash("SHA-1"),
	"sha256":                              fileHash("SHA-256"),
	"hash_sha256":                         fileHash("SHA-256"),
	"domain":                              domainValue,
	"email":                               emailValue,
	"emails":                              emailValue,
	"filename":                            fileName,
	"filepath":                            fileName,
	"ip":                                  ipValue,
	"url":                                 urlValue,
	"process_mutex":                       mutexValue,
	"proces_mutex":                        mutexValue,
	"mutex":                               mutexValue,
	"certificate_sha1":                    certificateSHA1,
	"certificate_serialnumber":            certificateSerial,
	"code_certificate_serial":             certificateSerial,
	"certificate_issuerorganizationname":  certificateField("issuer"),
	"certificate_issuercommonname":        certificateField("issuer"),
	"certificate_subjectorganizationname": certificateField("subject"),
	"certificate_subjectcountry":          certificateField("subject"),
	"certificate_subjectcommonname":       certificateField("subject"),
}

// Main observable types (x_opencti_main_observable_type).
const (
	mainFile   = "StixFile"
	mainDomain = "Domain-Name"
	mainEmail  = "Email-Addr"
	mainIPv4   = "IPv4-Addr"
	mainIPv6   = "IPv6-Addr"
	mainURL    = "Url"
	mainMutex  = "Mutex"
	mainX509   = "X509-Certificate"
)

// Reasons a value is skipped.
var (
	errEmpty      = errors.New("empty value")
	errControl    = errors.New("value contains control characters")
	errNotIP      = errors.New("not an IPv4 or IPv6 address or network")
	errNotDomain  = errors.New("not a domain name")
	errNotEmail   = errors.New("not an e-mail address")
	errWhitespace = errors.New("value contains white space")
)

// pattern returns the STIX pattern comparing path with the string literal v,
// quotes and backslashes escaped as the STIX patterning grammar requires.
func pattern(path, v string) string {
	var b strings.Builder
	b.Grow(len(path) + len(v) + 8)
	b.WriteString("[")
	b.WriteString(path)
	b.WriteString(" = '")
	for _, r := range v {
		if r == '\'' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteString("']")
	return b.String()
}

// checkText rejects control characters, which no indicator value holds.
func checkText(v string) error {
	for _, r := range v {
		if unicode.IsControl(r) {
			return errControl
		}
	}
	return nil
}

func hasSpace(v string) bool { return strings.IndexFunc(v, unicode.IsSpace) >= 0 }

func fileHash(alg string) mapFunc {
	path := "file:hashes.'" + alg + "'"
	return func(v string) (value, error) {
		f, err := stix.NewFile("", map[string]string{alg: v})
		if err != nil {
			return value{}, err
		}
		return value{pattern: pattern(path, v), mainType: mainFile, observable: func(c stix.ObservableCommon) stix.Object {
			f.ObservableCommon = c
			return f
		}}, nil
	}
}

func fileName(v string) (value, error) {
	f, err := stix.NewFile(v, nil)
	if err != nil {
		return value{}, err
	}
	return value{pattern: pattern("file:name", v), mainType: mainFile, observable: func(c stix.ObservableCommon) stix.Object {
		f.ObservableCommon = c
		return f
	}}, nil
}

// ipValue maps an "ip" value: IPv6 addresses and networks become IPv6-Addr,
// IPv4 ones IPv4-Addr. The value is kept as written.
func ipValue(v string) (value, error) {
	var is6 bool
	if a, err := netip.ParseAddr(v); err == nil {
		is6 = a.Is6()
	} else if p, err := netip.ParsePrefix(v); err == nil {
		is6 = p.Addr().Is6()
	} else {
		return value{}, errNotIP
	}
	if is6 {
		return value{pattern: pattern("ipv6-addr:value", v), mainType: mainIPv6, observable: func(c stix.ObservableCommon) stix.Object {
			o := stix.NewIPv6Addr(v)
			o.ObservableCommon = c
			return o
		}}, nil
	}
	return value{pattern: pattern("ipv4-addr:value", v), mainType: mainIPv4, observable: func(c stix.ObservableCommon) stix.Object {
		o := stix.NewIPv4Addr(v)
		o.ObservableCommon = c
		return o
	}}, nil
}

// validDomain accepts host names: dot-separated labels of 1 to 63 letters,
// digits, hyphens, underscores or non-ASCII characters (IDNs), 253
// characters at most.
func validDomain(v string) bool {
	if len(v) > 253 {
		return false
	}
	for label := range strings.SplitSeq(v, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r == '_' || r > unicode.MaxASCII && unicode.IsPrint(r) ||
				'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
				return false
			}
		}
	}
	return true
}

func domainValue(v string) (value, error) {
	if !validDomain(v) {
		return value{}, errNotDomain
	}
	return value{pattern: pattern("domain-name:value", v), mainType: mainDomain, observable: func(c stix.ObservableCommon) stix.Object {
		o := stix.NewDomainName(v)
		o.ObservableCommon = c
		return o
	}}, nil
}

func emailValue(v string) (value, error) {
	local, domain, ok := strings.Cut(v, "@")
	if !ok || local == "" || hasSpace(local) || strings.Contains(domain, "@") || !validDomain(domain) {
		return value{}, errNotEmail
	}
	return value{pattern: pattern("email-addr:value", v), mainType: mainEmail, observable: func(c stix.ObservableCommon) stix.Object {
		o := stix.NewEmailAddr(v)
		o.ObservableCommon = c
		return o
	}}, nil
}

func urlValue(v string) (value, error) {
	if hasSpace(v) {
		return value{}, errWhitespace
	}
	return value{pattern: pattern("url:value", v), mainType: mainURL, observable: func(c stix.ObservableCommon) stix.Object {
		o := stix.NewURL(v)
		o.ObservableCommon = c
		return o
	}}, nil
}

func mutexValue(v string) (value, error) {
	return value{pattern: pattern("mutex:name", v), mainType: mainMutex, observable: func(c stix.ObservableCommon) stix.Object {
		o := stix.NewMutex(v)
		o.ObservableCommon = c
		return o
	}}, nil
}

func certificateSHA1(v string) (value, error) {
	x, err := stix.NewX509Certificate(map[string]string{"SHA-1": v}, "")
	if err != nil {
		return value{}, err
	}
	return value{pattern: pattern("x509-certificate:hashes.'SHA-1'", v), mainType: mainX509, observable: func(c stix.ObservableCommon) stix.Object {
		x.ObservableCommon = c
		return x
	}}, nil
}

func certificateSerial(v string) (value, error) {
	if hasSpace(v) {
		return value{}, errWhitespace
	}
	x, err := stix.NewX509Certificate(nil, v)
	if err != nil {
		return value{}, err
	}
	return value{pattern: pattern("x509-certificate:serial_number", v), mainType: mainX509, observable: func(c stix.ObservableCommon) stix.Object {
		x.ObservableCommon = c
		return x
	}}, nil
}

// certificateField maps an issuer or subject value: an indicator only, since
// an x509-certificate without hashes or serial number has a random id in
// STIX and would be created again by every run.
func certificateField(field string) mapFunc {
	path := "x509-certificate:" + field
	return func(v string) (value, error) {
		return value{pattern: pattern(path, v), mainType: mainX509}, nil
	}
}

// mapValue trims and maps one value of a known indicator type.
func mapValue(fn mapFunc, raw string) (string, value, error) {
	v := strings.TrimSpace(raw)
	if v == "" {
		return v, value{}, errEmpty
	}
	if err := checkText(v); err != nil {
		return v, value{}, err
	}
	m, err := fn(v)
	return v, m, err
}

// normalizeType returns the lookup form of an indicator type.
func normalizeType(t string) string { return strings.ToLower(strings.TrimSpace(t)) }
