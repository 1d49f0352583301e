package openctitest

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode"
)

// Filtering follows the platform's FilterGroup semantics over Elasticsearch:
// a group combines its filters and sub-groups with its mode (and/or); a
// filter matches when any of its keys matches, combining its values with the
// filter's mode (default or). Operator eq (the default) is a term query on
// the field's keyword sub-field, whose normalizer is lowercase + asciifolding
// (string_normalizer), so eq is case- and accent-insensitive; not_eq is its
// negation, nil/not_nil test emptiness. entity_type matches the type or any
// parent type, as the platform's type filter does.

// filterKeys returns the keys the fake can filter on.
func filterKeys() []string {
	return []string{"name", "aliases", "x_opencti_aliases", "x_mitre_id", "entity_type", "standard_id", "id"}
}

// matchGroup evaluates a coerced FilterGroup against an entity.
func matchGroup(g map[string]any, e *Entity) (bool, error) {
	mode, _ := g["mode"].(string)
	if mode == "" {
		mode = "and"
	}
	var results []bool
	filters, _ := g["filters"].([]any)
	for _, f := range filters {
		fm, ok := f.(map[string]any)
		if !ok {
			continue
		}
		ok, err := matchFilter(fm, e)
		if err != nil {
			return false, err
		}
		results = append(results, ok)
	}
	groups, _ := g["filterGroups"].([]any)
	for _, sub := range groups {
		sm, ok := sub.(map[string]any)
		if !ok {
			continue
		}
		ok, err := matchGroup(sm, e)
		if err != nil {
			return false, err
		}
		results = append(results, ok)
	}
	if len(results) == 0 {
		return true, nil
	}
	if mode == "or" {
		return slices.Contains(results, true), nil
	}
	return !slices.Contains(results, false), nil
}

// matchFilter evaluates one Filter.
func matchFilter(f map[string]any, e *Entity) (bool, error) {
	op, _ := f["operator"].(string)
	if op == "" {
		op = "eq"
	}
	mode, _ := f["mode"].(string)
	if mode == "" {
		mode = "or"
	}
	keys, _ := f["key"].([]any)
	values, _ := f["values"].([]any)
	for _, k := range keys {
		key, _ := k.(string)
		if !slices.Contains(filterKeys(), key) {
			return false, unsupportedError(fmt.Sprintf("openctitest: filter key %q is not supported by the fake (supported: %v)", key, filterKeys()), map[string]any{"keys": []string{key}})
		}
		fieldValues := entityField(e, key)
		var ok bool
		switch op {
		case "eq", "not_eq":
			var hits []bool
			for _, v := range values {
				hits = append(hits, termMatch(fieldValues, fmt.Sprint(v)))
			}
			if mode == "and" {
				ok = len(hits) > 0 && !slices.Contains(hits, false)
			} else {
				ok = slices.Contains(hits, true)
			}
			if op == "not_eq" {
				ok = !ok
			}
		case "nil":
			ok = len(fieldValues) == 0
		case "not_nil":
			ok = len(fieldValues) > 0
		default:
			return false, unsupportedError(fmt.Sprintf("openctitest: filter operator %q is not supported by the fake (supported: eq, not_eq, nil, not_nil)", op), nil)
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

// entityField returns the values of a filterable field.
func entityField(e *Entity, key string) []string {
	nonEmpty := func(s ...string) []string {
		return slices.DeleteFunc(s, func(x string) bool { return x == "" })
	}
	switch key {
	case "name":
		return nonEmpty(e.Name)
	case "aliases", "x_opencti_aliases":
		return nonEmpty(e.Aliases...)
	case "x_mitre_id":
		return nonEmpty(e.XMitreID)
	case "standard_id":
		return nonEmpty(e.StandardID)
	case "id":
		return nonEmpty(append([]string{e.ID, e.StandardID}, e.StixIDs...)...)
	case "entity_type":
		k, _ := kindOf(e.EntityType)
		return append([]string{e.EntityType}, k.parents...)
	}
	return nil
}

// termMatch compares like a term query on a keyword field with the
// platform's string_normalizer.
func termMatch(fieldValues []string, v string) bool {
	n := normalizeKeyword(v)
	for _, f := range fieldValues {
		if normalizeKeyword(f) == n {
			return true
		}
	}
	return false
}

// normalizeKeyword applies lowercase and ASCII folding of Latin letters.
func normalizeKeyword(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		b.WriteString(foldRune(r))
	}
	return b.String()
}

// foldRune folds common accented Latin letters to ASCII, as Elasticsearch's
// asciifolding filter does for the Latin-1 Supplement and Latin Extended-A.
func foldRune(r rune) string {
	if r < 0x80 || !unicode.IsLetter(r) {
		return string(r)
	}
	const from = "àáâãäåāăąçćĉċčďđèéêëēĕėęěĝğġģĥħìíîïĩīĭįıĵķĺļľŀłñńņňòóôõöøōŏőŕŗřśŝşšţťŧùúûüũūŭůűųŵýÿŷźżž"
	const to = "aaaaaaaaacccccddeeeeeeeeegggghhiiiiiiiiijklllllnnnnoooooooooorrrssssttttuuuuuuuuuuwyyyzzz"
	fromRunes, toRunes := []rune(from), []rune(to)
	if i := slices.Index(fromRunes, r); i >= 0 {
		return string(toRunes[i])
	}
	switch r {
	case 'æ':
		return "ae"
	case 'œ':
		return "oe"
	case 'ß':
		return "ss"
	case 'þ':
		return "th"
	}
	return string(r)
}

// searchMatch approximates the platform's full-text search: every word of
// the search must appear (case-insensitively) in the name, aliases,
// description or ATT&CK id.
func searchMatch(e *Entity, search string) bool {
	hay := normalizeKeyword(strings.Join(append([]string{e.Name, e.Description, e.XMitreID, e.Value}, e.Aliases...), " "))
	for _, w := range strings.Fields(normalizeKeyword(search)) {
		if !strings.Contains(hay, w) {
			return false
		}
	}
	return true
}

// typeMatch implements the types argument: the entity type or a parent
// type, case-insensitively.
func typeMatch(e *Entity, types []any) bool {
	if len(types) == 0 {
		return true
	}
	for _, t := range types {
		s, _ := t.(string)
		if termMatch(entityField(e, "entity_type"), s) {
			return true
		}
	}
	return false
}

// sortEntities orders entities for orderBy/orderMode; unsupported orderings
// keep insertion order.
func sortEntities(list []*Entity, orderBy, orderMode string) {
	var less func(a, b *Entity) bool
	switch orderBy {
	case "name":
		less = func(a, b *Entity) bool { return normalizeKeyword(a.Name) < normalizeKeyword(b.Name) }
	case "entity_type":
		less = func(a, b *Entity) bool { return a.EntityType < b.EntityType }
	case "created":
		less = func(a, b *Entity) bool { return a.Created.Before(b.Created) }
	case "modified":
		less = func(a, b *Entity) bool { return a.Modified.Before(b.Modified) }
	case "created_at":
		less = func(a, b *Entity) bool { return a.CreatedAt.Before(b.CreatedAt) }
	case "updated_at":
		less = func(a, b *Entity) bool { return a.UpdatedAt.Before(b.UpdatedAt) }
	default:
		return
	}
	if orderMode == "desc" {
		asc := less
		less = func(a, b *Entity) bool { return asc(b, a) }
	}
	sort.SliceStable(list, func(i, j int) bool { return less(list[i], list[j]) })
}
