package openctitest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gowebpki/jcs"
)

// stixNamespace is the UUIDv5 namespace of STIX 2.1 and pycti identifiers.
var stixNamespace = uuid.MustParse("00abedb4-aa42-466c-9c01-fed23315a9b7")

// internalNamespace derives stable internal ids from standard ids so that
// fixtures and golden files do not depend on random values.
var internalNamespace = uuid.MustParse("7d1f0b5e-4a4c-4f0e-9a8e-6c2b4f1d3e57")

// OpenCTI STIX extension definitions.
const (
	extOpenCTI    = "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba"
	extOpenCTISCO = "extension-definition--f93e2c80-4231-4f9a-af8b-95c9bd566a82"
	extMITRE      = "extension-definition--322b8f77-262a-4cb8-a915-1e441e00329b"
)

// Entity is a STIX core object stored in the fake platform, read by
// stixCoreObject, stixCyberObservable, stixDomainObject(s) and exported in
// enrichment requests. Zero fields get platform-like defaults when added.
type Entity struct {
	// ID is the internal id; default: a UUIDv5 derived from StandardID.
	ID string
	// StandardID is the STIX id; default: computed from the type and the
	// identifying properties (spec §10), random for types without rules.
	StandardID string
	// EntityType is the OpenCTI type, one of EntityTypes().
	EntityType string
	// Value is the value of observables (IPv4-Addr, Domain-Name, Url…).
	Value string
	// Number is the number of an Autonomous-System.
	Number int
	// Name is the name of domain objects (and of an Autonomous-System).
	Name        string
	Description string
	Aliases     []string
	// XMitreID is the ATT&CK id of an Attack-Pattern.
	XMitreID string
	// IdentityClass overrides the identity class of an identity
	// (Organization: "organization", Individual: "individual", Sector:
	// "class", as the platform sets them).
	IdentityClass string
	// Pattern and PatternType describe an Indicator.
	Pattern     string
	PatternType string
	// Score is x_opencti_score.
	Score      *int
	Confidence *int
	Revoked    bool
	// Created and Modified are the STIX dates; CreatedAt and UpdatedAt the
	// platform's. Zero values default to the server clock. Created
	// contributes to the standard id of an Incident.
	Created, Modified    time.Time
	CreatedAt, UpdatedAt time.Time
	// StixIDs are other STIX ids the entity answers to (x_opencti_stix_ids).
	StixIDs            []string
	Markings           []Marking
	Labels             []Label
	CreatedBy          *Entity
	ExternalReferences []ExternalReference
	// Fields holds other GraphQL fields of the entity's type by name (for
	// example "is_family", "display_name", "first_seen"); they override the
	// computed values.
	Fields map[string]any
}

// Marking is a marking definition.
type Marking struct {
	ID             string
	StandardID     string
	DefinitionType string
	Definition     string
	Order          int
	Color          string
}

// Label is a label.
type Label struct {
	ID    string
	Value string
	Color string
}

// ExternalReference is an external reference.
type ExternalReference struct {
	ID          string
	SourceName  string
	Description string
	URL         string
	Hash        string
	ExternalID  string
}

// MustTLP returns the platform's TLP marking definition named by level
// ("TLP:AMBER", "amber", "clear", "white", "amber+strict"…). It panics on an
// unknown level; use it with constants.
func MustTLP(level string) Marking {
	name := strings.ToUpper(strings.TrimSpace(level))
	if !strings.HasPrefix(name, "TLP:") {
		name = "TLP:" + name
	}
	var m Marking
	switch name {
	case "TLP:CLEAR", "TLP:WHITE":
		m = Marking{StandardID: "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9", Definition: "TLP:CLEAR", Order: 1, Color: "#ffffff"}
	case "TLP:GREEN":
		m = Marking{StandardID: "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da", Definition: "TLP:GREEN", Order: 2, Color: "#2e7d32"}
	case "TLP:AMBER":
		m = Marking{StandardID: "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82", Definition: "TLP:AMBER", Order: 3, Color: "#d84315"}
	case "TLP:AMBER+STRICT":
		m = Marking{StandardID: "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37", Definition: "TLP:AMBER+STRICT", Order: 4, Color: "#d84315"}
	case "TLP:RED":
		m = Marking{StandardID: "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed", Definition: "TLP:RED", Order: 5, Color: "#c62828"}
	default:
		panic(fmt.Sprintf("openctitest: unknown TLP level %q", level))
	}
	m.DefinitionType = "TLP"
	m.ID = internalID(m.StandardID)
	return m
}

// kind describes how the platform models an entity type.
type kind struct {
	gqlType  string
	stixType string
	sco      bool
	parents  []string
}

// EntityTypes lists the entity types the fake can store. They are concrete
// types, as on the platform: Threat-Actor, Identity and Location are
// abstract (parent types and GraphQL interfaces), so a threat actor is a
// Threat-Actor-Group or a Threat-Actor-Individual, a sector an Identity of
// class "class" and a country a Location whose x_opencti_location_type is
// Country.
func EntityTypes() []string {
	return []string{
		"Autonomous-System", "Domain-Name", "Email-Addr", "Hostname", "IPv4-Addr", "IPv6-Addr", "Url",
		"Attack-Pattern", "Campaign", "Country", "Incident", "Indicator", "Individual", "Intrusion-Set",
		"Malware", "Organization", "Sector", "Threat-Actor-Group", "Threat-Actor-Individual", "Tool",
		"Vulnerability",
	}
}

// abstractTypes maps the platform's abstract domain types to the concrete
// types of EntityTypes that implement them.
var abstractTypes = map[string][]string{
	"Threat-Actor": {"Threat-Actor-Group", "Threat-Actor-Individual"},
	"Identity":     {"Individual", "Organization", "Sector"},
	"Location":     {"Country"},
}

// kindOf returns the model of an entity type.
func kindOf(entityType string) (kind, bool) {
	sco := []string{"Basic-Object", "Stix-Object", "Stix-Core-Object", "Stix-Cyber-Observable"}
	sdo := []string{"Basic-Object", "Stix-Object", "Stix-Core-Object", "Stix-Domain-Object"}
	with := func(extra string) []string { return append(append([]string{}, sdo...), extra) }
	switch entityType {
	case "Autonomous-System":
		return kind{"AutonomousSystem", "autonomous-system", true, sco}, true
	case "Domain-Name":
		return kind{"DomainName", "domain-name", true, sco}, true
	case "Email-Addr":
		return kind{"EmailAddr", "email-addr", true, sco}, true
	case "Hostname":
		return kind{"Hostname", "hostname", true, sco}, true
	case "IPv4-Addr":
		return kind{"IPv4Addr", "ipv4-addr", true, sco}, true
	case "IPv6-Addr":
		return kind{"IPv6Addr", "ipv6-addr", true, sco}, true
	case "Url":
		return kind{"Url", "url", true, sco}, true
	case "Attack-Pattern":
		return kind{"AttackPattern", "attack-pattern", false, sdo}, true
	case "Campaign":
		return kind{"Campaign", "campaign", false, sdo}, true
	case "Country":
		return kind{"Country", "location", false, with("Location")}, true
	case "Incident":
		return kind{"Incident", "incident", false, sdo}, true
	case "Indicator":
		return kind{"Indicator", "indicator", false, sdo}, true
	case "Individual":
		return kind{"Individual", "identity", false, with("Identity")}, true
	case "Intrusion-Set":
		return kind{"IntrusionSet", "intrusion-set", false, sdo}, true
	case "Malware":
		return kind{"Malware", "malware", false, sdo}, true
	case "Organization":
		return kind{"Organization", "identity", false, with("Identity")}, true
	case "Sector":
		return kind{"Sector", "identity", false, with("Identity")}, true
	case "Threat-Actor-Group":
		return kind{"ThreatActorGroup", "threat-actor", false, with("Threat-Actor")}, true
	case "Threat-Actor-Individual":
		return kind{"ThreatActorIndividual", "threat-actor", false, with("Threat-Actor")}, true
	case "Tool":
		return kind{"Tool", "tool", false, sdo}, true
	case "Vulnerability":
		return kind{"Vulnerability", "vulnerability", false, sdo}, true
	}
	return kind{}, false
}

// observableValue is the platform's observable_value.
func (e *Entity) observableValue() string {
	if e.EntityType == "Autonomous-System" {
		return strconv.Itoa(e.Number)
	}
	return e.Value
}

// identityClass returns the identity class of an identity entity.
func (e *Entity) identityClass() string {
	if e.IdentityClass != "" {
		return e.IdentityClass
	}
	switch e.EntityType {
	case "Individual":
		return "individual"
	case "Sector":
		return "class"
	}
	return "organization"
}

// isIdentity reports whether the entity is an Identity.
func (e *Entity) isIdentity() bool {
	k, _ := kindOf(e.EntityType)
	return slices.Contains(k.parents, "Identity")
}

// locationType is x_opencti_location_type of a location, its entity type.
func (e *Entity) locationType() string {
	if k, _ := kindOf(e.EntityType); slices.Contains(k.parents, "Location") {
		return e.EntityType
	}
	return ""
}

// hasOpenCTIAliases reports whether the type keeps its aliases in
// x_opencti_aliases (identities, locations, vulnerabilities) rather than in
// the STIX aliases property.
func (e *Entity) hasOpenCTIAliases() bool {
	return e.isIdentity() || e.locationType() != "" || e.EntityType == "Vulnerability"
}

// normalize fills defaults and validates the entity.
func (e *Entity) normalize(now time.Time) error {
	k, ok := kindOf(e.EntityType)
	if concrete, abstract := abstractTypes[e.EntityType]; abstract {
		return fmt.Errorf("entity type %q is abstract on the platform (use one of %v)", e.EntityType, concrete)
	}
	if !ok {
		return fmt.Errorf("entity type %q is not supported (want one of %v)", e.EntityType, EntityTypes())
	}
	if k.sco && e.EntityType != "Autonomous-System" && e.Value == "" {
		return fmt.Errorf("%s needs a Value", e.EntityType)
	}
	if !k.sco && e.Name == "" {
		return fmt.Errorf("%s needs a Name", e.EntityType)
	}
	for _, t := range []*time.Time{&e.Created, &e.Modified, &e.CreatedAt, &e.UpdatedAt} {
		if t.IsZero() {
			*t = now
		}
	}
	if e.StandardID == "" {
		id, err := standardID(k.stixType, e.contributing())
		if err != nil {
			return err
		}
		e.StandardID = id
	}
	if e.ID == "" {
		e.ID = internalID(e.StandardID)
	}
	for i := range e.Markings {
		m := &e.Markings[i]
		if m.StandardID == "" {
			id, err := standardID("marking-definition", map[string]any{"definition": m.Definition, "definition_type": m.DefinitionType})
			if err != nil {
				return err
			}
			m.StandardID = id
		}
		if m.ID == "" {
			m.ID = internalID(m.StandardID)
		}
	}
	for i := range e.Labels {
		if e.Labels[i].ID == "" {
			e.Labels[i].ID = internalID("label--" + strings.ToLower(e.Labels[i].Value))
		}
	}
	for i := range e.ExternalReferences {
		r := &e.ExternalReferences[i]
		if r.ID == "" {
			r.ID = internalID(r.standardID())
		}
	}
	if e.CreatedBy != nil {
		author := *e.CreatedBy
		if err := author.normalize(now); err != nil {
			return fmt.Errorf("created by: %w", err)
		}
		e.CreatedBy = &author
	}
	return nil
}

// contributing returns the properties the standard id is computed from, or
// nil for a random id: STIX 2.1 for observables; for domain objects the
// platform's rules (schema/identifier.js, the same as pycti's generate_id
// where spec §10.2 lists them): names lower-cased and trimmed, identities
// add their class, locations their x_opencti_location_type, threat actors
// their concrete type (opencti_type) and incidents their created date as
// JavaScript's toISOString renders it.
func (e *Entity) contributing() map[string]any {
	norm := func(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
	switch e.EntityType {
	case "Autonomous-System":
		return map[string]any{"number": e.Number}
	case "Domain-Name", "Email-Addr", "Hostname", "IPv4-Addr", "IPv6-Addr", "Url":
		return map[string]any{"value": e.Value}
	case "Organization", "Individual", "Sector":
		return map[string]any{"name": norm(e.Name), "identity_class": norm(e.identityClass())}
	case "Country":
		return map[string]any{"name": norm(e.Name), "x_opencti_location_type": e.locationType()}
	case "Threat-Actor-Group", "Threat-Actor-Individual":
		return map[string]any{"name": norm(e.Name), "opencti_type": e.EntityType}
	case "Incident":
		return map[string]any{"name": norm(e.Name), "created": isoTime(e.Created)}
	case "Attack-Pattern":
		if e.XMitreID != "" {
			return map[string]any{"x_mitre_id": strings.TrimSpace(e.XMitreID)}
		}
		return map[string]any{"name": norm(e.Name)}
	case "Indicator":
		if e.Pattern == "" {
			return nil
		}
		return map[string]any{"pattern": strings.TrimSpace(e.Pattern)}
	}
	return map[string]any{"name": norm(e.Name)}
}

// standardID computes "<type>--<UUIDv5(canonical JSON of props)>", random
// when props is nil.
func standardID(stixType string, props map[string]any) (string, error) {
	if props == nil {
		return stixType + "--" + uuid.NewString(), nil
	}
	raw, err := compactJSON(props)
	if err != nil {
		return "", err
	}
	canon, err := jcs.Transform(raw)
	if err != nil {
		return "", fmt.Errorf("canonicalize id properties: %w", err)
	}
	return stixType + "--" + uuid.NewSHA1(stixNamespace, canon).String(), nil
}

// internalID derives a stable internal id.
func internalID(seed string) string {
	return uuid.NewSHA1(internalNamespace, []byte(seed)).String()
}

// standardID of an external reference (url, else source_name + external_id).
func (r ExternalReference) standardID() string {
	props := map[string]any{"source_name": r.SourceName, "external_id": r.ExternalID}
	if r.URL != "" {
		props = map[string]any{"url": r.URL}
	}
	id, err := standardID("external-reference", props)
	if err != nil {
		return "external-reference--" + internalID(r.URL+r.SourceName+r.ExternalID)
	}
	return id
}

// knows reports whether id names the entity (internal, standard or other STIX id).
func (e *Entity) knows(id string) bool {
	if id == e.ID || id == e.StandardID {
		return true
	}
	for _, s := range e.StixIDs {
		if s == id {
			return true
		}
	}
	return false
}

// clone returns a deep enough copy for snapshots.
func (e *Entity) clone() Entity {
	out := *e
	out.Aliases = append([]string(nil), e.Aliases...)
	out.StixIDs = append([]string(nil), e.StixIDs...)
	out.Markings = append([]Marking(nil), e.Markings...)
	out.Labels = append([]Label(nil), e.Labels...)
	out.ExternalReferences = append([]ExternalReference(nil), e.ExternalReferences...)
	if e.Fields != nil {
		out.Fields = make(map[string]any, len(e.Fields))
		for k, v := range e.Fields {
			out.Fields[k] = v
		}
	}
	if e.CreatedBy != nil {
		c := e.CreatedBy.clone()
		out.CreatedBy = &c
	}
	return out
}
