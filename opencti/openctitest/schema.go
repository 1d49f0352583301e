package openctitest

import (
	_ "embed"
	"fmt"
	"sync"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// schemaSDL is the hand-written subset of the platform schema the fake serves.
//
//go:embed testdata/schema.graphql
var schemaSDL string

// schema7xSDL extends schemaSDL with what OpenCTI 7.x adds to registration
// (WithOpenCTI7).
//
//go:embed testdata/schema-7x.graphql
var schema7xSDL string

// loadSchema parses schemaSDL once; the parsed schema is read-only afterwards.
var loadSchema = sync.OnceValues(func() (*ast.Schema, error) {
	s, err := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphql", Input: schemaSDL})
	if err != nil {
		return nil, fmt.Errorf("load subset schema: %w", err)
	}
	return s, nil
})

// loadSchema7x parses schemaSDL extended with schema7xSDL once.
var loadSchema7x = sync.OnceValues(func() (*ast.Schema, error) {
	s, err := gqlparser.LoadSchema(
		&ast.Source{Name: "schema.graphql", Input: schemaSDL},
		&ast.Source{Name: "schema-7x.graphql", Input: schema7xSDL},
	)
	if err != nil {
		return nil, fmt.Errorf("load 7.x subset schema: %w", err)
	}
	return s, nil
})
