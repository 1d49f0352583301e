package defenderti

import "time"

// Sources a connector reads RiskIQ data from (RISKIQ_SOURCE).
const (
	// SourcePassiveTotal is the PassiveTotal v2 API (the default, as before).
	SourcePassiveTotal = "passivetotal"
	// SourceDefender is Microsoft Defender Threat Intelligence on Microsoft Graph.
	SourceDefender = "defender"
)

// Artifact is an inline artifact: the artifact of a passive DNS record or of
// an article indicator, or the parentHost of a record. ODataType is the
// concrete type ("#microsoft.graph.security.hostname", "…ipAddress",
// "…unclassifiedArtifact"…); parentHost carries none. Kind and Value are set
// for unclassifiedArtifact only.
type Artifact struct {
	ODataType string `json:"@odata.type,omitempty"`
	ID        string `json:"id"`
	Kind      string `json:"kind,omitempty"`
	Value     string `json:"value,omitempty"`
}

// Artifact types (the @odata.type of an [Artifact]).
const (
	TypeHostname             = "#microsoft.graph.security.hostname"
	TypeIPAddress            = "#microsoft.graph.security.ipAddress"
	TypeUnclassifiedArtifact = "#microsoft.graph.security.unclassifiedArtifact"
	TypeHostSslCertificate   = "#microsoft.graph.security.hostSslCertificate"
	TypeSslCertificate       = "#microsoft.graph.security.sslCertificate"
)

// PassiveDNSRecord is a passiveDnsRecord (spec §2.4). In both directions
// ParentHost is the queried value and Artifact the other side.
type PassiveDNSRecord struct {
	ID                string    `json:"id"`
	CollectedDateTime time.Time `json:"collectedDateTime"`
	FirstSeenDateTime time.Time `json:"firstSeenDateTime"`
	LastSeenDateTime  time.Time `json:"lastSeenDateTime"`
	// RecordType is not an enum: compare case-insensitively, pass unknown
	// values through.
	RecordType string   `json:"recordType"`
	Artifact   Artifact `json:"artifact"`
	ParentHost Artifact `json:"parentHost"`
}

// PassiveDNSResult is what a passive DNS lookup returns.
type PassiveDNSResult struct {
	// Records are the records seen within the look-back window, newest
	// lastSeenDateTime first when the API honoured the order.
	Records []PassiveDNSRecord
	// Count is @odata.count, -1 when the API sent none.
	Count int
	// Truncated tells the record cap (DEFENDER_TI_MAX_RECORDS) was reached.
	Truncated bool
}

// FormattedContent is a formattedContent: Format is "text", "html",
// "markdown" or another value to treat as text.
type FormattedContent struct {
	Content string `json:"content"`
	Format  string `json:"format"`
}

// Article is a threat-intelligence article (spec §4.2). Its indicators are
// read apart.
type Article struct {
	ID                  string           `json:"id"`
	Title               string           `json:"title"`
	Summary             FormattedContent `json:"summary"`
	Body                FormattedContent `json:"body"`
	CreatedDateTime     time.Time        `json:"createdDateTime"`
	LastUpdatedDateTime time.Time        `json:"lastUpdatedDateTime"`
	IsFeatured          bool             `json:"isFeatured"`
	Tags                []string         `json:"tags"`
	ImageURL            *string          `json:"imageUrl"`
}

// Indicator sources (articleIndicator.source); the abstract indicator page's
// spellings are accepted as synonyms by [NormalizeSource].
const (
	SourceMicrosoft = "microsoft"
	SourceOSINT     = "osint"
	SourcePublic    = "public"
)

// ArticleIndicator is an articleIndicator (spec §4.4).
type ArticleIndicator struct {
	ID       string   `json:"id"`
	Source   string   `json:"source"`
	Artifact Artifact `json:"artifact"`
}

// HostReputation is a hostReputation (spec §3.2).
type HostReputation struct {
	ID string `json:"id"`
	// Classification is unknown, neutral, suspicious or malicious (any
	// other value reads as unknown).
	Classification string               `json:"classification"`
	Score          int                  `json:"score"`
	Rules          []HostReputationRule `json:"rules"`
}

// HostReputationRule is one rule behind a reputation.
type HostReputationRule struct {
	Name              string  `json:"name"`
	Description       string  `json:"description"`
	Severity          string  `json:"severity"`
	RelatedDetailsURL *string `json:"relatedDetailsUrl"`
}
