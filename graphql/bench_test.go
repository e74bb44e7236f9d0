package graphql

// Benchmarks of the GraphQL hot paths (an operation parsed, validated,
// normalized and printed; a client request answered from the cache through
// a real gateway) and a simulation of the hit ratio of a generated
// operation mix under four keyings. docs/benchmarks.md ("GraphQL") has the
// figures and the commands that produced them.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/internal/gqltest"
	"github.com/moatproxy/moat/policy"
)

// benchKeys are the entity keys of the gqltest schema, as a deployment
// would configure them (normalize adds them, and __typename, to what it
// prints).
var benchKeys = map[string][]string{"Book": {"id"}, "Author": {"id"}}

func benchSchema(tb testing.TB) *ast.Schema {
	tb.Helper()
	s, err := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphql", Input: gqltest.SDL()})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// benchOperation is a realistic client operation over the gqltest schema.
type benchOperation struct {
	name  string
	query string
	vars  map[string]any // as decodeJSON gives them: numbers are json.Number
}

var benchOperations = []benchOperation{
	{
		// One root field, 5 fields.
		name:  "small",
		query: `query Book { book(id: "1") { id title year genre price } }`,
	},
	{
		// 3 root fields, a fragment spread twice, aliases, variables (one
		// absent: its default applies).
		name: "medium",
		query: `query Home($id: ID!, $first: Int = 5) {
  featured: book(id: $id) { ...Card author { name } }
  latest: books(first: $first) { ...Card }
  author(id: "a2") { name books { t: title year } }
}
fragment Card on Book { id title year genre }`,
		vars: map[string]any{"id": "3"},
	},
	{
		// About 100 selected fields: nested lists, fragments, inline
		// fragments on a union and on an interface, a directive.
		name: "large",
		query: `query Catalog($n: Int!, $text: String!, $withPrice: Boolean!) {
  books(first: $n) {
    id title year genre price(currency: "USD") @include(if: $withPrice)
    author { id name books { id title year genre } }
  }
  search(text: $text) {
    __typename
    ... on Book { id title year genre author { id name } }
    ... on Author { id name books { id title year genre price } }
  }
  n1: node(id: "a1") { id ... on Author { name books { ...BookFull } } }
  n2: node(id: "4") { id ... on Book { ...BookFull } }
  a2: author(id: "a2") { ...AuthorFull }
  a3: author(id: "a3") { ...AuthorFull }
  a4: author(id: "a4") { ...AuthorFull }
  b1: book(id: "1") { ...BookFull }
  b2: book(id: "2") { ...BookFull }
  b5: book(id: "5") { ...BookFull title year }
}
fragment BookFull on Book { id title year genre price author { id name } }
fragment AuthorFull on Author { id name books { id title year genre price author { name } } }`,
		vars: map[string]any{"n": json.Number("20"), "text": "Book 1", "withPrice": true},
	},
}

// BenchmarkNormalize is what moat does with a query before it looks
// anything up: parse, validate against the schema, normalize, and print
// each root field (its cache key and its origin query).
func BenchmarkNormalize(b *testing.B) {
	schema := benchSchema(b)
	for _, c := range benchOperations {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: c.query}, 15000)
				if err != nil {
					b.Fatal(err)
				}
				if errs := validator.Validate(schema, doc); len(errs) > 0 {
					b.Fatal(errs)
				}
				op, err := normalize(doc, doc.Operations[0], schema, benchKeys, c.vars)
				if err != nil {
					b.Fatal(err)
				}
				for _, f := range op.root.fields {
					printQuery(op.kind, op.dirs, []*field{f})
				}
			}
		})
	}
}

// BenchmarkNormalizeStage splits BenchmarkNormalize into its stages.
func BenchmarkNormalizeStage(b *testing.B) {
	schema := benchSchema(b)
	for _, c := range benchOperations {
		src := &ast.Source{Input: c.query}
		doc, err := parser.ParseQueryWithTokenLimit(src, 15000)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name+"/parse", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := parser.ParseQueryWithTokenLimit(src, 15000); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/validate", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if errs := validator.Validate(schema, doc); len(errs) > 0 {
					b.Fatal(errs)
				}
			}
		})
		b.Run(c.name+"/normalize_print", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				op, err := normalize(doc, doc.Operations[0], schema, benchKeys, c.vars)
				if err != nil {
					b.Fatal(err)
				}
				for _, f := range op.root.fields {
					printQuery(op.kind, op.dirs, []*field{f})
				}
			}
		})
	}
}

// BenchmarkHit is a client's POST through a real gateway with the graphql
// extension, every root field answered from L1: no network (the request
// is served by ServeHTTP into a recorder; the origin is only asked while
// warming).
func BenchmarkHit(b *testing.B) {
	origin := gqltest.Start(b)
	routes, err := policy.New([]policy.Policy{{Pattern: "/graphql", AllowCredentials: true}})
	if err != nil {
		b.Fatal(err)
	}
	u, _ := url.Parse(origin.URL)
	gw, err := gateway.New(gateway.Options{Origin: u, Policies: routes,
		Logger: slog.New(slog.DiscardHandler),
		Extensions: map[string]gateway.NewExtension{"/graphql": New(Options{
			Schema: benchSchema(b), Keys: benchKeys, DefaultMaxAge: time.Minute})}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { gw.Close() })
	for _, c := range benchOperations {
		b.Run(c.name, func(b *testing.B) {
			body, _ := json.Marshal(map[string]any{"query": c.query, "variables": c.vars})
			serve := func() *httptest.ResponseRecorder {
				req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				gw.ServeHTTP(rec, req)
				return rec
			}
			if rec := serve(); rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), `"errors"`) {
				b.Fatalf("warming: %d %s", rec.Code, rec.Body)
			}
			asked := origin.Count()
			var rec *httptest.ResponseRecorder
			b.ReportAllocs()
			for b.Loop() {
				rec = serve()
			}
			if got := rec.Header().Get("X-Cache"); got != "HIT" || origin.Count() != asked {
				b.Fatalf("X-Cache %q (%s), origin asked %d times while measuring", got,
					rec.Header().Get("Cache-Status"), origin.Count()-asked)
			}
		})
	}
}

// The operation mix.
//
// A deterministic stream of queries over the gqltest schema (1% of them
// mutations of one book), keyed four ways, with infinite capacity and no
// TTL. The root fields come from a Zipf-distributed population; each
// selects one of a few shapes of fields, in a random order, with random
// aliases, whitespace, comments, operation names, fragments and variables.
// Two mixes:
//
//   - varied: every operation is generated afresh, as the issue asks.
//   - documents: 200 client documents (each generated once the same way,
//     its arguments variables 90% of the time) chosen by Zipf, the
//     variables drawn per request: the same text comes back, as from real
//     applications.
//
// A mutation of Book N invalidates, under every keying, each entry whose
// result holds Book N: book(id: N); books(first: K) for K >= N (in id
// order); books(genre: G) if Book N is among the first 10 of genre G;
// author(id: aM) if it selects books and M wrote N. Souin's keying drops
// everything on any mutation.

const (
	mixBook = iota
	mixAuthor
	mixBooksFirst
	mixBooksGenre
	mixKinds
)

var mixGenres = []string{"FICTION", "SCIENCE", "HISTORY"} // seedGenre's cycle

// mixSel is a field of a shape, with its subselection.
type mixSel struct {
	name string
	sub  []mixSel
}

func mixFields(names ...string) []mixSel {
	out := make([]mixSel, len(names))
	for i, n := range names {
		out[i] = mixSel{name: n}
	}
	return out
}

var (
	mixBookShapes = [][]mixSel{
		mixFields("id", "title"),
		mixFields("title", "year"),
		mixFields("id", "title", "year", "genre"),
		append(mixFields("title"), mixSel{"author", mixFields("name")}),
		mixFields("id", "title", "price"),
	}
	mixAuthorShapes = [][]mixSel{
		mixFields("name"),
		mixFields("id", "name"),
		append(mixFields("name"), mixSel{"books", mixFields("id", "title")}),
		append(mixFields("name"), mixSel{"books", mixFields("title", "year")}),
	}
	mixShapeWeights = []int{40, 25, 15, 10, 10} // of the first shapes of each list
)

// mixRoot is one root field of a generated operation: all its
// randomness, so that rendering it is deterministic.
type mixRoot struct {
	kind      int
	val       int // book id, author number, first, genre index
	asVar     bool
	shape     int
	order     []int  // the shape's fields, permuted
	alias     string // "" for none
	leafAlias []bool // by position in order
	frag      int    // 0 inline, 1 named fragment spread, 2 inline fragment
	fragName  string
}

type mixSpec struct {
	style   int    // 0 compact, 1 one line, 2 pretty, 3 pretty with commas and comments
	name    string // operation name; "" for an anonymous one
	keyword bool   // "query" even when the shorthand would do
	roots   []mixRoot
}

// mixGen generates operations.
type mixGen struct {
	r     *rand.Rand
	pop   [][2]int // (kind, val) by Zipf rank
	zpop  *rand.Zipf
	zval  [mixKinds]*rand.Zipf
	nvals [mixKinds]int
}

func newMixGen(seed uint64) *mixGen {
	g := &mixGen{r: rand.New(rand.NewPCG(seed, 0x6d6f6174))}
	g.nvals = [mixKinds]int{20, 5, 3, 3}
	for k := range mixKinds {
		for v := range g.nvals[k] {
			g.pop = append(g.pop, [2]int{k, v})
		}
		g.zval[k] = rand.NewZipf(g.r, 1.1, 1, uint64(g.nvals[k]-1))
	}
	g.r.Shuffle(len(g.pop), func(i, j int) { g.pop[i], g.pop[j] = g.pop[j], g.pop[i] })
	g.zpop = rand.NewZipf(g.r, 1.1, 1, uint64(len(g.pop)-1))
	return g
}

func (g *mixGen) weighted(w []int) int {
	total := 0
	for _, x := range w {
		total += x
	}
	n := g.r.IntN(total)
	for i, x := range w {
		if n < x {
			return i
		}
		n -= x
	}
	return len(w) - 1
}

func (g *mixGen) chance(pct int) bool { return g.r.IntN(100) < pct }

// spec generates an operation of 1-3 distinct root fields; varPct is the
// chance that an argument is a variable.
func (g *mixGen) spec(varPct int) mixSpec {
	s := mixSpec{style: g.r.IntN(4), keyword: g.chance(50)}
	if g.chance(50) {
		s.name = []string{"Q", "GetBooks", "Page", "Load"}[g.r.IntN(4)]
	}
	n := 1 + g.weighted([]int{60, 30, 10})
	var picked [][2]int
	for len(s.roots) < n {
		p := g.pop[g.zpop.Uint64()]
		if slices.Contains(picked, p) {
			continue
		}
		picked = append(picked, p)
		s.roots = append(s.roots, g.root(p[0], p[1], varPct, len(s.roots)))
	}
	// Two root fields of one name need an alias on one of them.
	for i := range s.roots {
		for j := range i {
			if s.roots[j].alias == "" && s.roots[i].alias == "" && mixRootName(s.roots[i].kind) == mixRootName(s.roots[j].kind) {
				s.roots[i].alias = "r" + strconv.Itoa(i)
			}
		}
	}
	return s
}

func (g *mixGen) root(kind, val, varPct, i int) mixRoot {
	shapes := mixBookShapes
	if kind == mixAuthor {
		shapes = mixAuthorShapes
	}
	r := mixRoot{kind: kind, val: val, asVar: g.chance(varPct), shape: g.weighted(mixShapeWeights[:len(shapes)])}
	r.order = g.r.Perm(len(shapes[r.shape]))
	for range r.order {
		r.leafAlias = append(r.leafAlias, g.chance(10))
	}
	if g.chance(20) {
		r.alias = []string{"b", "item", "main", "x"}[g.r.IntN(4)] + strconv.Itoa(i)
	}
	r.frag = g.weighted([]int{70, 20, 10})
	r.fragName = []string{"Card", "Fields", "Parts"}[g.r.IntN(3)] + strconv.Itoa(i)
	return r
}

func mixRootName(kind int) string {
	switch kind {
	case mixBook:
		return "book"
	case mixAuthor:
		return "author"
	}
	return "books"
}

// mixWriter writes GraphQL in one of the styles.
type mixWriter struct {
	b     strings.Builder
	style int
	first []bool // per open selection set: nothing written in it yet
}

func (w *mixWriter) open() {
	switch w.style {
	case 0:
		w.b.WriteString("{")
	case 1:
		w.b.WriteString(" { ")
	default:
		w.b.WriteString(" {\n")
	}
	w.first = append(w.first, true)
}

// item starts a field or fragment in the current selection set.
func (w *mixWriter) item() {
	top := len(w.first) - 1
	if w.style < 2 {
		if !w.first[top] {
			w.b.WriteString(" ")
		}
	} else {
		w.b.WriteString(strings.Repeat("  ", len(w.first)))
	}
	w.first[top] = false
}

// end ends an item.
func (w *mixWriter) end() {
	switch w.style {
	case 2:
		w.b.WriteString("\n")
	case 3:
		w.b.WriteString(",\n")
	}
}

func (w *mixWriter) close() {
	w.first = w.first[:len(w.first)-1]
	switch w.style {
	case 0:
		w.b.WriteString("}")
	case 1:
		w.b.WriteString(" }")
	default:
		w.b.WriteString(strings.Repeat("  ", len(w.first)) + "}")
	}
}

func (w *mixWriter) colon() string {
	if w.style == 0 {
		return ":"
	}
	return ": "
}

// render writes s as a document and its variables.
func (s mixSpec) render() (string, map[string]any) {
	w := &mixWriter{style: s.style}
	vars := map[string]any{}
	var defs, frags []string
	body := &mixWriter{style: s.style}
	body.open()
	for i, r := range s.roots {
		argName, varName, typ, value := r.arg(i)
		arg := argName + w.colon() + mixLiteral(value)
		if r.asVar {
			vars[varName] = value
			defs = append(defs, "$"+varName+w.colon()+typ)
			arg = argName + w.colon() + "$" + varName
		}
		if s.style == 3 && i == 0 {
			body.b.WriteString("  # the page's data\n")
		}
		body.item()
		if r.alias != "" {
			body.b.WriteString(r.alias + body.colon())
		}
		body.b.WriteString(mixRootName(r.kind) + "(" + arg + ")")
		sels := r.selections()
		on := "Book"
		if r.kind == mixAuthor {
			on = "Author"
		}
		body.open()
		switch r.frag {
		case 0:
			mixWriteSels(body, sels, r.leafAlias)
		case 1:
			body.item()
			body.b.WriteString("..." + r.fragName)
			body.end()
			fw := &mixWriter{style: s.style}
			fw.b.WriteString("fragment " + r.fragName + " on " + on)
			fw.open()
			mixWriteSels(fw, sels, r.leafAlias)
			fw.close()
			frags = append(frags, fw.b.String())
		case 2:
			body.item()
			body.b.WriteString("... on " + on)
			body.open()
			mixWriteSels(body, sels, r.leafAlias)
			body.close()
			body.end()
		}
		body.close()
		body.end()
	}
	body.close()

	if s.style == 3 {
		w.b.WriteString("# generated by the operation mix\n")
	}
	if len(defs) > 0 || s.name != "" || s.keyword {
		w.b.WriteString("query")
		if s.name != "" {
			w.b.WriteString(" " + s.name)
		}
		if len(defs) > 0 {
			sep := ", "
			if s.style == 0 {
				sep = ","
			}
			w.b.WriteString("(" + strings.Join(defs, sep) + ")")
		}
		if s.style == 0 {
			w.b.WriteString(" ")
		}
	}
	text := w.b.String() + strings.TrimPrefix(body.b.String(), " ")
	for _, f := range frags {
		text += "\n" + f
	}
	return text, vars
}

// arg returns root r's argument: its name, the name and type of its
// variable, and its value.
func (r mixRoot) arg(i int) (name, varName, typ string, value any) {
	suffix := strconv.Itoa(i)
	switch r.kind {
	case mixBook:
		return "id", "id" + suffix, "ID!", strconv.Itoa(r.val + 1)
	case mixAuthor:
		return "id", "author" + suffix, "ID!", "a" + strconv.Itoa(r.val+1)
	case mixBooksFirst:
		return "first", "first" + suffix, "Int", json.Number(strconv.Itoa([]int{10, 5, 20}[r.val]))
	}
	return "genre", "genre" + suffix, "Genre", mixGenres[r.val]
}

func mixLiteral(v any) string {
	switch v := v.(type) {
	case json.Number:
		return string(v)
	case string:
		if slices.Contains(mixGenres, v) {
			return v // an enum value
		}
		return strconv.Quote(v)
	}
	panic(fmt.Sprintf("mixLiteral(%T)", v))
}

func (r mixRoot) selections() []mixSel {
	shape := mixBookShapes[r.shape]
	if r.kind == mixAuthor {
		shape = mixAuthorShapes[r.shape]
	}
	out := make([]mixSel, len(r.order))
	for i, j := range r.order {
		out[i] = shape[j]
	}
	return out
}

func mixWriteSels(w *mixWriter, sels []mixSel, alias []bool) {
	for i, s := range sels {
		w.item()
		if alias[i] && s.sub == nil {
			w.b.WriteString("my" + strings.ToUpper(s.name[:1]) + s.name[1:] + w.colon())
		}
		w.b.WriteString(s.name)
		if s.sub != nil {
			w.open()
			mixWriteSels(w, s.sub, make([]bool, len(s.sub)))
			w.close()
		}
		w.end()
	}
}

// mixOp is one operation of the stream, keyed: its raw body, its root
// fields printed (canonical order), and the books each root field holds.
type mixOp struct {
	raw      string
	fields   []string
	holds    []uint32 // bit n-1: Book n
	mutation int      // the book a mutation updates; 0 for a query
}

// mixStream generates n operations of a mix ("varied" or "documents") and
// keys them with parse, validate, normalize and printQuery.
func mixStream(tb testing.TB, schema *ast.Schema, mix string, n int) []mixOp {
	tb.Helper()
	g := newMixGen(2026)
	var docs []mixSpec
	var zdoc *rand.Zipf
	if mix == "documents" {
		for range 200 {
			docs = append(docs, g.spec(90))
		}
		zdoc = rand.NewZipf(g.r, 1.1, 1, uint64(len(docs)-1))
	}
	ops := make([]mixOp, 0, n)
	for len(ops) < n {
		if g.chance(1) {
			ops = append(ops, mixOp{mutation: 1 + g.r.IntN(20)})
			continue
		}
		var s mixSpec
		if docs == nil {
			s = g.spec(30)
		} else {
			s = docs[zdoc.Uint64()]
			s.roots = slices.Clone(s.roots)
			for i := range s.roots {
				if s.roots[i].asVar {
					s.roots[i].val = int(g.zval[s.roots[i].kind].Uint64())
				}
			}
		}
		text, vars := s.render()
		ops = append(ops, mixKey(tb, schema, text, vars))
	}
	return ops
}

func mixKey(tb testing.TB, schema *ast.Schema, text string, vars map[string]any) mixOp {
	tb.Helper()
	doc, err := parser.ParseQuery(&ast.Source{Input: text})
	if err != nil {
		tb.Fatalf("generated operation does not parse: %v\n%s", err, text)
	}
	if errs := validator.Validate(schema, doc); len(errs) > 0 {
		tb.Fatalf("generated operation is invalid: %v\n%s", errs, text)
	}
	op, err := normalize(doc, doc.Operations[0], schema, benchKeys, vars)
	if err != nil {
		tb.Fatalf("normalize: %v\n%s", err, text)
	}
	vj, _ := json.Marshal(vars)
	m := mixOp{raw: text + "\x00" + string(vj)}
	for _, f := range op.root.fields {
		q, v := printQuery(op.kind, op.dirs, []*field{f})
		m.fields = append(m.fields, q+"\x00"+string(v))
		m.holds = append(m.holds, mixHolds(f))
	}
	return m
}

// mixHolds is the set of books root field f's result holds (the seeded
// library: Book n is by author ((n-1)%5)+1, of genre mixGenres[(n-1)%3]).
func mixHolds(f *field) uint32 {
	var out uint32
	switch f.name {
	case "book":
		n, _ := strconv.Atoi(mixArg(f, "id"))
		out = 1 << (n - 1)
	case "books":
		first, genre := 10, mixArg(f, "genre")
		if s := mixArg(f, "first"); s != "" {
			first, _ = strconv.Atoi(s)
		}
		for n := 1; n <= 20 && first > 0; n++ {
			if genre == "" || mixGenres[(n-1)%3] == genre {
				out |= 1 << (n - 1)
				first--
			}
		}
	case "author":
		m, _ := strconv.Atoi(strings.TrimPrefix(mixArg(f, "id"), "a"))
		if f.sel != nil && slices.ContainsFunc(f.sel.fields, func(s *field) bool { return s.name == "books" }) {
			for n := 1; n <= 20; n++ {
				if (n-1)%5+1 == m {
					out |= 1 << (n - 1)
				}
			}
		}
	}
	return out
}

// mixArg is the value of f's argument name as text ("" if absent).
func mixArg(f *field, name string) string {
	for _, a := range f.args {
		if a.name != name {
			continue
		}
		if a.v.kind == ast.Variable {
			var s string
			if json.Unmarshal(a.v.json, &s) == nil {
				return s
			}
			return string(a.v.json)
		}
		return a.v.raw
	}
	return ""
}

// mixResult counts the queries of a stream and their hits by keying.
type mixResult struct {
	queries, mutations                   int
	raw, souin, normalized, partial      int // queries answered wholly from the cache
	fields, partialFields                int // root fields, and those from the cache (partial keying)
	originRaw, originSouin, originNormal int // root fields asked of the origin
	distinctRaw, distinctNormal          int
	distinctFields                       int
}

// mixEntry is a cached result: when it was stored and the books it holds.
type mixEntry struct {
	at    int
	holds uint32
}

// mixSimulate keys ops four ways. If check is set, it fails tb unless a hit
// under a finer keying is a hit under every coarser one, op by op.
func mixSimulate(tb testing.TB, ops []mixOp, check bool) mixResult {
	var res mixResult
	var lastWrite [21]int
	for i := range lastWrite {
		lastWrite[i] = -1
	}
	lastAny := -1
	fresh := func(e mixEntry, ok bool) bool {
		if !ok {
			return false
		}
		for n := 1; n <= 20; n++ {
			if e.holds&(1<<(n-1)) != 0 && lastWrite[n] > e.at {
				return false
			}
		}
		return true
	}
	raw, souin, whole, parts := map[string]mixEntry{}, map[string]mixEntry{}, map[string]mixEntry{}, map[string]mixEntry{}
	for at, op := range ops {
		if op.mutation > 0 {
			res.mutations++
			lastWrite[op.mutation], lastAny = at, at
			continue
		}
		res.queries++
		res.fields += len(op.fields)
		var holds uint32
		for _, h := range op.holds {
			holds |= h
		}
		stored := mixEntry{at: at, holds: holds}

		e, ok := raw[op.raw]
		rawHit := fresh(e, ok)
		if rawHit {
			res.raw++
		} else {
			raw[op.raw] = stored
			res.originRaw += len(op.fields)
		}

		e, ok = souin[op.raw]
		souinHit := ok && e.at > lastAny
		if souinHit {
			res.souin++
		} else {
			souin[op.raw] = stored
			res.originSouin += len(op.fields)
		}

		key := strings.Join(slices.Sorted(slices.Values(op.fields)), "\x01")
		e, ok = whole[key]
		wholeHit := fresh(e, ok)
		if wholeHit {
			res.normalized++
		} else {
			whole[key] = stored
			res.originNormal += len(op.fields)
		}

		partialHit := true
		for i, f := range op.fields {
			e, ok := parts[f]
			if fresh(e, ok) {
				res.partialFields++
				continue
			}
			partialHit = false
			parts[f] = mixEntry{at: at, holds: op.holds[i]}
		}
		if partialHit {
			res.partial++
		}
		if check && ((souinHit && !rawHit) || (rawHit && !wholeHit) || (wholeHit && !partialHit)) {
			tb.Fatalf("operation %d: hits souin %v raw %v normalized %v partial %v: a coarser keying missed where a finer one hit",
				at, souinHit, rawHit, wholeHit, partialHit)
		}
	}
	res.distinctRaw, res.distinctNormal, res.distinctFields = len(raw), len(whole), len(parts)
	return res
}

func mixPct(n, of int) float64 { return 100 * float64(n) / float64(of) }

func (r mixResult) table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d queries (%d root fields), %d mutations; distinct keys: %d raw, %d normalized, %d root fields\n",
		r.queries, r.fields, r.mutations, r.distinctRaw, r.distinctNormal, r.distinctFields)
	fmt.Fprintf(&b, "%-28s %12s %22s\n", "keying", "queries hit", "root fields to origin")
	row := func(name string, hit, origin int) {
		fmt.Fprintf(&b, "%-28s %11.1f%% %21.1f%%\n", name, mixPct(hit, r.queries), mixPct(origin, r.fields))
	}
	row("raw body, any write purges", r.souin, r.originSouin)
	row("raw body", r.raw, r.originRaw)
	row("normalized operation", r.normalized, r.originNormal)
	row("normalized + partial", r.partial, r.fields-r.partialFields)
	return b.String()
}

// BenchmarkOperationMix reports the hit ratios of the two mixes of 20,000
// operations (see "The operation mix"); ns/op is one simulation over
// operations keyed beforehand.
func BenchmarkOperationMix(b *testing.B) {
	schema := benchSchema(b)
	for _, mix := range []string{"varied", "documents"} {
		b.Run(mix, func(b *testing.B) {
			ops := mixStream(b, schema, mix, 20000)
			var r mixResult
			for b.Loop() {
				r = mixSimulate(b, ops, false)
			}
			b.ReportMetric(mixPct(r.souin, r.queries), "hit%/souin")
			b.ReportMetric(mixPct(r.raw, r.queries), "hit%/raw")
			b.ReportMetric(mixPct(r.normalized, r.queries), "hit%/normalized")
			b.ReportMetric(mixPct(r.partial, r.queries), "hit%/partial-ops")
			b.ReportMetric(mixPct(r.partialFields, r.fields), "hit%/partial-fields")
			b.Logf("%s mix:\n%s", mix, r.table())
		})
	}
}

// TestOperationMix checks the generator and the simulation on a short
// stream: every generated operation is valid and normalizes (mixKey
// fails otherwise), a hit under a finer keying is a hit under every
// coarser one, and normalization does merge what raw keys tell apart.
func TestOperationMix(t *testing.T) {
	schema := benchSchema(t)
	for _, mix := range []string{"varied", "documents"} {
		t.Run(mix, func(t *testing.T) {
			ops := mixStream(t, schema, mix, 2000)
			r := mixSimulate(t, ops, true)
			if r.mutations == 0 || r.queries != len(ops)-r.mutations {
				t.Fatalf("%d queries, %d mutations of %d operations", r.queries, r.mutations, len(ops))
			}
			if r.distinctNormal >= r.distinctRaw || r.partial <= r.raw {
				t.Fatalf("normalization merged nothing:\n%s", r.table())
			}
			t.Logf("\n%s", r.table())
		})
	}
}

// TestOperationMixHolds checks the invalidation model against the books
// the origin really returns.
func TestOperationMixHolds(t *testing.T) {
	schema := benchSchema(t)
	cases := []struct {
		query string
		want  []int
	}{
		{`{ book(id: "7") { title } }`, []int{7}},
		{`{ books(first: 3) { title } }`, []int{1, 2, 3}},
		{`{ books(genre: SCIENCE) { title } }`, []int{2, 5, 8, 11, 14, 17, 20}},
		{`query ($g: Genre) { books(first: 2, genre: $g) { title } }`, []int{3, 6}},
		{`{ author(id: "a2") { name } }`, nil},
		{`{ author(id: "a2") { books { id } } }`, []int{2, 7, 12, 17}},
	}
	for _, c := range cases {
		m := mixKey(t, schema, c.query, map[string]any{"g": "HISTORY"})
		var got []int
		for n := 1; n <= 20; n++ {
			if m.holds[0]&(1<<(n-1)) != 0 {
				got = append(got, n)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s holds books %v, want %v", c.query, got, c.want)
		}
	}
}
