package stix

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/gowebpki/jcs"
)

// oasisNamespace returns the UUIDv5 namespace of STIX 2.1 SCO ids, which pycti also uses for
// its domain objects: 00abedb4-aa42-466c-9c01-fed23315a9b7.
func oasisNamespace() uuid.UUID {
	return uuid.UUID{0x00, 0xab, 0xed, 0xb4, 0xaa, 0x42, 0x46, 0x6c, 0x9c, 0x01, 0xfe, 0xd2, 0x33, 0x15, 0xa9, 0xb7}
}

// canonicalJSON returns the RFC 8785 form of data, which must be JSON-marshalable.
func canonicalJSON(data any) ([]byte, error) {
	if m, ok := data.(map[string]any); ok {
		if b, ok := appendCanonicalStrings(nil, m); ok {
			return b, nil
		}
	}
	return canonicalJSONGeneric(data)
}

// canonicalJSONGeneric is canonicalJSON through encoding/json and jcs.
func canonicalJSONGeneric(data any) ([]byte, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("marshal id contributing properties: %w", err)
	}
	canon, err := jcs.Transform(raw)
	if err != nil {
		return nil, fmt.Errorf("canonicalize id contributing properties: %w", err)
	}
	return canon, nil
}

// appendCanonicalStrings appends the RFC 8785 form of m when its keys are
// ASCII (so that sorting bytes sorts UTF-16 code units) and its values
// strings or nil: what canonicalJSONGeneric writes, without encoding the map
// and parsing it again. ok is false for any other map.
func appendCanonicalStrings(b []byte, m map[string]any) ([]byte, bool) {
	var stack [8]string
	keys := stack[:0]
	for k, v := range m {
		switch v.(type) {
		case string, nil:
		default:
			return nil, false
		}
		for i := range len(k) {
			if k[i] >= utf8.RuneSelf {
				return nil, false
			}
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendCanonicalString(b, k)
		b = append(b, ':')
		if s, ok := m[k].(string); ok {
			b = appendCanonicalString(b, s)
		} else {
			b = append(b, "null"...)
		}
	}
	return append(b, '}'), true
}

// appendCanonicalString appends s as RFC 8785 writes a string: only '"',
// '\\' and control characters escaped (\b \f \n \r \t or \u00xx), every
// other character as UTF-8, each invalid byte as U+FFFD (as encoding/json
// reads it).
func appendCanonicalString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
		i++
	}
	return append(b, '"')
}

// deterministicID returns "<typ>--" + UUIDv5(OASIS namespace, canonical JSON of data).
func deterministicID(typ string, data any) (string, error) {
	canon, err := canonicalJSON(data)
	if err != nil {
		return "", err
	}
	return typ + "--" + uuid.NewSHA1(oasisNamespace(), canon).String(), nil
}

// stringID is deterministicID for objects whose values are strings or nil. encoding/json
// cannot fail on them (invalid UTF-8 becomes U+FFFD) and jcs accepts all it produces, so an
// error here is a bug in this package.
func stringID(typ string, data map[string]any) string {
	id, err := deterministicID(typ, data)
	if err != nil {
		panic(fmt.Sprintf("stix: id of string-only %s properties failed: %v", typ, err))
	}
	return id
}

// pyStrip trims what Python's str.strip() trims: Unicode white space plus U+001C..U+001F.
func pyStrip(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
	})
}

// pyLower lower-cases like Python's str.lower(): full case mapping (U+0130 becomes "i̇") and
// the Final_Sigma rule for U+03A3.
func pyLower(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	runes := []rune(s)
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range runes {
		switch r {
		case 0x130:
			b.WriteString("i\u0307")
		case 0x3a3:
			if finalSigma(runes, i) {
				b.WriteRune(0x3c2)
			} else {
				b.WriteRune(0x3c3)
			}
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// finalSigma applies Unicode's Final_Sigma condition to runes[i]: preceded by a cased letter
// (skipping case-ignorable ones) and not followed by one.
func finalSigma(runes []rune, i int) bool {
	j := i - 1
	for j >= 0 && isCaseIgnorable(runes[j]) {
		j--
	}
	if j < 0 || !isCased(runes[j]) {
		return false
	}
	j = i + 1
	for j < len(runes) && isCaseIgnorable(runes[j]) {
		j++
	}
	return j == len(runes) || !isCased(runes[j])
}

func isCased(r rune) bool {
	return unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r) ||
		unicode.In(r, unicode.Other_Lowercase, unicode.Other_Uppercase)
}

func isCaseIgnorable(r rune) bool {
	switch r { // Word_Break MidLetter, MidNumLet and Single_Quote
	case '\'', '.', ':', 0xb7, 0x387, 0x55f, 0x5f4, 0x2018, 0x2019, 0x2024, 0x2027, 0xfe13, 0xfe52,
		0xfe55, 0xff07, 0xff0e, 0xff1a:
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}

// normName is pycti's name.lower().strip().
func normName(name string) string { return pyStrip(pyLower(name)) }

// IdentityID returns pycti's Identity.generate_id(name, identity_class): name lower-cased and
// trimmed, identity_class lower-cased.
func IdentityID(name, identityClass string) string {
	return stringID("identity", map[string]any{"name": normName(name), "identity_class": pyLower(identityClass)})
}

// RelationshipID returns pycti's StixCoreRelationship.generate_id. start_time is hashed when
// start is given (non-nil and not the zero Time), stop_time only when start is given too;
// both are written as start.String() (isoformat or verbatim).
func RelationshipID(relType, sourceRef, targetRef string, start, stop *Time) string {
	data := map[string]any{"relationship_type": relType, "source_ref": sourceRef, "target_ref": targetRef}
	if start != nil && !start.IsZero() {
		data["start_time"] = start.String()
		if stop != nil && !stop.IsZero() {
			data["stop_time"] = stop.String()
		}
	}
	return stringID("relationship", data)
}

// IndicatorID returns pycti's Indicator.generate_id(pattern): the pattern trimmed, case kept.
func IndicatorID(pattern string) string {
	return stringID("indicator", map[string]any{"pattern": pyStrip(pattern)})
}

// ReportID returns pycti's Report.generate_id(name, published): name lower-cased and trimmed,
// published written as published.String(); the zero Time hashes as null (Python None).
func ReportID(name string, published Time) string {
	var pub any
	if !published.IsZero() {
		pub = published.String()
	}
	return stringID("report", map[string]any{"name": normName(name), "published": pub})
}

// MalwareID returns pycti's Malware.generate_id(name): name lower-cased and trimmed.
func MalwareID(name string) string { return namedID("malware", name) }

// IntrusionSetID returns pycti's IntrusionSet.generate_id(name).
func IntrusionSetID(name string) string { return namedID("intrusion-set", name) }

// ToolID returns pycti's Tool.generate_id(name).
func ToolID(name string) string { return namedID("tool", name) }

// VulnerabilityID returns pycti's Vulnerability.generate_id(name).
func VulnerabilityID(name string) string { return namedID("vulnerability", name) }

func namedID(typ, name string) string {
	return stringID(typ, map[string]any{"name": normName(name)})
}

// AttackPatternID returns pycti's AttackPattern.generate_id(name, x_mitre_id): the trimmed
// ATT&CK id when mitreID is non-empty (Python: not None), else the lower-cased trimmed name.
func AttackPatternID(name, mitreID string) string {
	if mitreID != "" {
		return stringID("attack-pattern", map[string]any{"x_mitre_id": pyStrip(mitreID)})
	}
	return namedID("attack-pattern", name)
}

// LocationID returns pycti's Location.generate_id(name, x_opencti_location_type) for a
// location without coordinates: {"name", "x_opencti_location_type"} (City, Country, Region,
// Administrative-Area…), or {"name"} alone when locationType is "Position".
func LocationID(name, locationType string) string {
	if locationType == LocationTypePosition {
		return namedID("location", name)
	}
	return stringID("location", map[string]any{"name": normName(name), "x_opencti_location_type": locationType})
}

// LocationPositionID returns pycti's Location.generate_id(name, "Position", latitude,
// longitude): the coordinates that are given (JSON numbers in ECMAScript form, 48.0 → 48),
// or the name when neither is. It fails on NaN or infinite coordinates.
func LocationPositionID(name string, latitude, longitude *float64) (string, error) {
	data := map[string]any{}
	for key, v := range map[string]*float64{"latitude": latitude, "longitude": longitude} {
		if v == nil {
			continue
		}
		if math.IsNaN(*v) || math.IsInf(*v, 0) {
			return "", fmt.Errorf("location position %s: %v is not a finite number", key, *v)
		}
		data[key] = *v
	}
	if len(data) == 0 {
		return namedID("location", name), nil
	}
	return deterministicID("location", data)
}

// MarkingDefinitionID returns pycti's MarkingDefinition.generate_id(definition_type,
// definition): the fixed ids of §8.2 for definition type "TLP" and definitions TLP:CLEAR,
// TLP:WHITE, TLP:GREEN, TLP:AMBER, TLP:AMBER+STRICT and TLP:RED (exact spelling), else the
// hash of {"definition_type", "definition"}.
func MarkingDefinitionID(defType, def string) string {
	if defType == "TLP" {
		if id, ok := tlpIDs(def); ok {
			return id
		}
	}
	return stringID("marking-definition", map[string]any{"definition_type": defType, "definition": def})
}

// ExternalReferenceID returns pycti's external_reference_generate_id: hashed from {"url"}
// when url is non-empty, else from {"source_name", "external_id"} when both are non-empty;
// ok is false when neither applies (Python returns None). An empty string stands for None.
func ExternalReferenceID(url, sourceName, externalID string) (id string, ok bool) {
	switch {
	case url != "":
		return stringID("external-reference", map[string]any{"url": url}), true
	case sourceName != "" && externalID != "":
		return stringID("external-reference", map[string]any{"source_name": sourceName, "external_id": externalID}), true
	default:
		return "", false
	}
}

// KillChainPhaseID returns pycti's kill_chain_phase_generate_id(phase_name, kill_chain_name).
// Note the argument order: kill chain first, as in the STIX object, unlike pycti.
func KillChainPhaseID(killChainName, phaseName string) string {
	return stringID("kill-chain-phase", map[string]any{"phase_name": phaseName, "kill_chain_name": killChainName})
}

// observableIDProperties returns the id contributing properties of an SCO type: STIX 2.1's
// (as the stix2 library implements them) and those of pycti's custom observables.
func observableIDProperties(scoType string) ([]string, bool) {
	switch scoType {
	case "ipv4-addr", "ipv6-addr", "domain-name", "email-addr", "url", "mac-addr",
		"hostname", "text", "user-agent", "phone-number", "cryptocurrency-wallet", "cryptographic-key",
		"credential", "tracking-number", "ssh-key":
		return []string{"value"}, true
	case "autonomous-system":
		return []string{"number"}, true
	case "mutex":
		return []string{"name"}, true
	case "directory":
		return []string{"path"}, true
	case "file":
		return []string{"hashes", "name", "parent_directory_ref", "extensions"}, true
	case "artifact":
		return []string{"hashes", "payload_bin"}, true
	case "x509-certificate":
		return []string{"hashes", "serial_number"}, true
	case "software":
		return []string{"name", "cpe", "swid", "vendor", "version"}, true
	case "user-account":
		return []string{"account_type", "user_id", "account_login"}, true
	case "email-message":
		return []string{"from_ref", "subject", "body"}, true
	case "network-traffic":
		return []string{"start", "end", "src_ref", "dst_ref", "src_port", "dst_port", "protocols", "extensions"}, true
	case "windows-registry-key":
		return []string{"key", "values"}, true
	case "payment-card":
		return []string{"card_number"}, true
	case "bank-account":
		return []string{"iban"}, true
	case "media-content":
		return []string{"url"}, true
	case "persona":
		return []string{"persona_name", "persona_type"}, true
	default:
		return nil, false
	}
}

// errNoContributingProperty is returned by scoID when no id contributing property is set.
var errNoContributingProperty = errors.New("no id contributing property")

// ObservableID returns the STIX 2.1 id of an observable as the stix2 library computes it from
// the id contributing properties of scoType found in props (§10.3). Other keys of props are
// ignored, as are nil values and empty lists. "hashes" (map[string]string, or map[string]any
// of strings) has its algorithm names normalised as stix2 does ("sha256" → "SHA-256"), is
// checked, and contributes one entry: MD5, else SHA-1, SHA-256, SHA-512, else the smallest
// name (Python takes the first inserted; Go maps have no order). time.Time and Time values are
// written as STIX timestamps. Values are used as given: Example.com and example.com differ.
// When nothing contributes the id is random (UUIDv4), as in stix2. It fails for a type
// without known id contributing properties and for values that are not JSON.
func ObservableID(scoType string, props map[string]any) (string, error) {
	id, err := scoID(scoType, props)
	if errors.Is(err, errNoContributingProperty) {
		return scoType + "--" + uuid.NewString(), nil
	}
	return id, err
}

func scoID(scoType string, props map[string]any) (string, error) {
	keys, ok := observableIDProperties(scoType)
	if !ok {
		return "", fmt.Errorf("observable id: no id contributing properties known for type %q", scoType)
	}
	data := make(map[string]any, len(keys))
	for _, k := range keys {
		v, ok := props[k]
		if !ok || v == nil {
			continue
		}
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice && rv.Len() == 0 {
			continue
		}
		switch tv := v.(type) {
		case time.Time:
			v = formatTimestamp(tv, false)
		case Time:
			t, err := tv.Instant()
			if err != nil {
				return "", fmt.Errorf("observable id: %s: %w", k, err)
			}
			v = formatTimestamp(t, false)
		}
		if k == "hashes" {
			h, err := hashesFromAny(v)
			if err != nil {
				return "", fmt.Errorf("observable id: %w", err)
			}
			norm, err := normalizeHashes(h)
			if err != nil {
				return "", fmt.Errorf("observable id: %w", err)
			}
			v = chooseOneHash(norm)
		}
		data[k] = v
	}
	if len(data) == 0 {
		return "", fmt.Errorf("observable id of %s: %w", scoType, errNoContributingProperty)
	}
	id, err := deterministicID(scoType, data)
	if err != nil {
		return "", fmt.Errorf("observable id of %s: %w", scoType, err)
	}
	return id, nil
}

func hashesFromAny(v any) (map[string]string, error) {
	switch h := v.(type) {
	case map[string]string:
		return h, nil
	case map[string]any:
		out := make(map[string]string, len(h))
		for k, x := range h {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("hashes: value of %q is %T, want string", k, x)
			}
			out[k] = s
		}
		return out, nil
	default:
		return nil, fmt.Errorf("hashes: %T, want map[string]string", v)
	}
}

// chooseOneHash is stix2's _choose_one_hash on a normalised, non-empty map.
func chooseOneHash(h map[string]string) map[string]string {
	for _, alg := range []string{"MD5", "SHA-1", "SHA-256", "SHA-512"} {
		if v, ok := h[alg]; ok {
			return map[string]string{alg: v}
		}
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	first := slices.Min(keys)
	return map[string]string{first: h[first]}
}

// hashAlgorithm describes one algorithm the stix2 library knows: its STIX 2.1 vocabulary
// name ("" when it is not in the vocabulary) and how its values are checked.
type hashAlgorithm struct {
	specName string
	valid    func(string) bool
}

func hexOfLen(n int) func(string) bool {
	return func(s string) bool { return len(s) == n && isHex(s) }
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// lookupHashAlgorithm is stix2's infer_hash_algorithm: the name without "-", upper-cased.
func lookupHashAlgorithm(name string) (hashAlgorithm, bool) {
	switch strings.ToUpper(strings.ReplaceAll(name, "-", "")) {
	case "MD5":
		return hashAlgorithm{"MD5", hexOfLen(32)}, true
	case "MD6": // stix2's unanchored alternation accepts any value starting with 32 hex digits
		return hashAlgorithm{"", func(s string) bool { return len(s) >= 32 && isHex(s[:32]) }}, true
	case "RIPEMD160":
		return hashAlgorithm{"", hexOfLen(40)}, true
	case "SHA1":
		return hashAlgorithm{"SHA-1", hexOfLen(40)}, true
	case "SHA224":
		return hashAlgorithm{"", hexOfLen(56)}, true
	case "SHA256":
		return hashAlgorithm{"SHA-256", hexOfLen(64)}, true
	case "SHA384":
		return hashAlgorithm{"", hexOfLen(96)}, true
	case "SHA512":
		return hashAlgorithm{"SHA-512", hexOfLen(128)}, true
	case "SHA3224":
		return hashAlgorithm{"", hexOfLen(56)}, true
	case "SHA3256":
		return hashAlgorithm{"SHA3-256", hexOfLen(64)}, true
	case "SHA3384":
		return hashAlgorithm{"", hexOfLen(96)}, true
	case "SHA3512":
		return hashAlgorithm{"SHA3-512", hexOfLen(128)}, true
	case "SSDEEP":
		return hashAlgorithm{"SSDEEP", func(s string) bool {
			if len(s) < 1 || len(s) > 128 {
				return false
			}
			for i := 0; i < len(s); i++ {
				c := s[i]
				if c >= 'A' && c <= 'Z' {
					c |= 0x20
				}
				if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '/' && c != '+' && c != ':' && c != '.' {
					return false
				}
			}
			return true
		}}, true
	case "WHIRLPOOL":
		return hashAlgorithm{"", hexOfLen(128)}, true
	case "TLSH":
		return hashAlgorithm{"TLSH", hexOfLen(70)}, true
	default:
		return hashAlgorithm{}, false
	}
}

// normalizeHashes renames and checks hashes as stix2's HashesProperty does: known
// algorithms get their STIX 2.1 vocabulary name (MD5, SHA-1, SHA-256, SHA-512, SHA3-256,
// SHA3-512, SSDEEP, TLSH) and a value check; other names are kept as given.
func normalizeHashes(h map[string]string) (map[string]string, error) {
	if len(h) == 0 {
		return nil, errors.New("hashes: empty")
	}
	out := make(map[string]string, len(h))
	for name, v := range h {
		key := name
		if alg, ok := lookupHashAlgorithm(name); ok {
			if !alg.valid(v) {
				return nil, fmt.Errorf("hashes: %q is not a valid %s value", v, name)
			}
			if alg.specName != "" {
				key = alg.specName
			}
		}
		if key == "" {
			return nil, errors.New("hashes: empty algorithm name")
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("hashes: %s given twice", key)
		}
		out[key] = v
	}
	return out, nil
}
