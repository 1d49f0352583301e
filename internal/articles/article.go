package articles

import "time"

// Article is a threat-intelligence article, independent of the provider.
type Article struct {
	// GUID is the provider's id of the article, e.g. "e86878b1".
	GUID string
	// Title is the article's title; empty gives the report the name
	// "RiskIQ Threat Report", as in the Python connector.
	Title string
	// Summary is a short abstract: the report's description.
	Summary string
	// Content is the full text when the provider has one; it becomes the
	// report's content (x_opencti_content).
	Content string
	// Link is the article's web page.
	Link string
	// Created is when the provider added the article (zero when unknown).
	// It orders the import and is saved in the state.
	Created time.Time
	// Published is the publication date, zero when the provider has none;
	// PublishedRaw is the text as received ("" for none). The report id hashes
	// the publication date as the Python connector spelled it, so the raw text
	// matters.
	Published    time.Time
	PublishedRaw string
	// CreatedRaw is the creation date as received; it stands in for a
	// missing publication date.
	CreatedRaw string
	// Private is set for an article that is not public (PassiveTotal's
	// "type" is not "public"): its report, tag objects and relationships
	// are then TLP:AMBER instead of TLP:WHITE.
	Private bool
	// Tags are free text: actors, malware, sectors, countries, CVEs and
	// ATT&CK techniques such as "T1566.001 - Spearphishing Attachment".
	Tags []string
	// Indicators are the article's indicator values, by type.
	Indicators []IndicatorGroup
	// Unsupported counts the indicators the provider's adapter skipped
	// because they have no STIX mapping (e.g. Defender TI host components);
	// the run's work message adds them up.
	Unsupported int
	// Updated is the last update date when the provider has one (Microsoft
	// Defender TI's lastUpdatedDateTime, which orders its import); zero for
	// PassiveTotal.
	Updated time.Time
	// ReferenceSource is the source_name of the report's external reference
	// ("" is "riskiq", the PassiveTotal importer's).
	ReferenceSource string
}

// IndicatorGroup is the set of indicator values of one type in an article.
type IndicatorGroup struct {
	// Type is the provider's indicator type, e.g. "domain", "ip", "hash_md5".
	Type string
	// Values are the indicator values.
	Values []string
	// Source is "public" for public indicators (TLP:WHITE); any other source
	// makes them TLP:AMBER.
	Source string
}

// OpenCTI entity types a tag may resolve to.
const (
	EntityThreatActor   = "Threat-Actor"
	EntityIntrusionSet  = "Intrusion-Set"
	EntityCampaign      = "Campaign"
	EntityIncident      = "Incident"
	EntityMalware       = "Malware"
	EntityTool          = "Tool"
	EntityAttackPattern = "Attack-Pattern"
	EntitySector        = "Sector"
	EntityCountry       = "Country"
	EntityVulnerability = "Vulnerability"
)

// TagEntityTypes returns the types searched for a tag, those of the Python
// connector, in a new slice. Only Intrusion-Set, Malware, Tool,
// Attack-Pattern, Sector, Country and Vulnerability matches become objects.
func TagEntityTypes() []string {
	return []string{
		EntityThreatActor, EntityIntrusionSet, EntityCampaign, EntityIncident, EntityMalware,
		EntityTool, EntityAttackPattern, EntitySector, EntityCountry, EntityVulnerability,
	}
}

// Entity is an existing OpenCTI entity an article tag names.
type Entity struct {
	// Type is the OpenCTI entity type, one of the Entity* constants.
	Type string
	// Name is the entity's name.
	Name string
	// MitreID is the ATT&CK id of an attack pattern ("" when none).
	MitreID string
}

// mapped reports whether the converter turns an entity of type t into an
// object.
func mapped(t string) bool {
	switch t {
	case EntityIntrusionSet, EntityMalware, EntityTool, EntityAttackPattern, EntitySector, EntityCountry, EntityVulnerability:
		return true
	}
	return false
}
