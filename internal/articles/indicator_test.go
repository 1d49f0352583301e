package articles

import (
	"errors"
	"strings"
	"testing"

	"github.com/riskiq-opencti/connectors/opencti/stix"
)

func TestIndicatorTypes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ, value string
		pattern    string // "" means the value is skipped
		mainType   string
		observable string // id of the observable, "" for none
		reason     error  // the reason when skipped, if a package error
	}{
		{typ: "hash_md5", value: "5d41402abc4b2a76b9719d911017c592", pattern: "[file:hashes.'MD5' = '5d41402abc4b2a76b9719d911017c592']", mainType: "StixFile",
			observable: mustFile(t, "", map[string]string{"MD5": "5d41402abc4b2a76b9719d911017c592"})},
		{typ: "hash_md5", value: "5d41402abc4b2a76b9719d911017c59", pattern: ""},
		{typ: "hash_sha1", value: "da39a3ee5e6b4b0d3255bfef95601890afd80709", pattern: "[file:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']", mainType: "StixFile",
			observable: mustFile(t, "", map[string]string{"SHA-1": "da39a3ee5e6b4b0d3255bfef95601890afd80709"})},
		{typ: "sha1", value: "da39a3ee5e6b4b0d3255bfef95601890afd80709", pattern: "[file:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']", mainType: "StixFile",
			observable: mustFile(t, "", map[string]string{"SHA-1": "da39a3ee5e6b4b0d3255bfef95601890afd80709"})},
		{typ: "sha256", value: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", pattern: "[file:hashes.'SHA-256' = '2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae']", mainType: "StixFile",
			observable: mustFile(t, "", map[string]string{"SHA-256": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"})},
		{typ: "hash_sha256", value: "zz26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", pattern: ""},
		{typ: "domain", value: "example.com", pattern: "[domain-name:value = 'example.com']", mainType: "Domain-Name", observable: stix.NewDomainName("example.com").ID()},
		{typ: "domain", value: "xn--bcher-kva.example", pattern: "[domain-name:value = 'xn--bcher-kva.example']", mainType: "Domain-Name", observable: stix.NewDomainName("xn--bcher-kva.example").ID()},
		{typ: "domain", value: "bücher.example", pattern: "[domain-name:value = 'bücher.example']", mainType: "Domain-Name", observable: stix.NewDomainName("bücher.example").ID()},
		{typ: "domain", value: "a..example", reason: errNotDomain},
		{typ: "domain", value: "http://example.com/", reason: errNotDomain},
		{typ: "domain", value: "it's.example", reason: errNotDomain},
		{typ: "email", value: "a@example.com", pattern: "[email-addr:value = 'a@example.com']", mainType: "Email-Addr", observable: stix.NewEmailAddr("a@example.com").ID()},
		{typ: "emails", value: "O'Neil@example.com", pattern: `[email-addr:value = 'O\'Neil@example.com']`, mainType: "Email-Addr", observable: stix.NewEmailAddr("O'Neil@example.com").ID()},
		{typ: "email", value: "a@b@example.com", reason: errNotEmail},
		{typ: "email", value: "@example.com", reason: errNotEmail},
		{typ: "filename", value: "evil.exe", pattern: "[file:name = 'evil.exe']", mainType: "StixFile", observable: mustFile(t, "evil.exe", nil)},
		{typ: "filepath", value: `C:\Temp\it's.exe`, pattern: `[file:name = 'C:\\Temp\\it\'s.exe']`, mainType: "StixFile", observable: mustFile(t, `C:\Temp\it's.exe`, nil)},
		{typ: "ip", value: "8.8.8.8", pattern: "[ipv4-addr:value = '8.8.8.8']", mainType: "IPv4-Addr", observable: "ipv4-addr--2f689bf9-0ff2-545f-aa61-e495eb8cecc7"},
		{typ: "ip", value: "10.0.0.0/8", pattern: "[ipv4-addr:value = '10.0.0.0/8']", mainType: "IPv4-Addr", observable: stix.NewIPv4Addr("10.0.0.0/8").ID()},
		{typ: "ip", value: "2001:db8::1", pattern: "[ipv6-addr:value = '2001:db8::1']", mainType: "IPv6-Addr", observable: "ipv6-addr--6469e3a9-b053-5e34-a025-9396ae051d26"},
		{typ: "ip", value: "::ffff:192.0.2.1", pattern: "[ipv6-addr:value = '::ffff:192.0.2.1']", mainType: "IPv6-Addr", observable: stix.NewIPv6Addr("::ffff:192.0.2.1").ID()},
		{typ: "ip", value: "2001:db8::/48", pattern: "[ipv6-addr:value = '2001:db8::/48']", mainType: "IPv6-Addr", observable: stix.NewIPv6Addr("2001:db8::/48").ID()},
		{typ: "ip", value: "256.1.1.1", reason: errNotIP},
		{typ: "ip", value: "[2001:db8::45]:443", reason: errNotIP},
		{typ: "url", value: "https://example.com/a", pattern: "[url:value = 'https://example.com/a']", mainType: "Url", observable: "url--6ccd10ff-4c3f-5062-a19f-b6bd987c6637"},
		{typ: "url", value: "https://example.com/a b", reason: errWhitespace},
		{typ: "process_mutex", value: `Global\x`, pattern: `[mutex:name = 'Global\\x']`, mainType: "Mutex", observable: stix.NewMutex(`Global\x`).ID()},
		{typ: "proces_mutex", value: "m", pattern: "[mutex:name = 'm']", mainType: "Mutex", observable: stix.NewMutex("m").ID()},
		{typ: "mutex", value: "with space", pattern: "[mutex:name = 'with space']", mainType: "Mutex", observable: stix.NewMutex("with space").ID()},
		{typ: "certificate_sha1", value: "1f3a9c27d8b0e6f45a2c7d91b3e8f0a4c6d2e9b7", pattern: "[x509-certificate:hashes.'SHA-1' = '1f3a9c27d8b0e6f45a2c7d91b3e8f0a4c6d2e9b7']", mainType: "X509-Certificate",
			observable: mustCert(t, map[string]string{"SHA-1": "1f3a9c27d8b0e6f45a2c7d91b3e8f0a4c6d2e9b7"}, "")},
		{typ: "certificate_sha1", value: "1f3a", pattern: ""},
		{typ: "certificate_serialnumber", value: "0x03a1", pattern: "[x509-certificate:serial_number = '0x03a1']", mainType: "X509-Certificate", observable: mustCert(t, nil, "0x03a1")},
		{typ: "code_certificate_serial", value: "03:a1", pattern: "[x509-certificate:serial_number = '03:a1']", mainType: "X509-Certificate", observable: mustCert(t, nil, "03:a1")},
		{typ: "certificate_issuerorganizationname", value: "Let's Encrypt", pattern: `[x509-certificate:issuer = 'Let\'s Encrypt']`, mainType: "X509-Certificate"},
		{typ: "certificate_issuercommonname", value: "R3", pattern: "[x509-certificate:issuer = 'R3']", mainType: "X509-Certificate"},
		{typ: "certificate_subjectorganizationname", value: "ACME", pattern: "[x509-certificate:subject = 'ACME']", mainType: "X509-Certificate"},
		{typ: "certificate_subjectcountry", value: "PA", pattern: "[x509-certificate:subject = 'PA']", mainType: "X509-Certificate"},
		{typ: "certificate_subjectcommonname", value: "*.example.com", pattern: "[x509-certificate:subject = '*.example.com']", mainType: "X509-Certificate"},
		{typ: "domain", value: "   ", reason: errEmpty},
		{typ: "mutex", value: "a\x00b", reason: errControl},
	}
	for _, tt := range tests {
		fn, ok := indicatorTypes[tt.typ]
		if !ok {
			t.Fatalf("type %q is not mapped", tt.typ)
		}
		_, v, err := mapValue(fn, tt.value)
		if tt.pattern == "" {
			if err == nil {
				t.Errorf("map(%s, %q) = %q, want the value skipped", tt.typ, tt.value, v.pattern)
			} else if tt.reason != nil && !errors.Is(err, tt.reason) {
				t.Errorf("map(%s, %q) error = %v, want %v", tt.typ, tt.value, err, tt.reason)
			}
			continue
		}
		if err != nil {
			t.Errorf("map(%s, %q) = %v", tt.typ, tt.value, err)
			continue
		}
		if v.pattern != tt.pattern || v.mainType != tt.mainType {
			t.Errorf("map(%s, %q) = %q, %q, want %q, %q", tt.typ, tt.value, v.pattern, v.mainType, tt.pattern, tt.mainType)
		}
		switch {
		case tt.observable == "" && v.observable != nil:
			t.Errorf("map(%s, %q) has an observable, want none", tt.typ, tt.value)
		case tt.observable != "" && v.observable == nil:
			t.Errorf("map(%s, %q) has no observable, want %s", tt.typ, tt.value, tt.observable)
		case tt.observable != "":
			if got := v.observable(stix.ObservableCommon{}).ID(); got != tt.observable {
				t.Errorf("map(%s, %q) observable = %s, want %s", tt.typ, tt.value, got, tt.observable)
			}
		}
	}
	// Every type of the table is mapped.
	for _, typ := range strings.Fields(`hash_md5 hash_sha1 sha1 sha256 hash_sha256 domain email emails filename filepath ip url
		process_mutex proces_mutex mutex certificate_sha1 certificate_serialnumber code_certificate_serial
		certificate_issuerorganizationname certificate_issuercommonname certificate_subjectorganizationname
		certificate_subjectcountry certificate_subjectcommonname`) {
		if _, ok := indicatorTypes[typ]; !ok {
			t.Errorf("type %s is not mapped", typ)
		}
	}
	if len(indicatorTypes) != 23 {
		t.Errorf("%d mapped types, want the 23 of the Python importer", len(indicatorTypes))
	}
}

func TestPatternEscaping(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`plain`:         `[x:y = 'plain']`,
		`it's`:          `[x:y = 'it\'s']`,
		`a\b`:           `[x:y = 'a\\b']`,
		`\'`:            `[x:y = '\\\'']`,
		`"double" é 日本`: `[x:y = '"double" é 日本']`,
	} {
		if got := pattern("x:y", in); got != want {
			t.Errorf("pattern(%q) = %s, want %s", in, got, want)
		}
	}
}

func mustFile(t *testing.T, name string, hashes map[string]string) string {
	t.Helper()
	f, err := stix.NewFile(name, hashes)
	if err != nil {
		t.Fatal(err)
	}
	return f.ID()
}

func mustCert(t *testing.T, hashes map[string]string, serial string) string {
	t.Helper()
	c, err := stix.NewX509Certificate(hashes, serial)
	if err != nil {
		t.Fatal(err)
	}
	return c.ID()
}
