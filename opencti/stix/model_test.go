package stix

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/<name>, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// Every object type implements Object.
var (
	_ Object = (*Identity)(nil)
	_ Object = (*Indicator)(nil)
	_ Object = (*Report)(nil)
	_ Object = (*Malware)(nil)
	_ Object = (*IntrusionSet)(nil)
	_ Object = (*Tool)(nil)
	_ Object = (*Vulnerability)(nil)
	_ Object = (*AttackPattern)(nil)
	_ Object = (*Location)(nil)
	_ Object = (*Relationship)(nil)
	_ Object = (*MarkingDefinition)(nil)
	_ Object = (*IPv4Addr)(nil)
	_ Object = (*IPv6Addr)(nil)
	_ Object = (*DomainName)(nil)
	_ Object = (*EmailAddr)(nil)
	_ Object = (*URL)(nil)
	_ Object = (*Mutex)(nil)
	_ Object = (*File)(nil)
	_ Object = (*X509Certificate)(nil)
)

var fixedNow = time.Date(2024, 1, 15, 10, 30, 0, 123_000_000, time.UTC)

// sampleObjects builds one object of every kind the package offers, with most properties set.
func sampleObjects(t testing.TB) []Object {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	author := NewOrganization("RiskIQ PassiveTotal")
	author.Created = fixedNow
	author.Description = "RiskIQ PassiveTotal enrichment <connector> & friends"

	tlp, err := TLPMarking("white")
	must(err)
	marks := []string{tlp.ID()}

	ip := NewIPv4Addr("8.8.8.8")
	ip.ObjectMarkingRefs = marks
	ip.CreatedByRef = author.ID()
	ip.Extra = map[string]any{"x_opencti_main_observable_type": "IPv4-Addr"}

	ip6 := NewIPv6Addr("2001:db8::1")
	ip6.Score = new(70)
	ip6.Labels = []string{"dns"}

	domain := NewDomainName("example.com")
	domain.CreatedByRef = author.ID()
	domain.Description = "resolved by PassiveTotal"
	domain.ExternalReferences = []ExternalReference{{SourceName: "PassiveTotal", URL: "https://community.riskiq.com/search/example.com"}}

	email := NewEmailAddr("hostmaster@example.com")
	url := NewURL("https://example.com/a?b=1&c=<2>")
	mutex := NewMutex("Global\\Mutex")

	file, err := NewFile("a.exe", map[string]string{
		"md5":     "d41d8cd98f00b204e9800998ecf8427e",
		"SHA-256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	})
	must(err)
	cert, err := NewX509Certificate(map[string]string{"SHA-1": "da39a3ee5e6b4b0d3255bfef95601890afd80709"}, "01:02")
	must(err)
	cert.Issuer = "CN=Example CA"
	cert.Subject = "CN=example.com"
	cert.ValidityNotBefore = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	cert.ValidityNotAfter = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

	ind := NewIndicator("[ipv4-addr:value = '8.8.8.8']", "stix", fixedNow)
	ind.Created = fixedNow
	ind.Name = "8.8.8.8"
	ind.MainObservableType = "IPv4-Addr"
	ind.Score = new(50)
	ind.Labels = []string{"malicious-activity"}
	ind.ObjectMarkingRefs = marks

	start := NaiveTime(time.Date(2023, 5, 1, 10, 20, 30, 0, time.UTC))
	rel, err := NewRelationship("resolves-to", domain.ID(), ip.ID(), &start, nil)
	must(err)
	rel.StopTime = time.Date(2023, 6, 1, 0, 0, 0, 500_000_000, time.UTC)
	rel.Created = fixedNow
	rel.Modified = fixedNow.Add(time.Hour)
	rel.Description = "A record"
	rel.CreatedByRef = author.ID()
	rel.ObjectMarkingRefs = marks
	rel.Confidence = new(75)

	report, err := NewReport("RiskIQ Weekly", UTCTime(time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)))
	must(err)
	report.Created = fixedNow
	report.Description = "Summary"
	report.ReportTypes = []string{"threat-report"}
	report.ObjectRefs = []string{ip.ID(), domain.ID(), rel.ID()}
	report.Lang = "en"
	report.Labels = []string{"apt", "phishing"}
	report.ExternalReferences = []ExternalReference{{SourceName: "riskiq", URL: "https://community.riskiq.com/article/abc", ExternalID: "abc"}}
	report.Extra = map[string]any{"x_opencti_content": "<p>content</p>", "x_opencti_files": nil}

	malware := NewMalware("Emotet", true)
	malware.Created = fixedNow
	malware.MalwareTypes = []string{"trojan"}
	malware.Aliases = []string{"Geodo"}
	intrusion := NewIntrusionSet("APT28")
	intrusion.Created = fixedNow
	intrusion.Aliases = []string{"Fancy Bear"}
	tool := NewTool("Cobalt Strike")
	tool.Created = fixedNow
	tool.ToolTypes = []string{"remote-access"}
	vuln := NewVulnerability("CVE-2021-44228")
	vuln.Created = fixedNow
	vuln.ExternalReferences = []ExternalReference{{SourceName: "cve", ExternalID: "CVE-2021-44228"}}
	ap := NewAttackPattern("Spearphishing Attachment", "T1566.001")
	ap.Created = fixedNow
	country := NewCountry("France")
	country.Created = fixedNow
	city := NewLocation("Paris", LocationTypeCity)
	city.Created = fixedNow
	city.Country = "FR"
	pos, err := NewPosition("Paris", 48.8566, 2.3522)
	must(err)
	pos.Created = fixedNow
	sector := NewSector("Finance")
	sector.Created = fixedNow
	statement := NewMarkingDefinition("statement", "Copyright RiskIQ")
	statement.Created = fixedNow

	return []Object{author, tlp, ip, ip6, domain, email, url, mutex, file, cert, ind, rel, report,
		malware, intrusion, tool, vuln, ap, country, city, pos, sector, statement}
}

func TestObjectsGolden(t *testing.T) {
	var out bytes.Buffer
	out.WriteString("[\n")
	for i, o := range sampleObjects(t) {
		b, err := o.MarshalJSON()
		if err != nil {
			t.Fatalf("marshal %s: %v", o.Type(), err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: invalid JSON %s: %v", o.Type(), b, err)
		}
		if m["type"] != o.Type() || m["id"] != o.ID() || m["spec_version"] != "2.1" || !strings.HasPrefix(o.ID(), o.Type()+"--") {
			t.Errorf("%s: type, id, spec_version = %v %v %v", o.Type(), m["type"], m["id"], m["spec_version"])
		}
		for k, v := range m {
			switch v := v.(type) {
			case nil:
				t.Errorf("%s: %s is null", o.Type(), k)
			case string:
				if v == "" {
					t.Errorf("%s: %s is empty", o.Type(), k)
				}
			case []any:
				if len(v) == 0 {
					t.Errorf("%s: %s is empty", o.Type(), k)
				}
			}
		}
		if i > 0 {
			out.WriteString(",\n")
		}
		if err := json.Indent(&out, b, "", "  "); err != nil {
			t.Fatal(err)
		}
	}
	out.WriteString("\n]\n")
	golden(t, "objects.golden.json", out.Bytes())
}

func TestObjectIDsMatchIDFunctions(t *testing.T) {
	ip := NewIPv4Addr("8.8.8.8")
	if ip.ID() != "ipv4-addr--2f689bf9-0ff2-545f-aa61-e495eb8cecc7" || ip.Value() != "8.8.8.8" {
		t.Errorf("NewIPv4Addr id = %s", ip.ID())
	}
	file, err := NewFile("a.exe", map[string]string{"MD5": "d41d8cd98f00b204e9800998ecf8427e", "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"})
	if err != nil || file.ID() != "file--7e567502-8994-53ff-9c69-79240cae362d" {
		t.Errorf("NewFile id = %s, %v", file.ID(), err)
	}
	start := NaiveTime(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	rel, err := NewRelationship("resolves-to", NewDomainName("example.com").ID(), ip.ID(), &start, nil)
	if err != nil || rel.ID() != "relationship--66d5d812-2872-56c5-8582-c08b4c1c5818" {
		t.Errorf("NewRelationship id = %s, %v", rel.ID(), err)
	}
	report, err := NewReport("RiskIQ Weekly", VerbatimTime("2024-01-15T10:30:00Z"))
	if err != nil || report.ID() != "report--993679b5-0738-5a6a-98d2-6b2a16bd30d7" || !report.Published().Equal(time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)) {
		t.Errorf("NewReport = %s %v, %v", report.ID(), report.Published(), err)
	}
	pos, err := NewPosition("Paris", 48.8566, 2.3522)
	if err != nil || pos.ID() != "location--76554dbe-0dbc-52fa-816d-ca9e292f0551" || pos.LocationType() != LocationTypePosition {
		t.Errorf("NewPosition = %s, %v", pos.ID(), err)
	}
	for _, tc := range []struct {
		obj  Object
		want string
	}{
		{NewIdentity("  riskiq ", "Organization"), "identity--12206468-7cbe-566d-a9b5-c7b23a2e8818"},
		{NewMalware("Emotet", true), "malware--36297121-bf18-56e1-b200-d39c9f9f5cee"},
		{NewIntrusionSet("APT28"), "intrusion-set--f743ab1d-b2f2-58f8-975f-0993511c0b9d"},
		{NewTool("Cobalt Strike"), "tool--d2d17342-7c91-563c-bb85-a51d5b5c30e4"},
		{NewAttackPattern("Spearphishing Attachment", "T1566.001"), "attack-pattern--6b3d6efe-0d48-5d0d-875a-086b0d02d110"},
		{NewAttackPattern("Spearphishing Attachment", ""), "attack-pattern--70166673-00f0-5946-a641-b0b502ea6f5b"},
		{NewVulnerability("CVE-2021-44228"), "vulnerability--693c68fd-9a33-5d6d-b44e-407b6a48b05b"},
		{NewCountry("France"), "location--b8d0549f-de06-5ebd-a6e9-d31a581dba5d"},
		{NewIndicator("[ipv4-addr:value = '8.8.8.8']", "stix", fixedNow), "indicator--7ad3d74b-c761-522d-9359-5e7565a3abb4"},
		{NewDomainName("example.com"), "domain-name--bedb4899-d24b-5401-bc86-8f6b4cc18ec7"},
		{NewIPv6Addr("2001:db8::1"), "ipv6-addr--6469e3a9-b053-5e34-a025-9396ae051d26"},
		{NewEmailAddr("hostmaster@example.com"), "email-addr--e937172e-79fe-5ff9-bf1d-b2a57ad138d2"},
		{NewURL("https://example.com/a"), "url--6ccd10ff-4c3f-5062-a19f-b6bd987c6637"},
		{NewMarkingDefinition("statement", "custom"), "marking-definition--624ceec7-626d-5808-a4b1-ec4447860f6c"},
	} {
		if tc.obj.ID() != tc.want {
			t.Errorf("%s id = %s, want %s", tc.obj.Type(), tc.obj.ID(), tc.want)
		}
	}
}

func TestMarshalErrors(t *testing.T) {
	withCreated := func(c *Common) { c.Created = fixedNow }
	badHashFile := func() Object {
		f, err := NewFile("a", nil)
		if err != nil {
			t.Fatal(err)
		}
		f.Extra = map[string]any{"name": "collides"}
		return f
	}
	tests := map[string]func() Object{
		"sdo without created": func() Object { return NewMalware("x", false) },
		"modified before created": func() Object {
			m := NewMalware("x", false)
			withCreated(&m.Common)
			m.Modified = fixedNow.Add(-time.Second)
			return m
		},
		"extra collides with a property": func() Object {
			m := NewMalware("x", false)
			withCreated(&m.Common)
			m.Extra = map[string]any{"is_family": true}
			return m
		},
		"extra collides with a managed custom property": func() Object {
			ip := NewIPv4Addr("1.1.1.1")
			ip.CreatedByRef = "identity--x"
			ip.Extra = map[string]any{"x_opencti_created_by_ref": "identity--y"}
			return ip
		},
		"extra collides with a sco property": badHashFile,
		"extra with an empty name": func() Object {
			ip := NewIPv4Addr("1.1.1.1")
			ip.Extra = map[string]any{"": 1}
			return ip
		},
		"extra not json": func() Object {
			ip := NewIPv4Addr("1.1.1.1")
			ip.Extra = map[string]any{"x_bad": func() {}}
			return ip
		},
		"report without object refs": func() Object {
			r, err := NewReport("r", UTCTime(fixedNow))
			if err != nil {
				t.Fatal(err)
			}
			withCreated(&r.Common)
			return r
		},
		"empty value": func() Object { return NewIPv4Addr("") },
		"empty mutex": func() Object { return NewMutex("") },
		"empty name": func() Object {
			m := NewMalware("", false)
			withCreated(&m.Common)
			return m
		},
		"relationship stop before start": func() Object {
			r, err := NewRelationship("related-to", "a--1", "b--2", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			withCreated(&r.Common)
			r.StartTime, r.StopTime = fixedNow, fixedNow
			return r
		},
		"indicator without valid_from": func() Object {
			i := NewIndicator("[x:y = 'z']", "stix", time.Time{})
			withCreated(&i.Common)
			return i
		},
		"indicator without pattern type": func() Object {
			i := NewIndicator("[x:y = 'z']", "", fixedNow)
			withCreated(&i.Common)
			return i
		},
		"indicator valid_until not after valid_from": func() Object {
			i := NewIndicator("[x:y = 'z']", "stix", fixedNow)
			withCreated(&i.Common)
			i.ValidUntil = fixedNow
			return i
		},
		"location without country region or coordinates": func() Object {
			l := NewLocation("Somewhere", LocationTypeAdministrativeArea)
			withCreated(&l.Common)
			return l
		},
		"confidence out of range": func() Object {
			m := NewMalware("x", false)
			withCreated(&m.Common)
			m.Confidence = new(101)
			return m
		},
		"external reference without source name": func() Object {
			m := NewMalware("x", false)
			withCreated(&m.Common)
			m.ExternalReferences = []ExternalReference{{URL: "https://example.com"}}
			return m
		},
		"sco external reference without source name": func() Object {
			d := NewDomainName("example.com")
			d.ExternalReferences = []ExternalReference{{URL: "https://example.com"}}
			return d
		},
		"zero value object": func() Object { return &Tool{} },
		"year out of range": func() Object {
			m := NewMalware("x", false)
			m.Created = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
			return m
		},
	}
	for name, build := range tests {
		t.Run(name, func(t *testing.T) {
			if b, err := build().MarshalJSON(); err == nil {
				t.Errorf("MarshalJSON = %s, want error", b)
			}
		})
	}
}

func TestConstructorErrors(t *testing.T) {
	tests := map[string]func() error{
		"file without name or hashes": func() error { _, err := NewFile("", nil); return err },
		"file with bad hash":          func() error { _, err := NewFile("a", map[string]string{"MD5": "xyz"}); return err },
		"x509 without hashes or serial": func() error {
			_, err := NewX509Certificate(nil, "")
			return err
		},
		"x509 with bad hash": func() error {
			_, err := NewX509Certificate(map[string]string{"SHA-1": "xyz"}, "")
			return err
		},
		"report without published": func() error { _, err := NewReport("r", Time{}); return err },
		"report with unparsable published": func() error {
			_, err := NewReport("r", VerbatimTime("15/01/2024"))
			return err
		},
		"relationship without source": func() error {
			_, err := NewRelationship("related-to", "", "b--1", nil, nil)
			return err
		},
		"relationship with unparsable start": func() error {
			start := VerbatimTime("yesterday")
			_, err := NewRelationship("related-to", "a--1", "b--1", &start, nil)
			return err
		},
		"relationship with unparsable stop": func() error {
			start, stop := UTCTime(fixedNow), VerbatimTime("tomorrow")
			_, err := NewRelationship("related-to", "a--1", "b--1", &start, &stop)
			return err
		},
		"relationship stop equal to start": func() error {
			start := UTCTime(fixedNow)
			_, err := NewRelationship("related-to", "a--1", "b--1", &start, &start)
			return err
		},
		"position out of range": func() error { _, err := NewPosition("x", 91, 0); return err },
		"position NaN": func() error {
			zero := 0.0
			_, err := NewPosition("x", zero/zero, 0)
			return err
		},
	}
	for name, f := range tests {
		t.Run(name, func(t *testing.T) {
			if err := f(); err == nil {
				t.Error("constructor succeeded, want error")
			}
		})
	}
}

func TestRelationshipStopNotInID(t *testing.T) {
	// The PassiveTotal connector hashes only start_time but writes both times.
	start := NaiveTime(time.Date(2023, 5, 1, 10, 20, 30, 0, time.UTC))
	stop := NaiveTime(time.Date(2023, 6, 1, 0, 0, 0, 0, time.UTC))
	withStop, err := NewRelationship("resolves-to", "domain-name--a", "ipv4-addr--b", &start, &stop)
	if err != nil {
		t.Fatal(err)
	}
	onlyStart, err := NewRelationship("resolves-to", "domain-name--a", "ipv4-addr--b", &start, nil)
	if err != nil {
		t.Fatal(err)
	}
	if withStop.ID() == onlyStart.ID() {
		t.Error("stop time did not change the id")
	}
	onlyStart.StopTime, _ = stop.Instant()
	if onlyStart.ID() != RelationshipID("resolves-to", "domain-name--a", "ipv4-addr--b", &start, nil) {
		t.Error("setting StopTime changed the id")
	}
	if !withStop.StopTime.Equal(onlyStart.StopTime) || withStop.RelationshipType() != "resolves-to" ||
		withStop.SourceRef() != "domain-name--a" || withStop.TargetRef() != "ipv4-addr--b" {
		t.Errorf("relationship fields = %+v", withStop)
	}
}

func TestAttackPatternOmitMitreID(t *testing.T) {
	ap := NewAttackPattern("Spearphishing Attachment", "T1566.001")
	ap.Created = fixedNow
	ap.OmitMitreID = true
	b, err := json.Marshal(ap)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "x_mitre_id") {
		t.Errorf("MarshalJSON() = %s, want no x_mitre_id", b)
	}
	if got, want := ap.ID(), "attack-pattern--6b3d6efe-0d48-5d0d-875a-086b0d02d110"; got != want {
		t.Errorf("ID() = %s, want %s (the ATT&CK id still hashed)", got, want)
	}
}
