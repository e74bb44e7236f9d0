package graphql

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
)

// FuzzNormalize: whatever a client sends, normalize does not panic, and
// each root field it prints (a cache key, the query the origin is asked,
// the URL a warm-up replays) parses, is valid where the client's
// operation was, and normalizes and prints again to the same bytes.
// Without a schema, and with the gqltest schema when the operation
// validates against it.
func FuzzNormalize(f *testing.F) {
	schema := benchSchema(f)
	for _, c := range benchOperations {
		vars, _ := canonicalJSON(c.vars)
		f.Add(c.query, string(vars))
	}
	seeds := []struct{ query, vars string }{
		{`{ book(id: "1") { title year author { name } } }`, ``},
		{`query B($id: ID!) { b: book(id: $id) { y: year ...T author { n: name } } } fragment T on Book { t: title }`, `{"id":"1"}`},
		{`query ($g: Genre, $n: Int) { books(first: $n, genre: $g) { id } }`, `{"g":"FICTION","n":3}`},
		{`query ($no: Boolean = false) { book(id: "1") { title year @include(if: true) price @include(if: $no) author { name } } }`, ``},
		{`{ search(text: "Author 1") { ... on Book { title } ... on Author { name books { id } } } }`, ``},
		{`{ node(id: "a1") { id ... on Author { name } ... on Book { title } } }`, ``},
		{`query ($c: String = "USD") { b: book(id: "2") { p: price(currency: $c) e: price } }`, `{}`},
		{`{ a: author(id: "a1") { name } book(id: "2") { title } book(id: "2") { year } }`, ``},
		{"query Q { book(id: \"3\") { ... { title } ... on Book @skip(if: false) { year } } }", ``},
		{`mutation { updateBook(id: "1", title: "Renamed \"quoted\" \u00e9") { id title } }`, ``},
		{`query @live { me { name tier } clock }`, ``},
		{`{ x { y(a: [1, 2.5, "s", null, true, ENUM, {b: {c: []}}]) @dir(x: """block""") { z ... on T { w } } } }`, ``},
		{`query ($v: [ID!]!, $o: In) { f(ids: $v, o: $o) { ... on A { moat__on_A: __typename a } } }`, `{"v":["1",2],"o":{"b":[1],"a":null}}`},
		{`query A { a } query B { b }`, ``},
	}
	for _, s := range seeds {
		f.Add(s.query, s.vars)
	}
	f.Fuzz(func(t *testing.T, query, vars string) {
		doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, 15000)
		if err != nil {
			return
		}
		var vm map[string]any
		if decodeJSON([]byte(vars), &vm) != nil {
			vm = nil
		}
		valid := utf8.ValidString(query)
		fuzzPrintsAgain(t, doc, nil, vm, valid)
		if len(validator.Validate(schema, doc)) == 0 {
			fuzzPrintsAgain(t, doc, schema, vm, valid)
		}
	})
}

// fuzzPrintsAgain checks that each root field of each operation of doc
// that normalizes prints to a query that is itself canonical. A string
// literal that is not UTF-8 prints with U+FFFD in its place (as an
// escape, and its key is hashed from that), so the printed query of such
// an operation is canonical from its second printing on.
func fuzzPrintsAgain(t *testing.T, doc *ast.QueryDocument, schema *ast.Schema, vars map[string]any, validUTF8 bool) {
	t.Helper()
	for _, def := range doc.Operations {
		op, err := normalize(doc, def, schema, benchKeys, vars)
		if err != nil {
			continue
		}
		for _, f := range op.root.fields {
			q, v := printQuery(op.kind, op.dirs, []*field{f})
			if schema != nil && !missingRequired(def, vars) {
				fuzzValid(t, schema, q)
			}
			q2, v2 := fuzzReprint(t, schema, q, v)
			if !validUTF8 {
				q, v = q2, v2
				q2, v2 = fuzzReprint(t, schema, q, v)
			}
			if q2 != q || !bytes.Equal(v2, v) {
				t.Fatalf("printing is not idempotent:\nfirst  %s %s\nsecond %s %s", q, v, q2, v2)
			}
		}
	}
}

func fuzzValid(t *testing.T, schema *ast.Schema, q string) {
	t.Helper()
	doc, err := parser.ParseQuery(&ast.Source{Input: q})
	if err != nil {
		t.Fatalf("printed query does not parse: %v\nprinted %s", err, q)
	}
	if errs := validator.Validate(schema, doc); len(errs) > 0 {
		t.Fatalf("printed query is invalid: %v\nprinted %s", errs, q)
	}
}

// fuzzReprint parses, normalizes and prints a printed root field again.
func fuzzReprint(t *testing.T, schema *ast.Schema, q string, v []byte) (string, []byte) {
	t.Helper()
	doc, err := parser.ParseQuery(&ast.Source{Input: q})
	if err != nil {
		t.Fatalf("printed query does not parse: %v\nprinted %s", err, q)
	}
	var vars map[string]any
	if err := decodeJSON(v, &vars); err != nil {
		t.Fatalf("printed variables %s: %v", v, err)
	}
	op, err := normalize(doc, doc.Operations[0], schema, benchKeys, vars)
	if err != nil {
		t.Fatalf("printed query does not normalize: %v\nprinted %s %s", err, q, v)
	}
	if len(op.root.fields) != 1 {
		t.Fatalf("printed query has %d root fields, want 1\nprinted %s", len(op.root.fields), q)
	}
	return printQuery(op.kind, op.dirs, op.root.fields)
}

// missingRequired reports whether vars lack a value for a non-null
// variable of def that has no default: a request error (GraphQL spec
// §6.1.2, CoerceVariableValues). normalize drops the argument instead, so
// the printed query is invalid and the origin's error names the argument,
// not the variable; the validity of such a printed query is not checked.
func missingRequired(def *ast.OperationDefinition, vars map[string]any) bool {
	for _, vd := range def.VariableDefinitions {
		if _, ok := vars[vd.Variable]; !ok && vd.Type.NonNull && vd.DefaultValue == nil {
			return true
		}
	}
	return false
}
