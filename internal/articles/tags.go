package articles

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/riskiq-opencti/connectors/opencti/api"
)

// DomainObjectLister finds existing OpenCTI domain objects; *api.Client fits.
type DomainObjectLister interface {
	StixDomainObjects(ctx context.Context, q api.DomainObjectQuery) ([]api.DomainObject, error)
}

// mitreTag matches ATT&CK tags: "T1566", "T1566.001" and, since 2024,
// "T1566.001 - Spearphishing Attachment".
var mitreTag = regexp.MustCompile(`^(T\d{4}(?:\.\d{3})?)(?: - .*)?$`)

// TagLookupValue returns the value a tag is looked up by in OpenCTI: the
// ATT&CK id of a technique tag, else the tag itself, trimmed.
func TagLookupValue(tag string) string {
	t := strings.TrimSpace(tag)
	if m := mitreTag.FindStringSubmatch(t); m != nil {
		return m[1]
	}
	return t
}

// tagLookupPage is how many matches are read for a tag; the first of a type
// the converter maps is used.
const tagLookupPage = 25

// tagResolver resolves article tags to OpenCTI entities, looking each
// distinct value up once; one is used per run, so that entities created in
// OpenCTI meanwhile are found by the next run.
type tagResolver struct {
	lister  DomainObjectLister
	cache   map[string]*Entity // nil: no match
	lookups int
}

func newTagResolver(l DomainObjectLister) *tagResolver {
	return &tagResolver{lister: l, cache: map[string]*Entity{}}
}

// resolve returns the entities the tags name, in tag order, once each.
func (r *tagResolver) resolve(ctx context.Context, tags []string) ([]Entity, error) {
	var out []Entity
	for _, tag := range tags {
		v := TagLookupValue(tag)
		if v == "" {
			continue
		}
		e, cached := r.cache[v]
		if !cached {
			var err error
			if e, err = r.lookup(ctx, v); err != nil {
				return nil, err
			}
			r.cache[v] = e
		}
		if e != nil {
			out = append(out, *e)
		}
	}
	return out, nil
}

// lookup finds the entity named v (by name or ATT&CK id), preferring the
// first match of a type the converter maps.
func (r *tagResolver) lookup(ctx context.Context, v string) (*Entity, error) {
	r.lookups++
	objs, err := r.lister.StixDomainObjects(ctx, api.DomainObjectQuery{
		Types:  TagEntityTypes(),
		Keys:   []string{"name", "x_mitre_id"},
		Values: []string{v},
		First:  tagLookupPage,
	})
	if err != nil {
		return nil, fmt.Errorf("look up tag %q in OpenCTI: %w", v, err)
	}
	for _, o := range objs {
		if mapped(o.EntityType) && o.Name != "" {
			return &Entity{Type: o.EntityType, Name: o.Name, MitreID: o.XMitreID}, nil
		}
	}
	return nil, nil
}
