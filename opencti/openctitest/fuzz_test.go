package openctitest

import (
	"encoding/json"
	"testing"
)

// FuzzSplitBundle checks that the worker's splitter accepts any bundle
// content: one object per part, never more parts than distinct ids.
func FuzzSplitBundle(f *testing.F) {
	f.Add(`{"type":"bundle","id":"bundle--1","objects":[{"type":"ipv4-addr","id":"ipv4-addr--1","value":"8.8.8.8"}]}`)
	f.Add(`{"objects":[{"id":"a--1","type":"a","x_ref":"a--1","y_refs":["b--2","a--1"]},{"id":"b--2","type":"b","z_ref":"a--1"},{"id":"a--1","type":"a"}]}`)
	f.Add(`{"objects":[{"type":"relationship","id":"relationship--1","target_ref":"x--1"},"oops",null,{}]}`)
	f.Add(`{"objects":[{"id":[]},{"id":{}},{"id":1},{"id":""}]}`)
	f.Fuzz(func(t *testing.T, content string) {
		var bundle map[string]any
		if err := json.Unmarshal([]byte(content), &bundle); err != nil {
			return
		}
		parts := splitBundle(bundle)
		// The splitter keeps only objects with a non-empty string id; any other "id"
		// (a list, an object: not hashable) is not one.
		ids := map[string]bool{}
		objects, _ := bundle["objects"].([]any)
		for _, o := range objects {
			if m, ok := o.(map[string]any); ok {
				if id, ok := m["id"].(string); ok && id != "" {
					ids[id] = true
				}
			}
		}
		if len(parts) > len(ids) {
			t.Fatalf("%d parts for %d distinct ids", len(parts), len(ids))
		}
		for _, p := range parts {
			objs, _ := p.vals["objects"].([]any)
			if len(objs) != 1 {
				t.Fatalf("part with %d objects", len(objs))
			}
			if id, _ := objs[0].(map[string]any)["id"].(string); !ids[id] {
				t.Fatalf("part object id %q is not one of the bundle's", id)
			}
			if _, err := compactJSON(p); err != nil {
				t.Fatalf("part does not encode: %v", err)
			}
		}
	})
}
