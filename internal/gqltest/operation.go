package gqltest

import (
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// operation is what the recorder and the GET rule need to know of a request's
// operation, read with gqlparser's parser alone (no validation against the
// schema: graph-gophers does that when it executes).
type operation struct {
	kind       ast.Operation // query, mutation or subscription
	rootFields []string
}

// parseOperation finds the operation that graph-gophers will execute (the one
// named operationName, or the only one when operationName is empty) and the
// names, not aliases, of its root fields in document order, fragments
// (inline and named) expanded where they stand. A field selected twice is
// listed twice; @skip and @include are not evaluated. ok is false when the
// query does not parse or names no such operation.
func parseOperation(query, operationName string) (op operation, ok bool) {
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		return operation{}, false
	}
	def := doc.Operations.ForName(operationName)
	if def == nil {
		return operation{}, false
	}
	op.kind = def.Operation // the parser gives the shorthand { ... } ast.Query
	op.rootFields = appendFieldNames(nil, doc, def.SelectionSet, map[string]bool{})
	return op, true
}

// appendFieldNames appends the names of the fields of set. spreading holds the
// named fragments being expanded, so that a cycle (invalid, but parseable)
// ends.
func appendFieldNames(names []string, doc *ast.QueryDocument, set ast.SelectionSet, spreading map[string]bool) []string {
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			names = append(names, sel.Name)
		case *ast.InlineFragment:
			names = appendFieldNames(names, doc, sel.SelectionSet, spreading)
		case *ast.FragmentSpread:
			frag := doc.Fragments.ForName(sel.Name)
			if frag == nil || spreading[sel.Name] {
				continue
			}
			spreading[sel.Name] = true
			names = appendFieldNames(names, doc, frag.SelectionSet, spreading)
			delete(spreading, sel.Name)
		}
	}
	return names
}
