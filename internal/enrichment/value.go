package enrichment

import (
	"encoding/json"

	"github.com/riskiq-opencti/connectors/opencti"
)

// stixValue reads the "value" property of the request's STIX entity.
func stixValue(req *opencti.Request) (string, bool) {
	if req.StixEntity == nil {
		return "", false
	}
	var v struct {
		Value string `json:"value"`
	}
	if json.Unmarshal(req.StixEntity, &v) != nil || v.Value == "" {
		return "", false
	}
	return v.Value, true
}
