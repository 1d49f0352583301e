package openctitest

import (
	"strconv"
	"strings"
)

// creatorObject is the Creator the fake attributes everything to.
func creatorObject(userID string) map[string]any {
	return map[string]any{"id": userID, "name": connectorUserName, "entity_type": "User"}
}

// entityObject builds the GraphQL object of an entity (every field the
// subset schema declares on its type).
func entityObject(e *Entity, userID string) map[string]any {
	k, _ := kindOf(e.EntityType)
	markings := make([]any, 0, len(e.Markings))
	for _, m := range e.Markings {
		markings = append(markings, markingObject(m, e, userID))
	}
	labels := make([]any, 0, len(e.Labels))
	for _, l := range e.Labels {
		labels = append(labels, labelObject(l, e, userID))
	}
	main := e.Name
	if k.sco {
		main = e.observableValue()
	}
	o := map[string]any{
		"__typename":         k.gqlType,
		"id":                 e.ID,
		"standard_id":        e.StandardID,
		"entity_type":        e.EntityType,
		"parent_types":       k.parents,
		"metrics":            nil,
		"representative":     map[string]any{"main": main, "secondary": nonEmpty(e.Description)},
		"x_opencti_stix_ids": stringsOrEmpty(e.StixIDs),
		"is_inferred":        false,
		"spec_version":       "2.1",
		"created_at":         e.CreatedAt,
		"updated_at":         e.UpdatedAt,
		"creators":           []any{creatorObject(userID)},
		"createdBy":          nil,
		"objectMarking":      markings,
		"objectOrganization": []any{},
		"objectLabel":        labels,
		"externalReferences": lazy(func(args map[string]any) (any, error) {
			nodes := make([]map[string]any, 0, len(e.ExternalReferences))
			for _, r := range e.ExternalReferences {
				nodes = append(nodes, externalReferenceObject(r, e, userID))
			}
			return connection(nodes, firstArg(args, len(nodes))), nil
		}),
		"toStix": lazy(func(map[string]any) (any, error) {
			raw, err := compactJSON(stixExport(e, userID))
			if err != nil {
				return nil, err
			}
			return string(raw), nil
		}),
	}
	if e.CreatedBy != nil {
		o["createdBy"] = entityObject(e.CreatedBy, userID)
	}
	if k.sco {
		o["x_opencti_score"] = e.Score
		o["x_opencti_description"] = nonEmpty(e.Description)
		o["observable_value"] = e.observableValue()
		o["indicators"] = lazy(func(map[string]any) (any, error) {
			return connection(nil, 0), nil
		})
		switch e.EntityType {
		case "Autonomous-System":
			o["number"] = e.Number
			o["name"] = nonEmpty(e.Name)
			o["rir"] = nil
		case "Email-Addr":
			o["value"] = e.Value
			o["display_name"] = nil
		default:
			o["value"] = e.Value
		}
	} else {
		o["revoked"] = e.Revoked
		o["confidence"] = e.Confidence
		o["lang"] = "en"
		o["created"] = e.Created
		o["modified"] = e.Modified
		o["name"] = e.Name
		o["description"] = nonEmpty(e.Description)
		o["aliases"] = stringsOrEmpty(e.Aliases)
		o["x_opencti_aliases"] = stringsOrEmpty(e.Aliases)
		if e.isIdentity() {
			o["identity_class"] = e.identityClass()
		}
		switch e.EntityType {
		case "Attack-Pattern":
			o["x_mitre_id"] = nonEmpty(e.XMitreID)
		case "Sector":
			o["isSubSector"] = false
		case "Indicator":
			o["pattern"] = nonEmpty(e.Pattern)
			o["pattern_type"] = nonEmpty(e.PatternType)
			o["x_opencti_score"] = e.Score
		case "Vulnerability":
			o["x_opencti_score"] = e.Score
		case "Malware":
			o["is_family"] = false
		}
	}
	for name, v := range e.Fields {
		o[name] = v
	}
	return o
}

func markingObject(m Marking, e *Entity, userID string) map[string]any {
	return map[string]any{
		"__typename": "MarkingDefinition", "id": m.ID, "standard_id": m.StandardID,
		"entity_type": "Marking-Definition", "parent_types": []string{"Basic-Object", "Stix-Object", "Stix-Meta-Object"},
		"metrics": nil, "representative": map[string]any{"main": m.Definition, "secondary": nil},
		"x_opencti_stix_ids": []string{}, "is_inferred": false, "spec_version": "2.1",
		"created_at": e.CreatedAt, "updated_at": e.CreatedAt, "created": e.CreatedAt, "modified": e.CreatedAt,
		"creators": []any{creatorObject(userID)}, "definition_type": m.DefinitionType, "definition": m.Definition,
		"x_opencti_order": m.Order, "x_opencti_color": nonEmpty(m.Color), "toStix": nil,
	}
}

func labelObject(l Label, e *Entity, userID string) map[string]any {
	return map[string]any{
		"__typename": "Label", "id": l.ID, "standard_id": "label--" + l.ID,
		"entity_type": "Label", "parent_types": []string{"Basic-Object", "Stix-Object", "Stix-Meta-Object"},
		"metrics": nil, "representative": map[string]any{"main": l.Value, "secondary": nil},
		"x_opencti_stix_ids": []string{}, "is_inferred": false, "spec_version": "2.1",
		"created_at": e.CreatedAt, "updated_at": e.CreatedAt, "created": e.CreatedAt, "modified": e.CreatedAt,
		"creators": []any{creatorObject(userID)}, "value": l.Value, "color": nonEmpty(l.Color), "toStix": nil,
	}
}

func externalReferenceObject(r ExternalReference, e *Entity, userID string) map[string]any {
	return map[string]any{
		"__typename": "ExternalReference", "id": r.ID, "standard_id": r.standardID(),
		"entity_type": "External-Reference", "parent_types": []string{"Basic-Object", "Stix-Object", "Stix-Meta-Object"},
		"metrics": nil, "representative": map[string]any{"main": r.SourceName, "secondary": nil},
		"x_opencti_stix_ids": []string{}, "is_inferred": false, "spec_version": "2.1",
		"created_at": e.CreatedAt, "updated_at": e.CreatedAt, "created": e.CreatedAt, "modified": e.CreatedAt,
		"creators": []any{creatorObject(userID)}, "source_name": r.SourceName, "description": nonEmpty(r.Description),
		"url": nonEmpty(r.URL), "hash": nonEmpty(r.Hash), "external_id": nonEmpty(r.ExternalID),
	}
}

// connection builds a Relay connection (edges/node, pageInfo) of the first
// n nodes.
func connection(nodes []map[string]any, n int) map[string]any {
	return connectionFrom(nodes, 0, n)
}

// connectionFrom builds a connection of nodes[offset:offset+n]; cursors are
// positions.
func connectionFrom(nodes []map[string]any, offset, n int) map[string]any {
	end := min(offset+n, len(nodes))
	if offset > end {
		offset = end
	}
	edges := make([]any, 0, end-offset)
	for i := offset; i < end; i++ {
		edges = append(edges, map[string]any{"cursor": cursor(i), "node": nodes[i]})
	}
	start, last := "", ""
	if end > offset {
		start, last = cursor(offset), cursor(end-1)
	}
	return map[string]any{
		"edges": edges,
		"pageInfo": map[string]any{
			"startCursor": start, "endCursor": last,
			"hasNextPage": end < len(nodes), "hasPreviousPage": offset > 0,
			"globalCount": len(nodes),
		},
	}
}

// cursor encodes a position.
func cursor(i int) string { return "fake-cursor-" + strconv.Itoa(i) }

// decodeCursor returns the position after cursor c, 0 for an unknown one.
func decodeCursor(c string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(c, "fake-cursor-"))
	if err != nil {
		return 0
	}
	return n + 1
}

// firstArg reads the "first" argument, def when absent.
func firstArg(args map[string]any, def int) int {
	if n, ok := args["first"].(int); ok && n >= 0 {
		return n
	}
	return def
}

func stringsOrEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// stixExport is the platform's STIX 2.1 export of an entity
// (stix-2-1-converter): the object with the OpenCTI extensions, empty
// properties left out. Keys are in the platform's order.
func stixExport(e *Entity, userID string) *object {
	k, _ := kindOf(e.EntityType)
	octi := newObject(
		"extension_type", "property-extension",
		"id", e.ID,
		"type", e.EntityType,
		"created_at", e.CreatedAt,
		"updated_at", e.UpdatedAt,
	)
	if e.hasOpenCTIAliases() && len(e.Aliases) > 0 {
		octi.set("aliases", e.Aliases)
	}
	if len(e.StixIDs) > 0 {
		octi.set("stix_ids", e.StixIDs)
	}
	octi.set("is_inferred", false)
	octi.set("creator_ids", []string{userID})
	if len(e.Labels) > 0 {
		ids := make([]string, 0, len(e.Labels))
		for _, l := range e.Labels {
			ids = append(ids, l.ID)
		}
		octi.set("labels_ids", ids)
	}
	if e.CreatedBy != nil {
		octi.set("created_by_ref_id", e.CreatedBy.ID)
	}
	markingRefs := make([]string, 0, len(e.Markings))
	for _, m := range e.Markings {
		markingRefs = append(markingRefs, m.StandardID)
	}
	labelValues := make([]string, 0, len(e.Labels))
	for _, l := range e.Labels {
		labelValues = append(labelValues, l.Value)
	}
	var extRefs []any
	for _, r := range e.ExternalReferences {
		ref := newObject("source_name", r.SourceName)
		setNonEmpty(ref, "description", r.Description)
		setNonEmpty(ref, "url", r.URL)
		setNonEmpty(ref, "external_id", r.ExternalID)
		extRefs = append(extRefs, ref)
	}
	o := newObject("id", e.StandardID, "spec_version", "2.1", "type", k.stixType)
	exts := newObject(extOpenCTI, octi)
	o.set("extensions", exts)
	if k.sco {
		sco := newObject("extension_type", "property-extension")
		if len(labelValues) > 0 {
			sco.set("labels", labelValues)
		}
		setNonEmpty(sco, "description", e.Description)
		if e.Score != nil {
			sco.set("score", *e.Score)
		}
		if e.CreatedBy != nil {
			sco.set("created_by_ref", e.CreatedBy.StandardID)
		}
		if len(extRefs) > 0 {
			sco.set("external_references", extRefs)
		}
		exts.set(extOpenCTISCO, sco)
		if len(markingRefs) > 0 {
			o.set("object_marking_refs", markingRefs)
		}
		switch e.EntityType {
		case "Autonomous-System":
			o.set("number", e.Number)
			setNonEmpty(o, "name", e.Name)
		default:
			o.set("value", e.Value)
		}
		return o
	}
	o.set("created", e.Created)
	o.set("modified", e.Modified)
	o.set("revoked", e.Revoked)
	if e.Confidence != nil {
		o.set("confidence", *e.Confidence)
	}
	o.set("lang", "en")
	if len(labelValues) > 0 {
		o.set("labels", labelValues)
	}
	if len(markingRefs) > 0 {
		o.set("object_marking_refs", markingRefs)
	}
	if e.CreatedBy != nil {
		o.set("created_by_ref", e.CreatedBy.StandardID)
	}
	if len(extRefs) > 0 {
		o.set("external_references", extRefs)
	}
	o.set("name", e.Name)
	setNonEmpty(o, "description", e.Description)
	switch {
	case e.isIdentity():
		o.set("identity_class", e.identityClass())
	case e.locationType() != "":
		if e.EntityType == "Country" {
			o.set("country", e.Name)
		}
		octi.set("location_type", e.locationType())
	case e.EntityType == "Incident":
		octi.set("extension_type", "new-sdo")
		if len(e.Aliases) > 0 {
			o.set("aliases", e.Aliases)
		}
	case e.EntityType == "Vulnerability":
		// Its aliases are x_opencti_aliases, exported in the OpenCTI
		// extension like those of identities and locations.
	case e.EntityType == "Indicator":
		setNonEmpty(o, "pattern", e.Pattern)
		setNonEmpty(o, "pattern_type", e.PatternType)
		if e.Score != nil {
			octi.set("score", *e.Score)
		}
	case e.EntityType == "Attack-Pattern":
		if len(e.Aliases) > 0 {
			o.set("aliases", e.Aliases)
		}
		if e.XMitreID != "" {
			exts.set(extMITRE, newObject("extension_type", "property-extension", "id", e.XMitreID))
		}
	default:
		if len(e.Aliases) > 0 {
			o.set("aliases", e.Aliases)
		}
	}
	return o
}

func setNonEmpty(o *object, k, v string) {
	if v != "" {
		o.set(k, v)
	}
}
