package api

import (
	"context"
	"errors"
	"fmt"
)

// DefaultDomainObjectsFirst is the page size when DomainObjectQuery.First is 0.
const DefaultDomainObjectsFirst = 100

// DomainObjectQuery selects domain objects whose filter keys equal one of
// the values, e.g. article tags resolved to Threat-Actor, Intrusion-Set,
// Campaign, Incident, Malware, Tool, Attack-Pattern, Sector, Country or
// Vulnerability.
type DomainObjectQuery struct {
	// Types are OpenCTI entity types ("Intrusion-Set", "Attack-Pattern"…);
	// empty means every domain object type.
	Types []string
	// Keys are the filter keys, any of which may match: "name" (default),
	// "aliases", "x_opencti_aliases", "x_mitre_id".
	Keys []string
	// Values are the values to match exactly (operator eq); at least one.
	Values []string
	// First is the page size (default DefaultDomainObjectsFirst); only the
	// first page is returned.
	First int
}

// DomainObject is a domain object found by StixDomainObjects.
type DomainObject struct {
	// ID is the internal id.
	ID string
	// StandardID is the STIX id.
	StandardID string
	// EntityType is the OpenCTI type; for locations it tells the kind
	// (Country, Region, City…), the schema has no separate location type.
	EntityType string
	// ParentTypes are the OpenCTI parent types.
	ParentTypes []string
	// Name is the object's name.
	Name string
	// Aliases are aliases or x_opencti_aliases, whichever the type has.
	Aliases []string
	// XMitreID is x_mitre_id of attack patterns.
	XMitreID string
	// IdentityClass is identity_class of identities (sectors: "class").
	IdentityClass string
}

// filterJSON is one Filter input.
type filterJSON struct {
	Key      []string `json:"key"`
	Values   []string `json:"values"`
	Operator string   `json:"operator"`
	Mode     string   `json:"mode"`
}

// filterGroupJSON is a FilterGroup input.
type filterGroupJSON struct {
	Mode         string            `json:"mode"`
	Filters      []filterJSON      `json:"filters"`
	FilterGroups []filterGroupJSON `json:"filterGroups"`
}

// StixDomainObjects returns the domain objects matching q (first page).
//
// query StixDomainObjects($types: [String], $filters: FilterGroup, $first: Int) { stixDomainObjects(…) { edges { node { … } } } }
func (c *Client) StixDomainObjects(ctx context.Context, q DomainObjectQuery) ([]DomainObject, error) {
	if len(q.Values) == 0 {
		return nil, errors.New("list domain objects: no value to match")
	}
	if q.First < 0 {
		return nil, fmt.Errorf("list domain objects: page size %d is negative", q.First)
	}
	keys := q.Keys
	if len(keys) == 0 {
		keys = []string{"name"}
	}
	first := q.First
	if first == 0 {
		first = DefaultDomainObjectsFirst
	}
	vars := map[string]any{
		"types": nil,
		"filters": filterGroupJSON{
			Mode:         "and",
			Filters:      []filterJSON{{Key: keys, Values: q.Values, Operator: "eq", Mode: "or"}},
			FilterGroups: []filterGroupJSON{},
		},
		"first": first,
	}
	if len(q.Types) > 0 {
		vars["types"] = q.Types
	}
	var out struct {
		StixDomainObjects *struct {
			Edges []struct {
				Node *struct {
					ID              string   `json:"id"`
					StandardID      string   `json:"standard_id"`
					EntityType      string   `json:"entity_type"`
					ParentTypes     []string `json:"parent_types"`
					Name            string   `json:"name"`
					Aliases         []string `json:"aliases"`
					XOpenCTIAliases []string `json:"x_opencti_aliases"`
					XMitreID        string   `json:"x_mitre_id"`
					IdentityClass   string   `json:"identity_class"`
				} `json:"node"`
			} `json:"edges"`
		} `json:"stixDomainObjects"`
	}
	if err := c.do(ctx, docDomainObjects, vars, &out); err != nil {
		return nil, fmt.Errorf("list domain objects: %w", err)
	}
	if out.StixDomainObjects == nil {
		return nil, nil
	}
	var objs []DomainObject
	for _, edge := range out.StixDomainObjects.Edges {
		n := edge.Node
		if n == nil {
			continue
		}
		aliases := n.Aliases
		if len(aliases) == 0 {
			aliases = n.XOpenCTIAliases
		}
		objs = append(objs, DomainObject{
			ID:            n.ID,
			StandardID:    n.StandardID,
			EntityType:    n.EntityType,
			ParentTypes:   n.ParentTypes,
			Name:          n.Name,
			Aliases:       aliases,
			XMitreID:      n.XMitreID,
			IdentityClass: n.IdentityClass,
		})
	}
	return objs, nil
}
