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

// loadSchema parses schemaSDL once; the parsed schema is read-only afterwards.
var loadSchema = sync.OnceValues(func() (*ast.Schema, error) {
	s, err := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphql", Input: schemaSDL})
	if err != nil {
		return nil, fmt.Errorf("load subset schema: %w", err)
	}
	return s, nil
})
