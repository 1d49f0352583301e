package stix

import (
	"errors"
	"fmt"
	"time"
)

// Identity classes used by OpenCTI.
const (
	IdentityClassOrganization = "organization"
	IdentityClassIndividual   = "individual"
	// IdentityClassClass is the identity class OpenCTI gives to sectors.
	IdentityClassClass = "class"
)

// Identity is an identity (organization, individual, or sector when its class is "class").
type Identity struct {
	id, name, identityClass string
	Common
}

// NewIdentity returns an identity; its id is IdentityID(name, identityClass). The properties
// keep name and identityClass as given.
func NewIdentity(name, identityClass string) *Identity {
	return &Identity{id: IdentityID(name, identityClass), name: name, identityClass: identityClass}
}

// NewOrganization returns an identity of class "organization", e.g. a connector's author.
func NewOrganization(name string) *Identity { return NewIdentity(name, IdentityClassOrganization) }

// NewSector returns a sector: an identity of class "class", as OpenCTI models sectors.
func NewSector(name string) *Identity { return NewIdentity(name, IdentityClassClass) }

// ID returns the identity's id.
func (o *Identity) ID() string { return o.id }

// Type returns "identity".
func (o *Identity) Type() string { return "identity" }

// Name returns the identity's name.
func (o *Identity) Name() string { return o.name }

// IdentityClass returns the identity class.
func (o *Identity) IdentityClass() string { return o.identityClass }

// MarshalJSON writes the identity as STIX 2.1 JSON.
func (o *Identity) MarshalJSON() ([]byte, error) {
	w := newObjectWriter("identity", o.id)
	w.sdoHead(&o.Common)
	w.required("name", o.name)
	w.str("description", o.Description)
	w.str("identity_class", o.identityClass)
	w.sdoTail(&o.Common)
	return w.finish()
}

// Indicator is a detection pattern.
type Indicator struct {
	id, pattern string
	// Name is the indicator's name.
	Name string
	// IndicatorTypes are values of the indicator-type-ov vocabulary.
	IndicatorTypes []string
	// PatternType is the pattern language, e.g. "stix" (required).
	PatternType string
	// PatternVersion is the version of the pattern language.
	PatternVersion string
	// ValidFrom is when the indicator starts being valid (required).
	ValidFrom time.Time
	// ValidUntil is when it stops being valid; zero is omitted.
	ValidUntil time.Time
	// MainObservableType is written as x_opencti_main_observable_type, e.g. "IPv4-Addr".
	MainObservableType string
	// Score is written as x_opencti_score.
	Score *int
	Common
}

// NewIndicator returns an indicator; its id is IndicatorID(pattern) and the pattern property
// is kept as given.
func NewIndicator(pattern, patternType string, validFrom time.Time) *Indicator {
	return &Indicator{id: IndicatorID(pattern), pattern: pattern, PatternType: patternType, ValidFrom: validFrom}
}

// ID returns the indicator's id.
func (o *Indicator) ID() string { return o.id }

// Type returns "indicator".
func (o *Indicator) Type() string { return "indicator" }

// Pattern returns the pattern.
func (o *Indicator) Pattern() string { return o.pattern }

// MarshalJSON writes the indicator as STIX 2.1 JSON.
func (o *Indicator) MarshalJSON() ([]byte, error) {
	w := newObjectWriter("indicator", o.id)
	w.sdoHead(&o.Common)
	w.str("name", o.Name)
	w.str("description", o.Description)
	w.strs("indicator_types", o.IndicatorTypes)
	w.required("pattern", o.pattern)
	w.required("pattern_type", o.PatternType)
	w.str("pattern_version", o.PatternVersion)
	if o.ValidFrom.IsZero() {
		w.fail(errors.New("valid_from is required"))
	}
	w.timestamp("valid_from", o.ValidFrom, false)
	if !o.ValidUntil.IsZero() && !o.ValidUntil.After(o.ValidFrom) {
		w.fail(errors.New("valid_until must be later than valid_from"))
	}
	w.timestamp("valid_until", o.ValidUntil, false)
	w.sdoTail(&o.Common)
	if o.MainObservableType != "" {
		w.setCustom("x_opencti_main_observable_type", o.MainObservableType)
	}
	if o.Score != nil {
		w.setCustom("x_opencti_score", *o.Score)
	}
	return w.finish()
}

// Report is a report (an article, a bulletin) referencing the objects it is about.
type Report struct {
	id, name  string
	published time.Time
	// ReportTypes are values of the report-type-ov vocabulary, e.g. "threat-report".
	ReportTypes []string
	// ObjectRefs are the ids of the objects the report contains (at least one is required).
	ObjectRefs []string
	Common
}

// NewReport returns a report; its id is ReportID(name, published). published is also written
// as the published property, so it must be a date-time (a VerbatimTime that is not RFC 3339
// fails).
func NewReport(name string, published Time) (*Report, error) {
	if published.IsZero() {
		return nil, errors.New("new report: published is required")
	}
	t, err := published.Instant()
	if err != nil {
		return nil, fmt.Errorf("new report: published: %w", err)
	}
	return &Report{id: ReportID(name, published), name: name, published: t}, nil
}

// ID returns the report's id.
func (o *Report) ID() string { return o.id }

// Type returns "report".
func (o *Report) Type() string { return "report" }

// Name returns the report's name.
func (o *Report) Name() string { return o.name }

// Published returns the publication time.
func (o *Report) Published() time.Time { return o.published }

// MarshalJSON writes the report as STIX 2.1 JSON.
func (o *Report) MarshalJSON() ([]byte, error) {
	w := newObjectWriter("report", o.id)
	w.sdoHead(&o.Common)
	w.required("name", o.name)
	w.str("description", o.Description)
	w.strs("report_types", o.ReportTypes)
	w.timestamp("published", o.published, false)
	if len(o.ObjectRefs) == 0 {
		w.fail(errors.New("object_refs is required"))
	}
	w.strs("object_refs", o.ObjectRefs)
	w.sdoTail(&o.Common)
	return w.finish()
}

// namedObject is the part shared by the domain objects identified by their name.
type namedObject struct {
	typ, id, name string
}

func newNamedObject(typ, name string) namedObject {
	return namedObject{typ: typ, id: namedID(typ, name), name: name}
}

// ID returns the object's id.
func (o *namedObject) ID() string { return o.id }

// Type returns the object's STIX type.
func (o *namedObject) Type() string { return o.typ }

// Name returns the object's name.
func (o *namedObject) Name() string { return o.name }

// Malware is a malware family or instance.
type Malware struct {
	namedObject
	// IsFamily tells whether this is a family (true) or an instance.
	IsFamily bool
	// MalwareTypes are values of the malware-type-ov vocabulary.
	MalwareTypes []string
	// Aliases are other names of the malware.
	Aliases []string
	Common
}

// NewMalware returns a malware; its id is MalwareID(name).
func NewMalware(name string, isFamily bool) *Malware {
	return &Malware{namedObject: newNamedObject("malware", name), IsFamily: isFamily}
}

// MarshalJSON writes the malware as STIX 2.1 JSON.
func (o *Malware) MarshalJSON() ([]byte, error) {
	w := newObjectWriter(o.typ, o.id)
	w.sdoHead(&o.Common)
	w.required("name", o.name)
	w.str("description", o.Description)
	w.strs("malware_types", o.MalwareTypes)
	w.boolean("is_family", o.IsFamily)
	w.strs("aliases", o.Aliases)
	w.sdoTail(&o.Common)
	return w.finish()
}

// IntrusionSet is an intrusion set (a threat group's activity).
type IntrusionSet struct {
	namedObject
	// Aliases are other names of the intrusion set.
	Aliases []string
	Common
}

// NewIntrusionSet returns an intrusion set; its id is IntrusionSetID(name).
func NewIntrusionSet(name string) *IntrusionSet {
	return &IntrusionSet{namedObject: newNamedObject("intrusion-set", name)}
}

// MarshalJSON writes the intrusion set as STIX 2.1 JSON.
func (o *IntrusionSet) MarshalJSON() ([]byte, error) {
	w := newObjectWriter(o.typ, o.id)
	w.sdoHead(&o.Common)
	w.required("name", o.name)
	w.str("description", o.Description)
	w.strs("aliases", o.Aliases)
	w.sdoTail(&o.Common)
	return w.finish()
}

// Tool is legitimate software used by attackers.
type Tool struct {
	namedObject
	// ToolTypes are values of the tool-type-ov vocabulary.
	ToolTypes []string
	// Aliases are other names of the tool.
	Aliases []string
	Common
}

// NewTool returns a tool; its id is ToolID(name).
func NewTool(name string) *Tool {
	return &Tool{namedObject: newNamedObject("tool", name)}
}

// MarshalJSON writes the tool as STIX 2.1 JSON.
func (o *Tool) MarshalJSON() ([]byte, error) {
	w := newObjectWriter(o.typ, o.id)
	w.sdoHead(&o.Common)
	w.required("name", o.name)
	w.str("description", o.Description)
	w.strs("tool_types", o.ToolTypes)
	w.strs("aliases", o.Aliases)
	w.sdoTail(&o.Common)
	return w.finish()
}

// Vulnerability is a vulnerability, typically named by its CVE id.
type Vulnerability struct {
	namedObject
	Common
}

// NewVulnerability returns a vulnerability; its id is VulnerabilityID(name).
func NewVulnerability(name string) *Vulnerability {
	return &Vulnerability{namedObject: newNamedObject("vulnerability", name)}
}

// MarshalJSON writes the vulnerability as STIX 2.1 JSON.
func (o *Vulnerability) MarshalJSON() ([]byte, error) {
	w := newObjectWriter(o.typ, o.id)
	w.sdoHead(&o.Common)
	w.required("name", o.name)
	w.str("description", o.Description)
	w.sdoTail(&o.Common)
	return w.finish()
}

// AttackPattern is an attack pattern, typically a MITRE ATT&CK technique.
type AttackPattern struct {
	id, name, mitreID string
	// OmitMitreID leaves x_mitre_id out of the JSON while the id still hashes it, as a
	// connector does that passes pycti's AttackPattern.generate_id(name, x_mitre_id) to
	// stix2.AttackPattern without the property.
	OmitMitreID bool
	Common
}

// NewAttackPattern returns an attack pattern; its id is AttackPatternID(name, mitreID), and
// mitreID, when non-empty, is written as x_mitre_id (unless OmitMitreID is set).
func NewAttackPattern(name, mitreID string) *AttackPattern {
	return &AttackPattern{id: AttackPatternID(name, mitreID), name: name, mitreID: mitreID}
}

// ID returns the attack pattern's id.
func (o *AttackPattern) ID() string { return o.id }

// Type returns "attack-pattern".
func (o *AttackPattern) Type() string { return "attack-pattern" }

// Name returns the attack pattern's name.
func (o *AttackPattern) Name() string { return o.name }

// MitreID returns the ATT&CK id ("" when not given).
func (o *AttackPattern) MitreID() string { return o.mitreID }

// MarshalJSON writes the attack pattern as STIX 2.1 JSON.
func (o *AttackPattern) MarshalJSON() ([]byte, error) {
	w := newObjectWriter("attack-pattern", o.id)
	w.sdoHead(&o.Common)
	w.required("name", o.name)
	w.str("description", o.Description)
	w.sdoTail(&o.Common)
	if o.mitreID != "" && !o.OmitMitreID {
		w.setCustom("x_mitre_id", o.mitreID)
	}
	return w.finish()
}

// OpenCTI location types (x_opencti_location_type).
const (
	LocationTypeCity               = "City"
	LocationTypeCountry            = "Country"
	LocationTypeRegion             = "Region"
	LocationTypeAdministrativeArea = "Administrative-Area"
	LocationTypePosition           = "Position"
)

// Location is a location; OpenCTI tells its kind by x_opencti_location_type.
type Location struct {
	id, name, locationType string
	latitude, longitude    *float64
	// Region, Country, AdministrativeArea and City are the STIX location properties; STIX
	// requires region, country, or latitude and longitude.
	Region, Country, AdministrativeArea, City string
	Common
}

// NewLocation returns a location of an OpenCTI type other than Position; its id is
// LocationID(name, locationType). For City, Country, Region and Administrative-Area the
// matching STIX property is set to name (OpenCTI connectors do the same); set Country to an
// ISO 3166-1 code instead if you have one.
func NewLocation(name, locationType string) *Location {
	l := &Location{id: LocationID(name, locationType), name: name, locationType: locationType}
	switch locationType {
	case LocationTypeCity:
		l.City = name
	case LocationTypeCountry:
		l.Country = name
	case LocationTypeRegion:
		l.Region = name
	case LocationTypeAdministrativeArea:
		l.AdministrativeArea = name
	}
	return l
}

// NewCountry returns NewLocation(name, "Country").
func NewCountry(name string) *Location { return NewLocation(name, LocationTypeCountry) }

// NewPosition returns a location of type Position; its id is LocationPositionID(name,
// latitude, longitude). It fails on coordinates that are not finite or out of range.
func NewPosition(name string, latitude, longitude float64) (*Location, error) {
	if !(latitude >= -90 && latitude <= 90) || !(longitude >= -180 && longitude <= 180) {
		return nil, fmt.Errorf("new position: coordinates %v, %v out of range", latitude, longitude)
	}
	id, err := LocationPositionID(name, &latitude, &longitude)
	if err != nil {
		return nil, fmt.Errorf("new position: %w", err)
	}
	return &Location{id: id, name: name, locationType: LocationTypePosition, latitude: &latitude, longitude: &longitude}, nil
}

// ID returns the location's id.
func (o *Location) ID() string { return o.id }

// Type returns "location".
func (o *Location) Type() string { return "location" }

// Name returns the location's name.
func (o *Location) Name() string { return o.name }

// LocationType returns the OpenCTI location type.
func (o *Location) LocationType() string { return o.locationType }

// MarshalJSON writes the location as STIX 2.1 JSON.
func (o *Location) MarshalJSON() ([]byte, error) {
	w := newObjectWriter("location", o.id)
	w.sdoHead(&o.Common)
	w.str("name", o.name)
	w.str("description", o.Description)
	if o.latitude != nil {
		w.value("latitude", *o.latitude)
		w.value("longitude", *o.longitude)
	}
	w.str("region", o.Region)
	w.str("country", o.Country)
	w.str("administrative_area", o.AdministrativeArea)
	w.str("city", o.City)
	if o.latitude == nil && o.Region == "" && o.Country == "" {
		w.fail(errors.New("region, country, or latitude and longitude is required"))
	}
	w.sdoTail(&o.Common)
	w.setCustom("x_opencti_location_type", o.locationType)
	return w.finish()
}
