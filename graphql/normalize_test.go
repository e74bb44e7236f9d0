package graphql

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
)

const testSDL = `
type Query { book(id: ID!): Book  books(first: Int = 10, genre: Genre): [Book!]!  node(id: ID!): Node  search(text: String!): [SearchResult!]! }
interface Node { id: ID! }
type Book implements Node { id: ID!  title: String!  year: Int!  author: Author!  price(currency: String = "EUR"): Float! }
type Author implements Node { id: ID!  name: String!  books: [Book!]! }
union SearchResult = Book | Author
enum Genre { FICTION SCIENCE }
`

func testSchema(t testing.TB) *ast.Schema {
	t.Helper()
	s, err := gqlparser.LoadSchema(&ast.Source{Input: testSDL})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustNormalize(t *testing.T, schema *ast.Schema, q string, vars map[string]any) *operation {
	t.Helper()
	doc, err := parser.ParseQuery(&ast.Source{Input: q})
	if err != nil {
		t.Fatalf("parse %q: %v", q, err)
	}
	op, err := selectOperation(doc, "")
	if err != nil {
		t.Fatal(err)
	}
	n, err := normalize(doc, op, schema, map[string][]string{"Book": {"id"}, "Author": {"id"}}, vars)
	if err != nil {
		t.Fatalf("normalize %q: %v", q, err)
	}
	return n
}

func printed(op *operation) []string {
	var out []string
	for _, f := range op.root.fields {
		q, v := printQuery(op.kind, op.dirs, []*field{f})
		out = append(out, q+" "+string(v))
	}
	return out
}

func TestEquivalentOperationsPrintAlike(t *testing.T) {
	schema := testSchema(t)
	base := `query { book(id: "1") { title year author { name } } }`
	variants := map[string]string{
		"whitespace_comments_order": "# comment\nquery Q {\n  book(id: \"1\") {\n    year\n    title\n    author { name }\n  }\n}",
		"aliases_fragment_spread":   `query Q($id: ID!) { b: book(id: $id) { t: title ...F author { n: name } } } fragment F on Book { year }`,
		"default_variable_inline":   `query Q($id: ID = "1") { book(id: $id) { ... on Book { year title } author { name } } }`,
		"split_selections":          `{ book(id: "1") { title } book(id: "1") { year author { name } } }`,
		"skip_include":              `query ($no: Boolean = false) { book(id: "1") { title year @include(if: true) price @include(if: $no) author { name } } }`,
	}
	want := printed(mustNormalize(t, schema, base, nil))
	if len(want) != 1 {
		t.Fatalf("base has %d root fields, want 1", len(want))
	}
	for name, q := range variants {
		t.Run(name, func(t *testing.T) {
			got := printed(mustNormalize(t, schema, q, map[string]any{"id": "1"}))
			if !slices.Equal(got, want) {
				t.Errorf("printed\n%q\nwant\n%q", got, want)
			}
		})
	}
	t.Run("different_arguments_differ", func(t *testing.T) {
		got := printed(mustNormalize(t, schema, `{ book(id: "2") { title year author { name } } }`, nil))
		if slices.Equal(got, want) {
			t.Errorf("book 2 printed as book 1: %q", got)
		}
	})
}

func TestVariablesOfOtherTypesStayVariables(t *testing.T) {
	schema := testSchema(t)
	a := printed(mustNormalize(t, schema, `query ($g: Genre, $n: Int) { books(first: $n, genre: $g) { id } }`, map[string]any{"g": "FICTION", "n": json2(3)}))
	b := printed(mustNormalize(t, schema, `query ($x: Int, $genre: Genre) { books(genre: $genre, first: $x) { id } }`, map[string]any{"genre": "FICTION", "x": json2(3)}))
	if !slices.Equal(a, b) {
		t.Fatalf("renamed variables print differently:\n%q\n%q", a, b)
	}
	want := `query($v0: Genre) {books_`
	if len(a) != 1 || len(a[0]) < len(want) || a[0][:len(want)] != want {
		t.Fatalf("printed %q, want the enum kept as $v0 and the Int inlined", a)
	}
}

func json2(n int) any { return jsonNumber(n) }

// Fragments on two types may select one name with two types (a union's
// members); printed under one response key the query would be invalid.
func TestFieldsOfTwoFragmentsKeepApart(t *testing.T) {
	schema, err := gqlparser.LoadSchema(&ast.Source{Input: `
type Query { u: [U!]! }
union U = B | M
type B { price: Float! }
type M { price: Int! }
`})
	if err != nil {
		t.Fatal(err)
	}
	op := mustNormalize(t, schema, `{ u { ... on B { bp: price } ... on M { mp: price } } }`, nil)
	for _, q := range printed(op) {
		q = q[:strings.LastIndex(q, " ")] // the variables
		doc, err := parser.ParseQuery(&ast.Source{Input: q})
		if err != nil {
			t.Fatalf("printed %q does not parse: %v", q, err)
		}
		if errs := validator.Validate(schema, doc); len(errs) > 0 {
			t.Fatalf("printed %q is invalid: %v", q, errs)
		}
	}
}

// A required variable without a value is a request error the origin
// reports in its own words: moat does not drop the argument.
func TestMissingRequiredVariableIsNotNormalized(t *testing.T) {
	doc, err := parser.ParseQuery(&ast.Source{Input: `query ($id: ID!) { book(id: $id) { title } }`})
	if err != nil {
		t.Fatal(err)
	}
	op, _ := selectOperation(doc, "")
	if _, err := normalize(doc, op, nil, nil, map[string]any{}); !errors.Is(err, errUnsupported) {
		t.Fatalf("normalize: %v, want errUnsupported (forwarded as it came)", err)
	}
}
