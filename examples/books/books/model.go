package books

// The values the API serves, as the caches hold them. Every change of one
// of these types that its JSON cannot absorb must bump the Version of its
// Cache (caches.go), or instances of two releases sharing Redis would decode
// each other's bytes.

// Author is a writer of books.
type Author struct {
	ID      int64  `json:"id"`
	Name    string `json:"name"`
	Country string `json:"country"`
	Born    int    `json:"born"`
}

// AuthorRef names a book's author in lists.
type AuthorRef struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// Rating sums up a book's reviews.
type Rating struct {
	Average float64 `json:"average"` // rounded to 2 decimals; 0 without reviews
	Count   int     `json:"count"`
}

// Review is one reader's review.
type Review struct {
	ID       int64  `json:"id"`
	Rating   int    `json:"rating"`
	Reviewer string `json:"reviewer"`
	Body     string `json:"body"`
	Created  string `json:"created"` // YYYY-MM-DD
}

// BookSummary is a book as lists show it.
type BookSummary struct {
	ID         int64     `json:"id"`
	Title      string    `json:"title"`
	Year       int       `json:"year"`
	PriceCents int64     `json:"price_cents"`
	Genre      string    `json:"genre"`
	Author     AuthorRef `json:"author"`
	Rating     Rating    `json:"rating"`
}

// BookDetail is GET /books/{id}: the book, its author, its rating and its
// latest reviews (two statements: the book joined with its author and
// review aggregates, then the reviews).
type BookDetail struct {
	ID            int64    `json:"id"`
	Title         string   `json:"title"`
	Year          int      `json:"year"`
	PriceCents    int64    `json:"price_cents"`
	Genre         string   `json:"genre"`
	Pages         int      `json:"pages"`
	Author        Author   `json:"author"`
	Rating        Rating   `json:"rating"`
	RecentReviews []Review `json:"recent_reviews"`
}

// Page is the books of one list page, in id order: the cached part of
// GET /books?page=N&size=M (the total comes from its own cached value, see
// ListResponse).
type Page struct {
	Number int           `json:"number"`
	Size   int           `json:"size"`
	Books  []BookSummary `json:"books"`
}

// ListResponse is GET /books: a Page and the total number of books. The
// two are cached apart so that creating or deleting a book does not make
// every page reload (only the total and the pages the write shifts do).
type ListResponse struct {
	Page  int           `json:"page"`
	Size  int           `json:"size"`
	Total int64         `json:"total"`
	Pages int64         `json:"pages"`
	Books []BookSummary `json:"books"`
}

// AuthorBooks is GET /authors/{id}/books: the author and their books,
// oldest first (at most maxAuthorBooks).
type AuthorBooks struct {
	Author Author        `json:"author"`
	Books  []BookSummary `json:"books"`
}

// SearchResult is GET /search?q=: the first books, by id, whose title or
// author's name contains the query.
type SearchResult struct {
	Query string        `json:"query"`
	Books []BookSummary `json:"books"`
}

// BookInput is the body of POST, PUT and PATCH /books: POST and PUT need
// every field, PATCH at least one. A missing field is nil.
type BookInput struct {
	Title      *string `json:"title"`
	AuthorID   *int64  `json:"author_id"`
	Year       *int    `json:"year"`
	PriceCents *int64  `json:"price_cents"`
	Genre      *string `json:"genre"`
	Pages      *int    `json:"pages"`
}

// book is a row of the books table.
type book struct {
	ID         int64
	AuthorID   int64
	Title      string
	Year       int
	PriceCents int64
	Genre      string
	Pages      int
}
