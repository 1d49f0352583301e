package stix

import (
	"errors"
	"fmt"
	"time"
)

// Relationship is a STIX relationship (SRO) such as resolves-to, related-to, based-on.
type Relationship struct {
	id, relType, sourceRef, targetRef string
	// StartTime and StopTime are the start_time and stop_time properties; zero is omitted.
	// NewRelationship sets them from its start and stop arguments. Changing them does not
	// change the id, which is how a Python connector that hashes only start_time while
	// writing both is reproduced.
	StartTime, StopTime time.Time
	Common
}

// NewRelationship returns a relationship; its id is RelationshipID(relType, sourceRef,
// targetRef, start, stop) and StartTime/StopTime are set from start and stop. It fails when a
// given time is not a date-time or stop is not later than start (STIX requires it).
func NewRelationship(relType, sourceRef, targetRef string, start, stop *Time) (*Relationship, error) {
	if relType == "" || sourceRef == "" || targetRef == "" {
		return nil, errors.New("new relationship: relationship type, source and target are required")
	}
	r := &Relationship{
		id:        RelationshipID(relType, sourceRef, targetRef, start, stop),
		relType:   relType,
		sourceRef: sourceRef,
		targetRef: targetRef,
	}
	var err error
	if start != nil && !start.IsZero() {
		if r.StartTime, err = start.Instant(); err != nil {
			return nil, fmt.Errorf("new relationship: start time: %w", err)
		}
	}
	if stop != nil && !stop.IsZero() {
		if r.StopTime, err = stop.Instant(); err != nil {
			return nil, fmt.Errorf("new relationship: stop time: %w", err)
		}
	}
	if err := r.checkTimes(); err != nil {
		return nil, fmt.Errorf("new relationship: %w", err)
	}
	return r, nil
}

func (o *Relationship) checkTimes() error {
	if !o.StartTime.IsZero() && !o.StopTime.IsZero() && !o.StopTime.After(o.StartTime) {
		return fmt.Errorf("stop time %s is not later than start time %s",
			formatTimestamp(o.StopTime, false), formatTimestamp(o.StartTime, false))
	}
	return nil
}

// ID returns the relationship's id.
func (o *Relationship) ID() string { return o.id }

// Type returns "relationship".
func (o *Relationship) Type() string { return "relationship" }

// RelationshipType returns the relationship type, e.g. "resolves-to".
func (o *Relationship) RelationshipType() string { return o.relType }

// SourceRef returns the id of the source object.
func (o *Relationship) SourceRef() string { return o.sourceRef }

// TargetRef returns the id of the target object.
func (o *Relationship) TargetRef() string { return o.targetRef }

// MarshalJSON writes the relationship as STIX 2.1 JSON.
func (o *Relationship) MarshalJSON() ([]byte, error) {
	w := newObjectWriter("relationship", o.id)
	w.sdoHead(&o.Common)
	w.required("relationship_type", o.relType)
	w.str("description", o.Description)
	w.required("source_ref", o.sourceRef)
	w.required("target_ref", o.targetRef)
	if err := o.checkTimes(); err != nil {
		w.fail(err)
	}
	w.timestamp("start_time", o.StartTime, false)
	w.timestamp("stop_time", o.StopTime, false)
	w.sdoTail(&o.Common)
	return w.finish()
}
