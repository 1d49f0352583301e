// Package stix builds the STIX 2.1 objects and bundles OpenCTI connectors send, with the
// deterministic ids pycti and the stix2 library compute, the TLP marking definitions, and
// pycti's bundle splitter.
//
// # Ids
//
// Every object's id comes from its constructor (NewIPv4Addr, NewRelationship…), computed as
// pycti's generate_id functions and the stix2 library do: "<type>--" followed by the UUIDv5,
// in namespace 00abedb4-aa42-466c-9c01-fed23315a9b7, of the RFC 8785 canonical JSON of the
// id contributing properties. The same functions are exported on their own (IdentityID,
// RelationshipID, ObservableID…) for ids of objects built elsewhere. There is no way to set
// an id by hand. Names are normalised like Python's str.lower().strip().
//
// Dates that contribute to ids are Time values, which remember how the Python connector
// spelled them (isoformat of a naive or aware datetime, or a string used verbatim), since
// each spelling gives a different id.
//
// # Objects
//
// Constructors take the id contributing and required properties; other properties are
// exported fields, the shared ones in the embedded Common (domain objects, relationships) and
// ObservableCommon (observables), with Extra for further x_opencti_* properties. MarshalJSON
// writes the STIX properties in the order the stix2 library does, then custom properties
// sorted by name, omits empty values, and fails when a required property is missing
// (domain objects and relationships need Created).
//
// # Bundles and splitting
//
// NewBundle gathers objects, including raw JSON from the platform, into a bundle. Split
// turns a bundle into the one-object bundles pycti publishes, byte for byte.
package stix
