package articles

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/riskiq-opencti/connectors/internal/defenderti"
)

func art(odataType, id, kind, value string) defenderti.Artifact {
	return defenderti.Artifact{ODataType: odataType, ID: id, Kind: kind, Value: value}
}

// TestIndicatorOf maps each artifact type of spec §4.5's table.
func TestIndicatorOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		artifact  defenderti.Artifact
		typ, val  string
		supported bool
	}{
		{"hostname", art(defenderti.TypeHostname, "login.phish.example.", "", ""), "domain", "login.phish.example", true},
		{"ipv4", art(defenderti.TypeIPAddress, "198.51.100.7", "", ""), "ip", "198.51.100.7", true},
		{"ipv6", art(defenderti.TypeIPAddress, "2001:db8::7", "", ""), "ip", "2001:db8::7", true},
		{"no namespace", art("hostname", "a.example", "", ""), "domain", "a.example", true},
		{"url", art(defenderti.TypeUnclassifiedArtifact, "aHlw", "url", "hxxp://login.phish.example/a"), "url", "hxxp://login.phish.example/a", true},
		{"md5", art(defenderti.TypeUnclassifiedArtifact, "x", "MD5", "d41d8cd98f00b204e9800998ecf8427e"), "hash_md5", "d41d8cd98f00b204e9800998ecf8427e", true},
		{"sha256 PT name", art(defenderti.TypeUnclassifiedArtifact, "x", "hash_sha256", "ab"), "hash_sha256", "ab", true},
		{"email", art(defenderti.TypeUnclassifiedArtifact, "x", "emailAddress", "a@b.example"), "email", "a@b.example", true},
		{"unknown kind", art(defenderti.TypeUnclassifiedArtifact, "x", "registryKey", "HKLM\\x"), "", "", false},
		{"no value", art(defenderti.TypeUnclassifiedArtifact, "x", "url", ""), "", "", false},
		{"certificate sha1", art(defenderti.TypeSslCertificate, "A1B2C3D4E5F60718293A4B5C6D7E8F9012345678", "", ""), "certificate_sha1", "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678", true},
		{"certificate other id", art(defenderti.TypeHostSslCertificate, "c1", "", ""), "", "", false},
		{"host component", art("#microsoft.graph.security.hostComponent", "c1", "", ""), "", "", false},
		{"passive dns record", art("#microsoft.graph.security.passiveDnsRecord", "r1", "", ""), "", "", false},
		{"no type", art("", "r1", "", ""), "", "", false},
	}
	for _, tt := range tests {
		typ, val, ok, reason := indicatorOf(&defenderti.ArticleIndicator{Source: "osint", Artifact: tt.artifact})
		if typ != tt.typ || val != tt.val || ok != tt.supported {
			t.Errorf("%s: indicatorOf = %q %q %v (%s), want %q %q %v", tt.name, typ, val, ok, reason, tt.typ, tt.val, tt.supported)
		}
		if !ok && reason == "" {
			t.Errorf("%s: skipped without a reason", tt.name)
		}
	}
}

// TestDefenderTLP: public always clear, osint and microsoft as configured,
// anything else amber; both spellings of the sources.
func TestDefenderTLP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tlp    DefenderTLP
		source string
		want   string
	}{
		{DefaultDefenderTLP, "public", "public"},
		{DefaultDefenderTLP, "osint", "public"},
		{DefaultDefenderTLP, "openSourceIntelligence", "public"},
		{DefaultDefenderTLP, "microsoft", "microsoft"},
		{DefaultDefenderTLP, "microsoftDefenderThreatIntelligence", "microsoft"},
		{DefaultDefenderTLP, "unknownFutureValue", "unknownfuturevalue"},
		{DefaultDefenderTLP, "", "unknown"},
		{DefenderTLP{OSINTAmber: true, MicrosoftAmber: true}, "osint", "osint"},
		{DefenderTLP{OSINTAmber: true, MicrosoftAmber: true}, "public", "public"},
		{DefenderTLP{}, "microsoft", "public"},
	}
	for _, tt := range tests {
		if got := tt.tlp.groupSource(tt.source); got != tt.want {
			t.Errorf("%+v groupSource(%q) = %q, want %q", tt.tlp, tt.source, got, tt.want)
		}
	}
}

// TestDefenderIndicators groups by type and TLP in order of appearance and
// returns the unmapped ones apart.
func TestDefenderIndicators(t *testing.T) {
	t.Parallel()
	inds := []defenderti.ArticleIndicator{
		{Source: "microsoft", Artifact: art(defenderti.TypeHostname, "a.example", "", "")},
		{Source: "osint", Artifact: art(defenderti.TypeHostname, "b.example", "", "")},
		{Source: "microsoft", Artifact: art(defenderti.TypeIPAddress, "198.51.100.7", "", "")},
		{Source: "microsoft", Artifact: art(defenderti.TypeHostname, "c.example", "", "")},
		{Source: "public", Artifact: art("#microsoft.graph.security.hostCookie", "k", "", "")},
	}
	groups, skipped := defenderIndicators(inds, DefaultDefenderTLP)
	want := []IndicatorGroup{
		{Type: "domain", Source: "microsoft", Values: []string{"a.example", "c.example"}},
		{Type: "domain", Source: "public", Values: []string{"b.example"}},
		{Type: "ip", Source: "microsoft", Values: []string{"198.51.100.7"}},
	}
	if d := cmp.Diff(want, groups); d != "" {
		t.Errorf("groups (-want +got):\n%s", d)
	}
	if len(skipped) != 1 || skipped[0].Type != "hostcookie" {
		t.Errorf("skipped = %+v, want the host cookie", skipped)
	}
}

// TestFromDefender: published is createdDateTime, the body the content, the
// external reference Defender TI's.
func TestFromDefender(t *testing.T) {
	t.Parallel()
	created, updated := at("2026-11-18T09:02:11.12Z"), at("2026-11-24T15:40:03.007Z")
	a := fromDefender(&defenderti.Article{
		ID: "3f9c01ab", Title: "Loader", CreatedDateTime: created, LastUpdatedDateTime: updated,
		Summary: defenderti.FormattedContent{Content: "short", Format: "markdown"},
		Body:    defenderti.FormattedContent{Content: "#### Description\r\nlong", Format: "markdown"},
		Tags:    []string{"OSINT"},
	})
	want := Article{GUID: "3f9c01ab", Title: "Loader", Summary: "short", Content: "#### Description\r\nlong",
		Created: created, Published: created, Updated: updated, ReferenceSource: DefenderReferenceSource, Tags: []string{"OSINT"}, Private: true}
	if d := cmp.Diff(want, a); d != "" {
		t.Errorf("fromDefender (-want +got):\n%s", d)
	}
	if b := fromDefender(&defenderti.Article{ID: "x", CreatedDateTime: created}); !b.Updated.Equal(created) {
		t.Errorf("no lastUpdatedDateTime: Updated = %s, want the creation date", b.Updated)
	}
}
