package enrichment

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/riskiq-opencti/connectors/internal/defenderti"
)

// ReputationClient is the Microsoft Defender TI client as the optional host
// reputation uses it (*defenderti.Client).
type ReputationClient interface {
	HostReputation(ctx context.Context, host string) (*defenderti.HostReputation, error)
}

// reputationLabelPrefix prefixes the classification label (spec §3.3).
const reputationLabelPrefix = "defender-ti:"

// knownClassifications are the classifications that set a score and a
// label; unknown, unknownFutureValue and unseen values set nothing.
var knownClassifications = map[string]bool{"neutral": true, "suspicious": true, "malicious": true}

// usableReputation returns the reputation when it says something, else nil.
func usableReputation(r *defenderti.HostReputation) *defenderti.HostReputation {
	if r == nil || !knownClassifications[strings.ToLower(r.Classification)] || r.Score < 0 || r.Score > 100 {
		return nil
	}
	return r
}

// reputation reads the host's reputation; a host Graph does not know has none.
func (d *defenderSource) reputation(ctx context.Context, host string) (*defenderti.HostReputation, error) {
	r, err := d.Reputation.HostReputation(ctx, host)
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		err = describeDefender(err)
		d.hold(err)
		return nil, fmt.Errorf("host reputation: %w", err)
	}
	return usableReputation(r), nil
}

// withReputation returns the enriched entity's STIX object with the
// reputation's score (x_opencti_score) and classification label
// (x_opencti_labels), also written into an OpenCTI extension that carries a
// score or labels, so that the platform reads them whichever it prefers.
func withReputation(raw json.RawMessage, r *defenderti.HostReputation) (json.RawMessage, error) {
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("decode the entity: %w", err)
	}
	label := reputationLabelPrefix + strings.ToLower(r.Classification)
	addLabel := func(m map[string]any, key string) {
		var labels []any
		if l, ok := m[key].([]any); ok {
			labels = l
		}
		if !slices.Contains(labels, any(label)) {
			labels = append(labels, label)
		}
		m[key] = labels
	}
	obj["x_opencti_score"] = r.Score
	addLabel(obj, "x_opencti_labels")
	if exts, ok := obj["extensions"].(map[string]any); ok {
		for _, e := range exts {
			ext, ok := e.(map[string]any)
			if !ok {
				continue
			}
			if _, ok := ext["score"]; ok {
				ext["score"] = r.Score
			}
			if _, ok := ext["labels"]; ok {
				addLabel(ext, "labels")
			}
		}
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode the entity: %w", err)
	}
	return out, nil
}
