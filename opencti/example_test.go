package opencti_test

import (
	"fmt"

	"github.com/riskiq-opencti/connectors/opencti"
)

// ExampleParseRequest decodes an automatic enrichment request as the platform
// publishes it on the connector's listen queue.
func ExampleParseRequest() {
	body := []byte(`{"internal":{"work_id":"work_5a8f_2024-01-15T10:30:00.000Z","applicant_id":null,"draft_id":null,"trigger":"create","mode":"auto"},` +
		`"event":{"event_type":"INTERNAL_ENRICHMENT","entity_id":"ipv4-addr--2f689bf9-0ff2-545f-aa61-e495eb8cecc7","entity_type":"IPv4-Addr",` +
		`"stix_entity":"{\"id\":\"ipv4-addr--2f689bf9-0ff2-545f-aa61-e495eb8cecc7\",\"type\":\"ipv4-addr\",\"value\":\"8.8.8.8\"}","stix_objects":null}}`)
	req, err := opencti.ParseRequest(body)
	if err != nil {
		fmt.Println("rejected:", err)
		return
	}
	fmt.Println(req.WorkID)
	fmt.Println(req.EntityType, req.EntityID)
	fmt.Println(req.Mode, req.InPlaybook())
	fmt.Println(string(req.StixEntity))
	// Output:
	// work_5a8f_2024-01-15T10:30:00.000Z
	// IPv4-Addr ipv4-addr--2f689bf9-0ff2-545f-aa61-e495eb8cecc7
	// auto false
	// {"id":"ipv4-addr--2f689bf9-0ff2-545f-aa61-e495eb8cecc7","type":"ipv4-addr","value":"8.8.8.8"}
}
