package books

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fromDB are the answers the database gives now, uncached.
type fromDB struct {
	t testing.TB
	s *Store
}

func (d fromDB) book(id int64) BookDetail {
	d.t.Helper()
	b, err := d.s.Book(context.Background(), id)
	if err != nil {
		d.t.Fatal(err)
	}
	return b
}

func (d fromDB) list(number, size int) ListResponse {
	d.t.Helper()
	ctx := context.Background()
	p, err := d.s.Page(ctx, number, size)
	if err != nil {
		d.t.Fatal(err)
	}
	n, err := d.s.Count(ctx)
	if err != nil {
		d.t.Fatal(err)
	}
	return ListResponse{Page: number, Size: size, Total: n, Pages: max(1, (n+int64(size)-1)/int64(size)), Books: p.Books}
}

func (d fromDB) author(id int64) AuthorBooks {
	d.t.Helper()
	ab, err := d.s.AuthorBooks(context.Background(), id)
	if err != nil {
		d.t.Fatal(err)
	}
	return ab
}

func (d fromDB) search(q string) SearchResult {
	d.t.Helper()
	r, err := d.s.Search(context.Background(), q)
	if err != nil {
		d.t.Fatal(err)
	}
	return r
}

// checkCached GETs path twice: the first answer loads from the database,
// the second runs no statement; both equal what the database says.
func checkCached[V any](t *testing.T, a *app, path string, want V) {
	t.Helper()
	first, q1 := get[V](a, path)
	second, q2 := get[V](a, path)
	if q1 == 0 {
		t.Errorf("first GET %s ran no statement; want a load", path)
	}
	if q2 != 0 {
		t.Errorf("second GET %s ran %d statements; want 0 (a hit)", path, q2)
	}
	if w := mustJSON(t, want); mustJSON(t, first) != w || mustJSON(t, second) != w {
		t.Errorf("GET %s = %s then %s; want the database's %s", path, mustJSON(t, first), mustJSON(t, second), w)
	}
}

func TestReadsAreCached(t *testing.T) {
	store := openStore(t, seeded(t, small))
	db := fromDB{t, store}
	a := newApp(t, store, &CacheOptions{})
	t.Run("book", func(t *testing.T) { checkCached(t, a, "/books/42", db.book(42)) })
	t.Run("list_default_page", func(t *testing.T) { checkCached(t, a, "/books", db.list(1, DefaultPageSize)) })
	t.Run("list_page", func(t *testing.T) { checkCached(t, a, "/books?page=3&size=7", db.list(3, 7)) })
	t.Run("author_books", func(t *testing.T) { checkCached(t, a, "/authors/5/books", db.author(5)) })
	t.Run("search", func(t *testing.T) {
		checkCached(t, a, "/search?q=harbor", db.search("harbor"))
		// The same search, written differently, is the same cached value.
		if _, q := get[SearchResult](a, "/search?q=%20HARBOR%20"); q != 0 {
			t.Errorf("GET /search?q=%%20HARBOR%%20 ran %d statements; want a hit of q=harbor", q)
		}
	})
	t.Run("surrogate_keys", func(t *testing.T) {
		for path, want := range map[string]string{
			"/books/42":        "book:42",
			"/authors/5/books": "author:5:books",
			"/search?q=harbor": TagSearch,
			"/books?page=200&size=1": strings.Join([]string{TagCount, "books:first:200", "books:first64:3",
				"books:first4096:0", "book:200"}, " "),
		} {
			if got := a.do(http.MethodGet, path, nil).header.Get("Surrogate-Key"); got != want {
				t.Errorf("GET %s: Surrogate-Key %q; want %q", path, got, want)
			}
		}
	})
}

func TestWithoutCacheEveryReadQueries(t *testing.T) {
	store := openStore(t, seeded(t, small))
	a := newApp(t, store, nil)
	for range 2 {
		b, q := get[BookDetail](a, "/books/42")
		if q == 0 {
			t.Fatalf("GET /books/42 without a cache ran no statement")
		}
		if want := mustJSON(t, fromDB{t, store}.book(42)); mustJSON(t, b) != want {
			t.Fatalf("GET /books/42 = %s; want %s", mustJSON(t, b), want)
		}
	}
	if st, _ := get[Stats](a, "/debug/stats"); st.Mode != "off" || st.Caches != nil || st.DBQueries == 0 {
		t.Errorf("stats = %+v; want mode off, no caches, statements counted", st)
	}
}

// fixture is an app on the small dataset with the ids the write tests use.
type fixture struct {
	*app
	db fromDB
	x  int64 // the book written: 95, on page 5 of size 20 (81..100) and page 14 of size 7 (92..98)
	ax int64 // its author
	y  int64 // a book on no page with x, by another author
	c  int64 // an author other than ax and y's
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	store := openStore(t, seeded(t, small))
	f := &fixture{app: newApp(t, store, &CacheOptions{}), db: fromDB{t, store}, x: 95}
	f.ax = f.db.book(f.x).Author.ID
	for id := int64(150); f.y == 0; id++ {
		if b := f.db.book(id); b.Author.ID != f.ax {
			f.y = b.ID
		}
	}
	ay := f.db.book(f.y).Author.ID
	for id := int64(1); f.c == 0; id++ {
		if id != f.ax && id != ay {
			f.c = id
		}
	}
	return f
}

// warm GETs every path.
func (f *fixture) warm(paths ...string) {
	f.t.Helper()
	for _, p := range paths {
		if r := f.do(http.MethodGet, p, nil); r.status != http.StatusOK {
			f.t.Fatalf("GET %s = %d %s", p, r.status, r.body)
		}
	}
}

// hits checks that each path is answered without a statement.
func (f *fixture) hits(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		before := f.store.Queries()
		if r := f.do(http.MethodGet, p, nil); r.status != http.StatusOK {
			t.Fatalf("GET %s = %d %s", p, r.status, r.body)
		}
		if n := f.store.Queries() - before; n != 0 {
			t.Errorf("GET %s ran %d statements after the write; want 0: the write must not invalidate it", p, n)
		}
	}
}

// pageHits checks that each list path is answered with its page from the
// cache (the total may reload: creates and deletes change it).
func (f *fixture) pageHits(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		before := f.loads("page")
		list, _ := get[ListResponse](f.app, p)
		if n := f.loads("page") - before; n != 0 {
			t.Errorf("GET %s loaded its page again; want a hit: the write did not change it", p)
		}
		if want := f.db.list(list.Page, list.Size); mustJSON(t, list) != mustJSON(t, want) {
			t.Errorf("GET %s = %s; want %s", p, mustJSON(t, list), mustJSON(t, want))
		}
	}
}

// pageReloads checks that each list path's page is loaded again and equals
// the database's.
func (f *fixture) pageReloads(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		before := f.loads("page")
		list, _ := get[ListResponse](f.app, p)
		if n := f.loads("page") - before; n != 1 {
			t.Errorf("GET %s: %d page loads; want 1: the write changed the page", p, n)
		}
		if want := f.db.list(list.Page, list.Size); mustJSON(t, list) != mustJSON(t, want) {
			t.Errorf("GET %s = %s; want the database's %s", p, mustJSON(t, list), mustJSON(t, want))
		}
	}
}

// fresh checks that GET path answers what the database says now.
func fresh[V any](t *testing.T, f *fixture, path string, want V) {
	t.Helper()
	got, _ := get[V](f.app, path)
	if mustJSON(t, got) != mustJSON(t, want) {
		t.Errorf("GET %s = %s; want the database's %s", path, mustJSON(t, got), mustJSON(t, want))
	}
}

func bookPath(id int64) string   { return "/books/" + strconv.FormatInt(id, 10) }
func authorPath(id int64) string { return "/authors/" + strconv.FormatInt(id, 10) + "/books" }

// TestUpdateInvalidatesExactly: PUT and PATCH of book x reload x's detail,
// its author's list, the pages holding x and the searches, and nothing
// else.
func TestUpdateInvalidatesExactly(t *testing.T) {
	for _, tc := range []struct {
		name   string
		method string
		body   func(f *fixture) any
	}{
		{"put", http.MethodPut, func(f *fixture) any {
			b := f.db.book(f.x)
			return BookInput{Title: ptr("Zyzzyva Chronicles"), AuthorID: &b.Author.ID, Year: ptr(2001),
				PriceCents: ptr(int64(1234)), Genre: ptr("essays"), Pages: ptr(321)}
		}},
		{"patch", http.MethodPatch, func(*fixture) any { return map[string]any{"title": "Zyzzyva Chronicles"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			holding := []string{"/books?page=5", "/books?page=14&size=7"}
			notHolding := []string{"/books?page=4", "/books?page=6", "/books?page=1&size=7", "/books?page=15&size=7"}
			others := []string{bookPath(f.y), authorPath(f.c)}
			f.warm(append(append(append(holding, notHolding...), others...), bookPath(f.x), authorPath(f.ax))...)
			if s, _ := get[SearchResult](f.app, "/search?q=zyzzyva"); len(s.Books) != 0 {
				t.Fatalf("search zyzzyva = %v before the write; want nothing", s.Books)
			}
			loads := f.caches.Stats()

			r := f.do(tc.method, bookPath(f.x), tc.body(f))
			if r.status != http.StatusOK {
				t.Fatalf("%s = %d %s", tc.method, r.status, r.body)
			}
			if got := r.header.Get("X-Moat-Invalidate"); got != strings.Join(updateTags(Updated{ID: f.x, OldAuthorID: f.ax, NewAuthorID: f.ax}), " ") {
				t.Errorf("X-Moat-Invalidate = %q", got)
			}
			if !strings.Contains(f.db.book(f.x).Title, "Zyzzyva") {
				t.Fatalf("the database did not take the write")
			}

			// Fresh right after the write: reloaded.
			fresh(t, f, bookPath(f.x), f.db.book(f.x))
			fresh(t, f, authorPath(f.ax), f.db.author(f.ax))
			f.pageReloads(t, holding...)
			if s, _ := get[SearchResult](f.app, "/search?q=zyzzyva"); len(s.Books) != 1 || s.Books[0].ID != f.x {
				t.Errorf("search zyzzyva after the write = %v; want book %d", s.Books, f.x)
			}
			after := f.caches.Stats()
			if after["book"].Loads != loads["book"].Loads+1 || after["author-books"].Loads != loads["author-books"].Loads+1 {
				t.Errorf("loads: book %d → %d, author-books %d → %d; want one more each",
					loads["book"].Loads, after["book"].Loads, loads["author-books"].Loads, after["author-books"].Loads)
			}

			// Nothing else: hits, not a statement.
			f.hits(t, append(notHolding, others...)...)
		})
	}
}

// TestAuthorChangeInvalidatesBothAuthors: moving a book to another author
// reloads both authors' lists, not a third author's.
func TestAuthorChangeInvalidatesBothAuthors(t *testing.T) {
	f := newFixture(t)
	ay := f.db.book(f.y).Author.ID // the new author
	f.warm(authorPath(f.ax), authorPath(ay), authorPath(f.c), bookPath(f.x))
	if r := f.do(http.MethodPatch, bookPath(f.x), map[string]any{"author_id": ay}); r.status != http.StatusOK {
		t.Fatalf("PATCH = %d %s", r.status, r.body)
	}
	holds := func(ab AuthorBooks) bool {
		return slices.ContainsFunc(ab.Books, func(b BookSummary) bool { return b.ID == f.x })
	}
	old, _ := get[AuthorBooks](f.app, authorPath(f.ax))
	cur, _ := get[AuthorBooks](f.app, authorPath(ay))
	if holds(old) || !holds(cur) {
		t.Errorf("book %d in the old author's list: %v, in the new one's: %v; want false, true", f.x, holds(old), holds(cur))
	}
	fresh(t, f, authorPath(f.ax), f.db.author(f.ax))
	fresh(t, f, authorPath(ay), f.db.author(ay))
	if b, _ := get[BookDetail](f.app, bookPath(f.x)); b.Author.ID != ay {
		t.Errorf("book %d's author = %d; want %d", f.x, b.Author.ID, ay)
	}
	f.hits(t, authorPath(f.c))
}

// TestCreateFollowsTheTagRule: a new book reloads the total, the pages
// that are not full and its author's list; full pages, other books and
// other authors stay cached.
func TestCreateFollowsTheTagRule(t *testing.T) {
	f := newFixture(t)
	// 200 books: size 20 has 10 full pages; size 30 ends with a partial
	// page 7 (181..200).
	notFull := []string{"/books?page=7&size=30"}
	full := []string{"/books?page=10", "/books?page=3", "/books?page=1&size=30"}
	others := []string{bookPath(5), authorPath(f.c)}
	f.warm(append(append(append(notFull, full...), others...), authorPath(f.ax))...)
	if r := f.do(http.MethodGet, "/books?page=11", nil); r.status != http.StatusNotFound {
		t.Fatalf("GET /books?page=11 = %d before the create; want 404 (past the end)", r.status)
	}

	r := f.do(http.MethodPost, "/books", BookInput{Title: ptr("A New Book"), AuthorID: &f.ax, Year: ptr(2024),
		PriceCents: ptr(int64(999)), Genre: ptr("poetry"), Pages: ptr(100)})
	if r.status != http.StatusCreated || r.header.Get("Location") != "/books/201" {
		t.Fatalf("POST = %d, Location %q, %s; want 201 /books/201", r.status, r.header.Get("Location"), r.body)
	}
	countLoads := f.loads("count")
	f.pageReloads(t, notFull...)
	f.pageReloads(t, "/books?page=11")
	f.pageHits(t, full...)
	if n := f.loads("count") - countLoads; n != 1 {
		t.Errorf("the total was loaded %d times after the create; want once", n)
	}
	if l, _ := get[ListResponse](f.app, "/books?page=11"); l.Total != 201 || len(l.Books) != 1 || l.Books[0].ID != 201 {
		t.Errorf("page 11 = %s; want book 201 of 201", mustJSON(t, l))
	}
	fresh(t, f, authorPath(f.ax), f.db.author(f.ax))
	f.hits(t, others...)
}

// TestDeleteFollowsTheTagRule: deleting book x reloads the total, the
// pages holding x or after it and x's author's list; earlier pages, the
// details of other books (even the next ones) and other authors stay
// cached.
func TestDeleteFollowsTheTagRule(t *testing.T) {
	f := newFixture(t)
	shifted := []string{"/books?page=5", "/books?page=6", "/books?page=10", "/books?page=14&size=7", "/books?page=29&size=7"}
	before := []string{"/books?page=4", "/books?page=1", "/books?page=13&size=7"}
	others := []string{bookPath(f.x - 1), bookPath(f.x + 1), bookPath(f.y), authorPath(f.c)}
	f.warm(append(append(append(shifted, before...), others...), bookPath(f.x), authorPath(f.ax))...)

	r := f.do(http.MethodDelete, bookPath(f.x), nil)
	if r.status != http.StatusNoContent {
		t.Fatalf("DELETE = %d %s", r.status, r.body)
	}
	if inv := strings.Fields(r.header.Get("X-Moat-Invalidate")); !slices.Contains(inv, BookTag(f.x)) || !slices.Contains(inv, TagCount) {
		t.Errorf("X-Moat-Invalidate = %v; want book:%d and %s among them", inv, f.x, TagCount)
	}
	if r := f.do(http.MethodGet, bookPath(f.x), nil); r.status != http.StatusNotFound {
		t.Errorf("GET %s after the delete = %d; want 404", bookPath(f.x), r.status)
	}
	f.pageReloads(t, shifted...)
	f.pageHits(t, before...)
	fresh(t, f, authorPath(f.ax), f.db.author(f.ax))
	f.hits(t, others...)
}

// TestBadInput: malformed requests are answered 4xx with a JSON error that
// no one stores, and change nothing: no statement for what is rejected
// before the database, no cached value, no write, no invalidation.
func TestBadInput(t *testing.T) {
	f := newFixture(t)
	f.warm("/books", bookPath(f.x)) // the total and a book are cached
	valid := func() map[string]any {
		return map[string]any{"title": "T", "author_id": f.ax, "year": 2000, "price_cents": 100, "genre": "g", "pages": 10}
	}
	with := func(k string, v any) map[string]any { m := valid(); m[k] = v; return m }
	without := func(k string) map[string]any { m := valid(); delete(m, k); return m }
	huge := `{"title": "` + strings.Repeat("x", maxBody) + `"}`
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		dbFree             bool // rejected before any statement
	}{
		{"id_not_a_number", "GET", "/books/abc", nil, 400, true},
		{"id_zero", "GET", "/books/0", nil, 400, true},
		{"id_negative", "GET", "/books/-3", nil, 400, true},
		{"id_too_large", "GET", "/books/99999999999999999999", nil, 400, true},
		{"id_unknown", "GET", "/books/9999", nil, 404, false},
		{"page_zero", "GET", "/books?page=0", nil, 400, true},
		{"page_not_a_number", "GET", "/books?page=two", nil, 400, true},
		{"page_twice", "GET", "/books?page=1&page=2", nil, 400, true},
		{"size_zero", "GET", "/books?size=0", nil, 400, true},
		{"size_too_large", "GET", fmt.Sprintf("/books?size=%d", MaxPageSize+1), nil, 400, true},
		{"page_past_the_end", "GET", "/books?page=11", nil, 404, true}, // the total is cached
		{"author_not_a_number", "GET", "/authors/x/books", nil, 400, true},
		{"author_unknown", "GET", "/authors/999/books", nil, 404, false},
		{"search_no_q", "GET", "/search", nil, 400, true},
		{"search_too_short", "GET", "/search?q=%20a%20", nil, 400, true},
		{"search_too_long", "GET", "/search?q=" + strings.Repeat("a", maxQuery+1), nil, 400, true},
		{"post_bad_json", "POST", "/books", `{"title": `, 400, true},
		{"post_not_an_object", "POST", "/books", `[1]`, 400, true},
		{"post_two_objects", "POST", "/books", `{"title":"a"} {"title":"b"}`, 400, true},
		{"post_unknown_field", "POST", "/books", with("isbn", "123"), 400, true},
		{"post_missing_field", "POST", "/books", without("pages"), 400, true},
		{"post_wrong_type", "POST", "/books", with("year", "1999"), 400, true},
		{"post_bad_year", "POST", "/books", with("year", 99999), 400, true},
		{"post_blank_title", "POST", "/books", with("title", "  "), 400, true},
		{"post_unknown_author", "POST", "/books", with("author_id", 999), 422, false},
		{"post_too_large", "POST", "/books", huge, 413, true},
		{"put_missing_field", "PUT", bookPath(f.x), map[string]any{"title": "only"}, 400, true},
		{"put_bad_id", "PUT", "/books/abc", valid(), 400, true},
		{"put_unknown_book", "PUT", "/books/9999", valid(), 404, false},
		{"patch_nothing", "PATCH", bookPath(f.x), `{}`, 400, true},
		{"patch_negative_pages", "PATCH", bookPath(f.x), map[string]any{"pages": -1}, 400, true},
		{"patch_unknown_author", "PATCH", bookPath(f.x), map[string]any{"author_id": 999}, 422, false},
		{"delete_bad_id", "DELETE", "/books/abc", nil, 400, true},
		{"delete_unknown_book", "DELETE", "/books/9999", nil, 404, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			print := fingerprint(t, f.store)
			stats := f.caches.Stats()
			queries := f.store.Queries()
			r := f.do(tc.method, tc.path, tc.body)
			if r.status != tc.status {
				t.Fatalf("%s %s = %d %s; want %d", tc.method, tc.path, r.status, r.body, tc.status)
			}
			if ct, cc := r.header.Get("Content-Type"), r.header.Get("Cache-Control"); ct != "application/json" || cc != "no-store" {
				t.Errorf("Content-Type %q, Cache-Control %q; want application/json, no-store", ct, cc)
			}
			if !strings.HasPrefix(string(r.body), `{"error":"`) {
				t.Errorf("body %s; want a JSON error", r.body)
			}
			if r.header.Get("Surrogate-Key") != "" || r.header.Get("X-Moat-Invalidate") != "" {
				t.Errorf("Surrogate-Key %q, X-Moat-Invalidate %q; want neither", r.header.Get("Surrogate-Key"), r.header.Get("X-Moat-Invalidate"))
			}
			if n := f.store.Queries() - queries; tc.dbFree && n != 0 {
				t.Errorf("%d statements; want none: the request is rejected before the database", n)
			}
			if got := fingerprint(t, f.store); got != print {
				t.Errorf("the books table changed: %s → %s", print, got)
			}
			var inv uint64
			for name, s := range f.caches.Stats() {
				inv += s.Invalidations - stats[name].Invalidations
			}
			if inv != 0 {
				t.Errorf("%d invalidations; want none", inv)
			}
			// Nothing was cached: the same request again does what it
			// did (a statement again, if it ran one).
			queries = f.store.Queries()
			f.do(tc.method, tc.path, tc.body)
			if n := f.store.Queries() - queries; !tc.dbFree && n == 0 {
				t.Errorf("the same request again ran no statement: its answer was cached")
			}
		})
	}
	f.hits(t, "/books", bookPath(f.x))
}

// fingerprint sums up the books table.
func fingerprint(t *testing.T, s *Store) string {
	t.Helper()
	var n, sum int64
	err := s.db.QueryRow(`SELECT count(*), coalesce(sum(id + 3*author_id + 5*year + 7*price_cents + 11*pages
		+ 13*length(title) + 17*length(genre)), 0) FROM books`).Scan(&n, &sum)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d books, sum %d", n, sum)
}
