package books

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/moatproxy/moat/aside"
)

// Options configure an API.
type Options struct {
	// Store is the database. Required.
	Store *Store
	// Caches, if set, answer the reads; nil: every read queries the
	// database (the "before" of the benchmarks, or the origin of a moat
	// proxy).
	Caches *Caches
	// Mode names the setup in /debug/stats ("off", "memory", "redis"...).
	Mode string
	// Logger receives the errors of requests answered 500, and of
	// invalidations that failed. Default slog.Default().
	Logger *slog.Logger
}

// API is the books REST API, an http.Handler:
//
//	GET    /books?page=N&size=M   a page of the books by id (size 1..50, default 20), and the total
//	GET    /books/{id}            a book with its author, rating and latest reviews
//	GET    /authors/{id}/books    an author and their books
//	GET    /search?q=             the first 20 books whose title or author contains q
//	POST   /books                 create a book (201, Location)
//	PUT    /books/{id}            replace a book's fields
//	PATCH  /books/{id}            change some of a book's fields
//	DELETE /books/{id}            delete a book and its reviews (204)
//	GET    /debug/stats           database statements run, cache counters
//
// Every GET names the tags of what it served in Surrogate-Key, and every
// successful write names the tags it invalidated in X-Moat-Invalidate, so
// that a moat proxy in front of the API can cache its answers and purge
// them with the same rules as the app's own caches (tags.go). Errors are
// JSON ({"error": "..."}) and never stored (Cache-Control: no-store).
type API struct {
	store *Store
	// The caches, each nil without Options.Caches.
	caches *Caches
	book   *aside.Cache[BookDetail]
	page   *aside.Cache[Page]
	count  *aside.Cache[int64]
	author *aside.Cache[AuthorBooks]
	search *aside.Cache[SearchResult]
	mode   string
	log    *slog.Logger
	mux    *http.ServeMux
}

// NewAPI returns the API.
func NewAPI(o Options) (*API, error) {
	if o.Store == nil {
		return nil, errors.New("books: Options.Store is required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	a := &API{store: o.Store, caches: o.Caches, mode: o.Mode, log: o.Logger, mux: http.NewServeMux()}
	if c := o.Caches; c != nil {
		a.book, a.page, a.count, a.author, a.search = c.book, c.page, c.count, c.author, c.search
	}
	for pattern, h := range map[string]handler{
		"GET /books":              a.getList,
		"GET /books/{id}":         a.getBook,
		"GET /authors/{id}/books": a.getAuthorBooks,
		"GET /search":             a.getSearch,
		"POST /books":             a.postBook,
		"PUT /books/{id}":         a.putBook,
		"PATCH /books/{id}":       a.patchBook,
		"DELETE /books/{id}":      a.deleteBook,
		"GET /debug/stats":        a.getStats,
	} {
		a.mux.Handle(pattern, a.serve(h))
	}
	return a, nil
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// handler is an endpoint: it writes its answer, or returns the error that
// serve writes.
type handler func(w http.ResponseWriter, r *http.Request) error

// httpError is an error with the status it is answered with.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// serve writes the errors of h, in one place.
func (a *API) serve(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		var he *httpError
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &he):
		case errors.Is(err, ErrNotFound):
			he = &httpError{http.StatusNotFound, err.Error()}
		case errors.Is(err, ErrInvalid):
			he = &httpError{http.StatusBadRequest, err.Error()}
		case errors.Is(err, ErrNoAuthor):
			he = &httpError{http.StatusUnprocessableEntity, err.Error()}
		case errors.As(err, &mbe):
			he = &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", mbe.Limit)}
		case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
			return // the client left
		default:
			a.log.Error("books: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			he = &httpError{http.StatusInternalServerError, "internal error"}
		}
		// X-Moat-Invalidate stays: a write that failed after its commit
		// (reading back the book) still changed what it names.
		h := w.Header()
		h.Del("Surrogate-Key")
		h.Set("Cache-Control", "no-store")
		writeJSON(w, he.status, struct {
			Error string `json:"error"`
		}{he.msg})
	})
}

// writeJSON writes v as the JSON answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// tagged names the tags of a GET's answer, for a proxy in front.
func tagged(w http.ResponseWriter, tags ...string) {
	w.Header().Set("Surrogate-Key", strings.Join(tags, " "))
}

func (a *API) getBook(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	b, err := a.bookDetail(r.Context(), id)
	if err != nil {
		return err
	}
	tagged(w, BookTag(id))
	writeJSON(w, http.StatusOK, b)
	return nil
}

func (a *API) bookDetail(ctx context.Context, id int64) (BookDetail, error) {
	return cached(ctx, a.book, strconv.FormatInt(id, 10), func(ctx context.Context) (BookDetail, error) {
		return a.store.Book(ctx, id)
	})
}

func (a *API) getList(w http.ResponseWriter, r *http.Request) error {
	number, size, err := pageParams(r.URL.Query())
	if err != nil {
		return err
	}
	ctx := r.Context()
	total, err := cached(ctx, a.count, "all", a.store.Count)
	if err != nil {
		return err
	}
	pages := max(1, (total+int64(size)-1)/int64(size))
	if int64(number) > pages {
		// Past the end: answered from the total alone, so no page past
		// the end is ever cached (see postTags in tags.go).
		return &httpError{http.StatusNotFound, fmt.Sprintf("page %d is past the last page (%d)", number, pages)}
	}
	p, err := cached(ctx, a.page, pageKey(number, size), func(ctx context.Context) (Page, error) {
		return a.store.Page(ctx, number, size)
	})
	if err != nil {
		return err
	}
	// A proxy stores the page and the total as one answer: it must
	// drop it when either changes.
	tagged(w, append([]string{TagCount}, pageTags(p)...)...)
	writeJSON(w, http.StatusOK, ListResponse{Page: number, Size: size, Total: total, Pages: pages, Books: p.Books})
	return nil
}

func (a *API) getAuthorBooks(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ab, err := cached(r.Context(), a.author, strconv.FormatInt(id, 10), func(ctx context.Context) (AuthorBooks, error) {
		return a.store.AuthorBooks(ctx, id)
	})
	if err != nil {
		return err
	}
	tagged(w, AuthorBooksTag(id))
	writeJSON(w, http.StatusOK, ab)
	return nil
}

func (a *API) getSearch(w http.ResponseWriter, r *http.Request) error {
	q, err := searchQuery(r.URL.Query())
	if err != nil {
		return err
	}
	res, err := cached(r.Context(), a.search, q, func(ctx context.Context) (SearchResult, error) {
		return a.store.Search(ctx, q)
	})
	if err != nil {
		return err
	}
	tagged(w, TagSearch)
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (a *API) postBook(w http.ResponseWriter, r *http.Request) error {
	in, err := readInput(w, r)
	if err != nil {
		return err
	}
	c, err := a.store.CreateBook(r.Context(), in)
	if err != nil {
		return err
	}
	a.invalidate(r.Context(), w, createTags(c))
	b, err := a.bookDetail(r.Context(), c.ID)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/books/"+strconv.FormatInt(c.ID, 10))
	writeJSON(w, http.StatusCreated, b)
	return nil
}

func (a *API) putBook(w http.ResponseWriter, r *http.Request) error { return a.update(w, r, true) }

func (a *API) patchBook(w http.ResponseWriter, r *http.Request) error { return a.update(w, r, false) }

func (a *API) update(w http.ResponseWriter, r *http.Request, replace bool) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	in, err := readInput(w, r)
	if err != nil {
		return err
	}
	u, err := a.store.UpdateBook(r.Context(), id, in, replace)
	if err != nil {
		return err
	}
	a.invalidate(r.Context(), w, updateTags(u))
	b, err := a.bookDetail(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

func (a *API) deleteBook(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	d, err := a.store.DeleteBook(r.Context(), id)
	if err != nil {
		return err
	}
	a.invalidate(r.Context(), w, deleteTags(d))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// invalidate drops what a committed write changed, from the app's caches
// and, through X-Moat-Invalidate, from a moat proxy's. A failure is logged,
// not returned: the write is committed, and the caches did their part
// (only the L2's copies may be left, see aside.Cache.Invalidate).
func (a *API) invalidate(ctx context.Context, w http.ResponseWriter, tags []string) {
	w.Header().Set("X-Moat-Invalidate", strings.Join(tags, " "))
	if a.caches == nil {
		return
	}
	if err := a.caches.invalidate(context.WithoutCancel(ctx), tags); err != nil {
		a.log.Error("books: invalidation incomplete", "tags", len(tags), "err", err)
	}
}

// Stats is GET /debug/stats.
type Stats struct {
	Mode      string     `json:"mode"`
	DBQueries int64      `json:"db_queries"` // statements the database ran since start
	Caches    CacheStats `json:"caches,omitempty"`
}

func (a *API) getStats(w http.ResponseWriter, _ *http.Request) error {
	s := Stats{Mode: a.mode, DBQueries: a.store.Queries()}
	if a.caches != nil {
		s.Caches = a.caches.Stats()
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, s)
	return nil
}

// pathID reads a positive id from the path.
func pathID(r *http.Request, name string) (int64, error) {
	v := r.PathValue(name)
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest("%s %q: want a positive integer", name, v)
	}
	return id, nil
}

// maxPage bounds ?page= (far past any real last page).
const maxPage = 1_000_000

// pageParams reads ?page= (default 1) and ?size= (default 20).
func pageParams(q url.Values) (number, size int, err error) {
	number, size = 1, DefaultPageSize
	for _, p := range []struct {
		name     string
		v        *int
		min, max int
	}{{"page", &number, 1, maxPage}, {"size", &size, 1, MaxPageSize}} {
		vs, ok := q[p.name]
		if !ok {
			continue
		}
		if len(vs) != 1 {
			return 0, 0, badRequest("%s: given %d times", p.name, len(vs))
		}
		n, err := strconv.Atoi(vs[0])
		if err != nil || n < p.min || n > p.max {
			return 0, 0, badRequest("%s %q: want an integer within %d..%d", p.name, vs[0], p.min, p.max)
		}
		*p.v = n
	}
	return number, size, nil
}

// Bounds of ?q=, in characters, after normalization.
const (
	minQuery = 2
	maxQuery = 64
)

// searchQuery reads ?q=, lower-cased with its spaces collapsed, so that
// "Dune", " dune " and "DUNE" are one cached search.
func searchQuery(q url.Values) (string, error) {
	vs := q["q"]
	if len(vs) != 1 {
		return "", badRequest("q: want it once, got it %d times", len(vs))
	}
	s := strings.Join(strings.Fields(strings.ToLower(vs[0])), " ")
	if n := utf8.RuneCountInString(s); n < minQuery || n > maxQuery || !utf8.ValidString(s) {
		return "", badRequest("q: want %d to %d characters", minQuery, maxQuery)
	}
	return s, nil
}

// maxBody bounds a request's body.
const maxBody = 64 << 10

// readInput decodes a BookInput: one JSON object of known fields.
func readInput(w http.ResponseWriter, r *http.Request) (BookInput, error) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	var in BookInput
	if err := dec.Decode(&in); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return BookInput{}, err
		}
		return BookInput{}, badRequest("body: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return BookInput{}, badRequest("body: want one JSON object")
	}
	return in, nil
}
