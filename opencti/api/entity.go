package api

import (
	"context"
	"encoding/json"
	"fmt"
)

// Entity is a STIX core object read before an enrichment (spec §4.2), with
// its connection shapes flattened.
type Entity struct {
	// ID is the internal id.
	ID string
	// StandardID is the STIX id.
	StandardID string
	// EntityType is the OpenCTI type, e.g. IPv4-Addr.
	EntityType string
	// ParentTypes are the OpenCTI parent types.
	ParentTypes []string
	// ObservableValue is set for observables.
	ObservableValue string
	// Score is x_opencti_score of observables; nil when unset.
	Score *int
	// Description is x_opencti_description of observables.
	Description string
	// Markings are the entity's marking definitions, in platform order.
	Markings []Marking
	// CreatedBy is the author; nil when unset.
	CreatedBy *Identity
	// Organizations are the organizations the entity is shared with.
	Organizations []Identity
	// Labels are the label values.
	Labels []string
	// ExternalReferences are the external references.
	ExternalReferences []ExternalReference
	// Raw is data.stixCoreObject as the platform returned it (connections
	// still as edges/node), for callers that rebuild the STIX entity.
	Raw json.RawMessage
}

// Marking is a marking definition of an entity.
type Marking struct {
	// ID is the internal id.
	ID string `json:"id"`
	// StandardID is the STIX id.
	StandardID string `json:"standard_id"`
	// EntityType is Marking-Definition.
	EntityType string `json:"entity_type"`
	// DefinitionType is e.g. TLP or PAP.
	DefinitionType string `json:"definition_type"`
	// Definition is e.g. TLP:AMBER.
	Definition string `json:"definition"`
	// Color is x_opencti_color.
	Color string `json:"x_opencti_color"`
	// Order is x_opencti_order.
	Order int `json:"x_opencti_order"`
	// Created is the STIX created time as returned.
	Created string `json:"created"`
	// Modified is the STIX modified time as returned.
	Modified string `json:"modified"`
}

// Identity is an author or organization of an entity. The fields after
// IdentityClass are read for the author (createdBy) only, those pycti reads
// to export it; they are empty for organizations.
type Identity struct {
	// ID is the internal id.
	ID string `json:"id"`
	// StandardID is the STIX id.
	StandardID string `json:"standard_id"`
	// EntityType is e.g. Organization.
	EntityType string `json:"entity_type"`
	// Name is the identity's name.
	Name string `json:"name"`
	// IdentityClass is e.g. organization.
	IdentityClass string `json:"identity_class"`
	// SpecVersion is the STIX spec_version.
	SpecVersion string `json:"spec_version"`
	// Description is the description.
	Description string `json:"description"`
	// Roles are the STIX roles.
	Roles []string `json:"roles"`
	// ContactInformation is contact_information.
	ContactInformation string `json:"contact_information"`
	// Aliases are x_opencti_aliases.
	Aliases []string `json:"x_opencti_aliases"`
	// Created and Modified are the STIX dates as returned.
	Created  string `json:"created"`
	Modified string `json:"modified"`
	// Labels are the identity's labels (objectLabel).
	Labels []Label `json:"objectLabel"`
	// Reliability is x_opencti_reliability.
	Reliability string `json:"x_opencti_reliability"`
	// OrganizationType is x_opencti_organization_type (organizations).
	OrganizationType string `json:"x_opencti_organization_type"`
	// Firstname and Lastname are x_opencti_firstname and
	// x_opencti_lastname (individuals).
	Firstname string `json:"x_opencti_firstname"`
	Lastname  string `json:"x_opencti_lastname"`
}

// Label is a label of an identity.
type Label struct {
	// ID is the internal id.
	ID string `json:"id"`
	// Value is the label's text.
	Value string `json:"value"`
	// Color is the label's colour.
	Color string `json:"color"`
}

// ExternalReference is an external reference of an entity.
type ExternalReference struct {
	// ID is the internal id.
	ID string `json:"id"`
	// StandardID is the STIX id.
	StandardID string `json:"standard_id"`
	// SourceName is source_name.
	SourceName string `json:"source_name"`
	// Description is the description.
	Description string `json:"description"`
	// URL is the url.
	URL string `json:"url"`
	// Hash is the hash.
	Hash string `json:"hash"`
	// ExternalID is external_id.
	ExternalID string `json:"external_id"`
}

// entityJSON is stixCoreObject on the wire.
type entityJSON struct {
	ID                 string     `json:"id"`
	StandardID         string     `json:"standard_id"`
	EntityType         string     `json:"entity_type"`
	ParentTypes        []string   `json:"parent_types"`
	ObservableValue    string     `json:"observable_value"`
	Score              *int       `json:"x_opencti_score"`
	Description        string     `json:"x_opencti_description"`
	ObjectMarking      []Marking  `json:"objectMarking"`
	CreatedBy          *Identity  `json:"createdBy"`
	ObjectOrganization []Identity `json:"objectOrganization"`
	ObjectLabel        []struct {
		Value string `json:"value"`
	} `json:"objectLabel"`
	ExternalReferences *struct {
		Edges []struct {
			Node *ExternalReference `json:"node"`
		} `json:"edges"`
	} `json:"externalReferences"`
}

// StixCoreObject reads the entity to enrich. A null answer (missing entity
// or missing permission) is ErrEntityNotFound.
//
// query StixCoreObject($id: String!) { stixCoreObject(id: $id) { … } }
func (c *Client) StixCoreObject(ctx context.Context, id string) (*Entity, error) {
	var out struct {
		StixCoreObject json.RawMessage `json:"stixCoreObject"`
	}
	if err := c.do(ctx, docStixCoreObject, map[string]any{"id": id}, &out); err != nil {
		return nil, fmt.Errorf("read entity %q: %w", id, err)
	}
	if len(out.StixCoreObject) == 0 || string(out.StixCoreObject) == "null" {
		return nil, fmt.Errorf("read entity %q: %w", id, ErrEntityNotFound)
	}
	var w entityJSON
	if err := json.Unmarshal(out.StixCoreObject, &w); err != nil {
		return nil, fmt.Errorf("read entity %q: decode: %w", id, err)
	}
	e := &Entity{
		ID:              w.ID,
		StandardID:      w.StandardID,
		EntityType:      w.EntityType,
		ParentTypes:     w.ParentTypes,
		ObservableValue: w.ObservableValue,
		Score:           w.Score,
		Description:     w.Description,
		Markings:        w.ObjectMarking,
		CreatedBy:       w.CreatedBy,
		Organizations:   w.ObjectOrganization,
		Raw:             out.StixCoreObject,
	}
	for _, l := range w.ObjectLabel {
		e.Labels = append(e.Labels, l.Value)
	}
	if w.ExternalReferences != nil {
		for _, edge := range w.ExternalReferences.Edges {
			if edge.Node != nil {
				e.ExternalReferences = append(e.ExternalReferences, *edge.Node)
			}
		}
	}
	return e, nil
}
