package stix

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// TLP marking names, in pycti's upper-case form.
const (
	TLPClear       = "TLP:CLEAR"
	TLPWhite       = "TLP:WHITE"
	TLPGreen       = "TLP:GREEN"
	TLPAmber       = "TLP:AMBER"
	TLPAmberStrict = "TLP:AMBER+STRICT"
	TLPRed         = "TLP:RED"
)

// Fixed ids of the TLP marking definitions (§8.2). TLP:CLEAR and TLP:WHITE share one id.
const (
	TLPClearID       = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
	TLPWhiteID       = TLPClearID
	TLPGreenID       = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
	TLPAmberID       = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
	TLPAmberStrictID = "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37"
	TLPRedID         = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"
)

// ErrUnknownTLP is returned for a TLP name outside the accepted values.
var ErrUnknownTLP = errors.New("unknown TLP")

// tlpCreated returns the created timestamp of the TLP marking definitions.
func tlpCreated() time.Time { return time.Date(2017, time.January, 20, 0, 0, 0, 0, time.UTC) }

// tlpLevel returns the rank of a canonical TLP name in the order
// CLEAR = WHITE < GREEN < AMBER < AMBER+STRICT < RED.
func tlpLevel(name string) (int, bool) {
	switch name {
	case TLPClear, TLPWhite:
		return 0, true
	case TLPGreen:
		return 1, true
	case TLPAmber:
		return 2, true
	case TLPAmberStrict:
		return 3, true
	case TLPRed:
		return 4, true
	default:
		return 0, false
	}
}

func tlpIDs(name string) (string, bool) {
	switch name {
	case TLPClear, TLPWhite:
		return TLPClearID, true
	case TLPGreen:
		return TLPGreenID, true
	case TLPAmber:
		return TLPAmberID, true
	case TLPAmberStrict:
		return TLPAmberStrictID, true
	case TLPRed:
		return TLPRedID, true
	default:
		return "", false
	}
}

const acceptedTLP = "TLP:CLEAR, TLP:WHITE, TLP:GREEN, TLP:AMBER, TLP:AMBER+STRICT, TLP:RED " +
	"(any case, the TLP: prefix optional: clear, white, green, amber, amber+strict, red)"

// NormalizeTLP returns the canonical name (TLP:AMBER…) of a TLP written in any case, with or
// without the "TLP:" prefix: TLP:AMBER, tlp:amber and amber all give TLP:AMBER. Anything
// else fails with an error (wrapping ErrUnknownTLP) listing the accepted values.
func NormalizeTLP(s string) (string, error) {
	u := strings.ToUpper(s)
	if !strings.HasPrefix(u, "TLP:") {
		u = "TLP:" + u
	}
	if _, ok := tlpLevel(u); !ok {
		return "", fmt.Errorf("%w %q: accepted values are %s", ErrUnknownTLP, s, acceptedTLP)
	}
	return u, nil
}

// CheckMaxTLP is pycti's check_max_tlp: whether an entity marked tlp may be processed by a
// connector limited to maxTLP, in the order CLEAR = WHITE < GREEN < AMBER < AMBER+STRICT <
// RED. An empty tlp (no marking) or an empty maxTLP (no limit) allows everything. tlp is
// upper-cased and an unknown one is not allowed; maxTLP is read by NormalizeTLP (so "amber"
// works where pycti would raise) and an unknown one is an error.
func CheckMaxTLP(tlp, maxTLP string) (bool, error) {
	if tlp == "" || maxTLP == "" {
		return true, nil
	}
	maxName, err := NormalizeTLP(maxTLP)
	if err != nil {
		return false, fmt.Errorf("check max tlp: %w", err)
	}
	maxLevel, _ := tlpLevel(maxName)
	level, ok := tlpLevel(strings.ToUpper(tlp))
	return ok && level <= maxLevel, nil
}

// MarkingDefinition is a marking-definition: a TLP level or a custom statement.
type MarkingDefinition struct {
	id             string
	definitionType string
	name           string
	definitionKey  string
	definition     string
	openCTIType    string
	openCTIValue   string
	// Created is the creation time (required; fixed for the TLP markings).
	Created time.Time
}

// TLPMarking returns the marking definition of a TLP level (any form NormalizeTLP accepts),
// with the exact JSON of §8.2: the stix2 library's constants for WHITE, GREEN, AMBER and RED,
// pycti's export form for CLEAR and AMBER+STRICT. Each call returns a new value.
func TLPMarking(name string) (*MarkingDefinition, error) {
	canonical, err := NormalizeTLP(name)
	if err != nil {
		return nil, fmt.Errorf("tlp marking: %w", err)
	}
	id, _ := tlpIDs(canonical)
	return &MarkingDefinition{
		id:             id,
		definitionType: "tlp",
		name:           canonical,
		definitionKey:  "tlp",
		definition:     strings.ToLower(strings.TrimPrefix(canonical, "TLP:")),
		Created:        tlpCreated(),
	}, nil
}

// NewMarkingDefinition returns a custom marking definition; its id is
// MarkingDefinitionID(defType, def). defType "statement" gives a plain STIX statement
// marking ({"statement": def}); any other type (PAP, a custom one) gives the form OpenCTI's
// connectors-sdk writes: a "custom" statement plus x_opencti_definition_type and
// x_opencti_definition, which the platform reads. Use TLPMarking for TLP levels.
func NewMarkingDefinition(defType, def string) *MarkingDefinition {
	m := &MarkingDefinition{
		id:             MarkingDefinitionID(defType, def),
		definitionType: "statement",
		definitionKey:  "statement",
		definition:     def,
	}
	if defType != "statement" {
		m.definition = "custom"
		m.openCTIType, m.openCTIValue = defType, def
	}
	return m
}

// ID returns the marking definition's id.
func (o *MarkingDefinition) ID() string { return o.id }

// Type returns "marking-definition".
func (o *MarkingDefinition) Type() string { return "marking-definition" }

// Name returns the name (the TLP name for TLP markings, "" otherwise).
func (o *MarkingDefinition) Name() string { return o.name }

// MarshalJSON writes the marking definition as STIX 2.1 JSON.
func (o *MarkingDefinition) MarshalJSON() ([]byte, error) {
	w := newObjectWriter("marking-definition", o.id)
	if o.Created.IsZero() {
		w.fail(errors.New("created is required: set Created"))
	}
	w.timestamp("created", o.Created, true)
	w.required("definition_type", o.definitionType)
	w.str("name", o.name)
	w.value("definition", map[string]string{o.definitionKey: o.definition})
	if o.openCTIType != "" {
		w.setCustom("x_opencti_definition_type", o.openCTIType)
		w.setCustom("x_opencti_definition", o.openCTIValue)
	}
	return w.finish()
}
