package stix_test

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/riskiq-opencti/connectors/opencti/stix"
)

// A Python connector calls StixCoreRelationship.generate_id with a naive datetime parsed from
// PassiveTotal's "2023-05-01 10:20:30": NaiveTime reproduces its isoformat().
func ExampleRelationshipID() {
	firstSeen, _ := time.Parse(time.DateTime, "2023-05-01 10:20:30")
	start := stix.NaiveTime(firstSeen)
	id := stix.RelationshipID("resolves-to",
		stix.NewDomainName("example.com").ID(), stix.NewIPv4Addr("93.184.216.34").ID(), &start, nil)
	fmt.Println(start)
	fmt.Println(id)
	// Output:
	// 2023-05-01T10:20:30
	// relationship--a555fd6e-b2fb-5d94-97e5-9e4edb3d443f
}

func ExampleNewIPv4Addr() {
	author := stix.NewOrganization("RiskIQ PassiveTotal")
	ip := stix.NewIPv4Addr("8.8.8.8")
	ip.ObjectMarkingRefs = []string{stix.TLPWhiteID}
	ip.CreatedByRef = author.ID()
	ip.Extra = map[string]any{"x_opencti_main_observable_type": "IPv4-Addr"}
	out, _ := ip.MarshalJSON()
	fmt.Println(string(out))
	// Output:
	// {"type":"ipv4-addr","spec_version":"2.1","id":"ipv4-addr--2f689bf9-0ff2-545f-aa61-e495eb8cecc7","value":"8.8.8.8","object_marking_refs":["marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"],"x_opencti_created_by_ref":"identity--3dd5005e-308b-57f5-b865-ba1f5e230b13","x_opencti_main_observable_type":"IPv4-Addr"}
}

func ExampleSplit() {
	now := time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)
	tlp, _ := stix.TLPMarking("amber")
	author := stix.NewOrganization("RiskIQ")
	author.Created = now
	domain := stix.NewDomainName("example.com")
	domain.ObjectMarkingRefs = []string{tlp.ID()}
	domain.CreatedByRef = author.ID()

	data, _ := json.Marshal(stix.NewBundle(domain, author, tlp))
	res, err := stix.Split(data, stix.SplitOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, part := range res.Parts {
		var p struct {
			Seq     int `json:"x_opencti_seq"`
			Objects []struct {
				ID string `json:"id"`
			} `json:"objects"`
		}
		_ = json.Unmarshal(part, &p)
		fmt.Println(p.Seq, p.Objects[0].ID)
	}
	// Output:
	// 1 marking-definition--f88d31f6-486f-44da-b317-01333bde0b82
	// 1 identity--12206468-7cbe-566d-a9b5-c7b23a2e8818
	// 3 domain-name--bedb4899-d24b-5401-bc86-8f6b4cc18ec7
}

func ExampleCheckMaxTLP() {
	maxTLP, err := stix.NormalizeTLP("amber")
	fmt.Println(maxTLP, err)
	for _, tlp := range []string{"TLP:GREEN", "TLP:AMBER+STRICT", ""} {
		ok, _ := stix.CheckMaxTLP(tlp, maxTLP)
		fmt.Printf("%q %v\n", tlp, ok)
	}
	_, err = stix.NormalizeTLP("TLP:AMBER+")
	fmt.Println(err != nil)
	// Output:
	// TLP:AMBER <nil>
	// "TLP:GREEN" true
	// "TLP:AMBER+STRICT" false
	// "" true
	// true
}
