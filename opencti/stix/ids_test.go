package stix

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type idVector struct {
	Name      string         `json:"name"`
	Kind      string         `json:"kind"`
	Args      map[string]any `json:"args"`
	Canonical string         `json:"canonical"`
	ID        string         `json:"id"`
}

func loadIDVectors(t testing.TB) []idVector {
	t.Helper()
	data, err := os.ReadFile("testdata/ids.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // keeps 15169 an integer for the SCO ids
	var vectors []idVector
	if err := dec.Decode(&vectors); err != nil {
		t.Fatal(err)
	}
	return vectors
}

func argString(a map[string]any, k string) string {
	s, _ := a[k].(string)
	return s
}

func argFloat(t testing.TB, a map[string]any, k string) *float64 {
	n, ok := a[k].(json.Number)
	if !ok {
		return nil
	}
	f, err := n.Float64()
	if err != nil {
		t.Fatal(err)
	}
	return &f
}

// argTime reads a time spec: {"naive"|"utc"|"aware"|"verbatim": text}.
func argTime(t testing.TB, a map[string]any, k string) *Time {
	spec, ok := a[k].(map[string]any)
	if !ok {
		return nil
	}
	for kind, v := range spec {
		text := v.(string)
		var tm Time
		switch kind {
		case "verbatim":
			tm = VerbatimTime(text)
		case "naive", "utc":
			p, err := time.Parse("2006-01-02T15:04:05.999999", text)
			if err != nil {
				t.Fatal(err)
			}
			if kind == "naive" {
				tm = NaiveTime(p)
			} else {
				tm = UTCTime(p)
			}
		case "aware":
			p, err := time.Parse(time.RFC3339Nano, text)
			if err != nil {
				t.Fatal(err)
			}
			tm = AwareTime(p)
		default:
			t.Fatalf("unknown time kind %q", kind)
		}
		return &tm
	}
	return nil
}

// vectorID computes the id of a vector with this package's functions.
func vectorID(t testing.TB, v idVector) string {
	t.Helper()
	a := v.Args
	switch v.Kind {
	case "identity":
		return IdentityID(argString(a, "name"), argString(a, "identity_class"))
	case "malware":
		return MalwareID(argString(a, "name"))
	case "intrusion-set":
		return IntrusionSetID(argString(a, "name"))
	case "tool":
		return ToolID(argString(a, "name"))
	case "vulnerability":
		return VulnerabilityID(argString(a, "name"))
	case "attack-pattern":
		return AttackPatternID(argString(a, "name"), argString(a, "mitre_id"))
	case "indicator":
		return IndicatorID(argString(a, "pattern"))
	case "report":
		var published Time
		if p := argTime(t, a, "published"); p != nil {
			published = *p
		}
		return ReportID(argString(a, "name"), published)
	case "location":
		return LocationID(argString(a, "name"), argString(a, "location_type"))
	case "location-position":
		id, err := LocationPositionID(argString(a, "name"), argFloat(t, a, "latitude"), argFloat(t, a, "longitude"))
		if err != nil {
			t.Fatal(err)
		}
		return id
	case "relationship":
		return RelationshipID(argString(a, "relationship_type"), argString(a, "source_ref"), argString(a, "target_ref"),
			argTime(t, a, "start"), argTime(t, a, "stop"))
	case "sco":
		id, err := ObservableID(argString(a, "type"), a["props"].(map[string]any))
		if err != nil {
			t.Fatal(err)
		}
		return id
	case "external-reference":
		id, ok := ExternalReferenceID(argString(a, "url"), argString(a, "source_name"), argString(a, "external_id"))
		if !ok {
			t.Fatal("ExternalReferenceID: no id")
		}
		return id
	case "kill-chain-phase":
		return KillChainPhaseID(argString(a, "kill_chain_name"), argString(a, "phase_name"))
	case "marking-definition":
		return MarkingDefinitionID(argString(a, "definition_type"), argString(a, "definition"))
	default:
		t.Fatalf("unknown kind %q", v.Kind)
		return ""
	}
}

// TestIDVectors checks every vector of testdata/ids.json: the worked examples of the
// protocol specification §10.4 and extra cases computed by testdata/gen_ids.py.
func TestIDVectors(t *testing.T) {
	vectors := loadIDVectors(t)
	if len(vectors) < 100 {
		t.Fatalf("only %d vectors loaded", len(vectors))
	}
	for _, v := range vectors {
		t.Run(v.Name, func(t *testing.T) {
			if got := vectorID(t, v); got != v.ID {
				t.Errorf("%s %v: id = %s, want %s (canonical %s)", v.Kind, v.Args, got, v.ID, v.Canonical)
			}
		})
	}
}

func TestObservableID(t *testing.T) {
	md5 := "d41d8cd98f00b204e9800998ecf8427e"
	sha256 := "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	want := "file--7e567502-8994-53ff-9c69-79240cae362d" // §10.4
	for name, props := range map[string]map[string]any{
		"spec names":                 {"name": "a.exe", "hashes": map[string]string{"MD5": md5, "SHA-256": sha256}},
		"library names":              {"name": "a.exe", "hashes": map[string]string{"md5": md5, "sha256": sha256}},
		"map of any":                 {"name": "a.exe", "hashes": map[string]any{"Md5": md5}},
		"non contributing ignored":   {"name": "a.exe", "hashes": map[string]string{"MD5": md5}, "size": 0, "x_opencti_score": 50},
		"nil and empty list ignored": {"name": "a.exe", "hashes": map[string]string{"MD5": md5}, "parent_directory_ref": nil, "extensions": []string{}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ObservableID("file", props)
			if err != nil || got != want {
				t.Errorf("ObservableID(file, %v) = %s, %v; want %s", props, got, err, want)
			}
		})
	}

	t.Run("random when nothing contributes", func(t *testing.T) {
		a, err1 := ObservableID("ipv4-addr", map[string]any{"x_opencti_score": 1})
		b, err2 := ObservableID("ipv4-addr", nil)
		re := regexp.MustCompile(`^ipv4-addr--[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
		if err1 != nil || err2 != nil || !re.MatchString(a) || !re.MatchString(b) || a == b {
			t.Errorf("ids = %s (%v), %s (%v); want two different v4 ids", a, err1, b, err2)
		}
	})

	t.Run("timestamps", func(t *testing.T) {
		start := time.Date(2024, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
		a, err1 := ObservableID("network-traffic", map[string]any{"start": start})
		b, err2 := ObservableID("network-traffic", map[string]any{"start": "2024-01-02T03:04:05.6Z"})
		c, err3 := ObservableID("network-traffic", map[string]any{"start": VerbatimTime("2024-01-02T04:04:05.6+01:00")})
		if err1 != nil || err2 != nil || err3 != nil || a != b || a != c {
			t.Errorf("ids = %s, %s, %s (%v %v %v); want equal", a, b, c, err1, err2, err3)
		}
	})

	for name, tc := range map[string]struct {
		typ   string
		props map[string]any
	}{
		"unknown type":        {"x-custom", map[string]any{"value": "a"}},
		"bad md5":             {"file", map[string]any{"hashes": map[string]string{"MD5": "nothex"}}},
		"empty hashes":        {"file", map[string]any{"hashes": map[string]string{}}},
		"hashes wrong type":   {"file", map[string]any{"hashes": "d41d8cd98f00b204e9800998ecf8427e"}},
		"hash value not text": {"file", map[string]any{"hashes": map[string]any{"MD5": 1}}},
		"same algorithm twice": {"file", map[string]any{"hashes": map[string]string{
			"SHA-256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
			"sha256":  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}}},
		"not json":     {"ipv4-addr", map[string]any{"value": make(chan int)}},
		"bad verbatim": {"network-traffic", map[string]any{"start": VerbatimTime("yesterday")}},
	} {
		t.Run(name, func(t *testing.T) {
			if id, err := ObservableID(tc.typ, tc.props); err == nil {
				t.Errorf("ObservableID(%s, %v) = %s, want error", tc.typ, tc.props, id)
			}
		})
	}
}

func TestChooseOneHashFallback(t *testing.T) {
	got := chooseOneHash(map[string]string{"TLSH": "b", "SSDEEP": "a", "SHA3-256": "c"})
	if diff := cmp.Diff(map[string]string{"SHA3-256": "c"}, got); diff != "" {
		t.Errorf("chooseOneHash (-want +got):\n%s", diff)
	}
}

func TestNormalizeHashes(t *testing.T) {
	hex := func(n int) string { return strings.Repeat("a", n) }
	got, err := normalizeHashes(map[string]string{
		"md5": hex(32), "sha-1": hex(40), "SHA256": hex(64), "sha512": hex(128), "sha3-256": hex(64),
		"SHA3512": hex(128), "ssdeep": "3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C", "tlsh": hex(70),
		"SHA-224": hex(56), "RIPEMD-160": hex(40), "MD6": hex(40), "x-custom": "anything",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"MD5": hex(32), "SHA-1": hex(40), "SHA-256": hex(64), "SHA-512": hex(128), "SHA3-256": hex(64),
		"SHA3-512": hex(128), "SSDEEP": "3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C", "TLSH": hex(70),
		"SHA-224": hex(56), "RIPEMD-160": hex(40), "MD6": hex(40), "x-custom": "anything",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("normalizeHashes (-want +got):\n%s", diff)
	}
	for _, bad := range []map[string]string{
		{"SHA-1": hex(41)}, {"SSDEEP": "has space"}, {"MD6": hex(31)}, {"": "x"}, {"TLSH": hex(69)},
	} {
		if _, err := normalizeHashes(bad); err == nil {
			t.Errorf("normalizeHashes(%v) succeeded, want error", bad)
		}
	}
}

func TestPythonStringRules(t *testing.T) {
	// Expected values from Python 3.11: s.lower() and s.strip().
	lower := map[string]string{
		"ABC":                  "abc",
		"\u0130stanbul":        "i\u0307stanbul",
		"\u03a3\u0391\u03a3":   "\u03c3\u03b1\u03c2",
		"\u03a3":               "\u03c3",
		"A\u03a3":              "a\u03c2",
		"A\u03a3B":             "a\u03c3b",
		"A.\u03a3":             "a.\u03c2",
		"A\u03a3.":             "a\u03c2.",
		"A\u03a3.B":            "a\u03c3.b",
		"1\u03a3":              "1\u03c3",
		"\u00c9COLE \u00dcBER": "\u00e9cole \u00fcber",
		"\u1e9e":               "\u00df",
	}
	for in, want := range lower {
		if got := pyLower(in); got != want {
			t.Errorf("pyLower(%+q) = %+q, want %+q", in, got, want)
		}
	}
	strip := map[string]string{
		" \t\n\v\f\r\x1c\x1d\x1e\x1fa b\u00a0\u2028\u3000\u0085": "a b",
		"\u200bzero width\u200b":                                 "\u200bzero width\u200b", // not white space for Python either
	}
	for in, want := range strip {
		if got := pyStrip(in); got != want {
			t.Errorf("pyStrip(%+q) = %+q, want %+q", in, got, want)
		}
	}
}

func TestLocationPositionIDRejectsNonFinite(t *testing.T) {
	nan := func() *float64 { f := 0.0; f /= f; return &f }()
	if id, err := LocationPositionID("x", nan, nil); err == nil {
		t.Errorf("LocationPositionID(NaN) = %s, want error", id)
	}
}

func TestExternalReferenceIDWithoutData(t *testing.T) {
	for _, args := range [][3]string{{"", "", ""}, {"", "src", ""}, {"", "", "T1"}} {
		if id, ok := ExternalReferenceID(args[0], args[1], args[2]); ok {
			t.Errorf("ExternalReferenceID(%q) = %s, want no id", args, id)
		}
	}
}

func TestRelationshipIDIgnoresZeroTimes(t *testing.T) {
	var zero Time
	want := RelationshipID("related-to", "a--1", "b--2", nil, nil)
	if got := RelationshipID("related-to", "a--1", "b--2", &zero, &zero); got != want {
		t.Errorf("RelationshipID with zero times = %s, want %s", got, want)
	}
}
