package books

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Limits of the reads.
const (
	// MaxPageSize bounds ?size=. With a book tag per book on a page and a
	// few more (pageTags), a page's tags stay within the 64 a moat proxy
	// keeps per response.
	MaxPageSize     = 50
	DefaultPageSize = 20
	// maxAuthorBooks bounds an author's list.
	maxAuthorBooks = 1000
	// searchLimit is how many books a search returns.
	searchLimit = 20
	// recentReviews is how many reviews a book's detail shows.
	recentReviews = 3
)

// summaryColumns select a BookSummary from books b joined with authors a;
// scanSummary reads them. The rating is two correlated aggregates over the
// reviews index, per row.
const summaryColumns = `b.id, b.title, b.year, b.price_cents, b.genre, a.id, a.name,
	(SELECT count(*) FROM reviews r WHERE r.book_id = b.id),
	(SELECT coalesce(round(avg(r.rating), 2), 0) FROM reviews r WHERE r.book_id = b.id)`

func scanSummary(rows *sql.Rows) (BookSummary, error) {
	var b BookSummary
	err := rows.Scan(&b.ID, &b.Title, &b.Year, &b.PriceCents, &b.Genre, &b.Author.ID, &b.Author.Name,
		&b.Rating.Count, &b.Rating.Average)
	return b, err
}

// summaries runs a query of summaryColumns and reads every row.
func (c counted) summaries(ctx context.Context, query string, args ...any) ([]BookSummary, error) {
	rows, err := c.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	books := []BookSummary{}
	for rows.Next() {
		b, err := scanSummary(rows)
		if err != nil {
			return nil, err
		}
		books = append(books, b)
	}
	return books, rows.Err()
}

// Book returns the detail of book id, or ErrNotFound.
func (s *Store) Book(ctx context.Context, id int64) (BookDetail, error) {
	q := s.read()
	var b BookDetail
	err := q.queryRow(ctx, `SELECT b.id, b.title, b.year, b.price_cents, b.genre, b.pages,
			a.id, a.name, a.country, a.born,
			(SELECT count(*) FROM reviews r WHERE r.book_id = b.id),
			(SELECT coalesce(round(avg(r.rating), 2), 0) FROM reviews r WHERE r.book_id = b.id)
		FROM books b JOIN authors a ON a.id = b.author_id
		WHERE b.id = ?`, id).Scan(&b.ID, &b.Title, &b.Year, &b.PriceCents, &b.Genre, &b.Pages,
		&b.Author.ID, &b.Author.Name, &b.Author.Country, &b.Author.Born, &b.Rating.Count, &b.Rating.Average)
	if errors.Is(err, sql.ErrNoRows) {
		return BookDetail{}, fmt.Errorf("%w: book %d", ErrNotFound, id)
	}
	if err != nil {
		return BookDetail{}, fmt.Errorf("books: book %d: %w", id, err)
	}
	rows, err := q.query(ctx, `SELECT id, rating, reviewer, body, created FROM reviews
		WHERE book_id = ? ORDER BY id DESC LIMIT ?`, id, recentReviews)
	if err != nil {
		return BookDetail{}, fmt.Errorf("books: reviews of %d: %w", id, err)
	}
	defer rows.Close()
	b.RecentReviews = []Review{}
	for rows.Next() {
		var r Review
		if err := rows.Scan(&r.ID, &r.Rating, &r.Reviewer, &r.Body, &r.Created); err != nil {
			return BookDetail{}, fmt.Errorf("books: reviews of %d: %w", id, err)
		}
		b.RecentReviews = append(b.RecentReviews, r)
	}
	if err := rows.Err(); err != nil {
		return BookDetail{}, fmt.Errorf("books: reviews of %d: %w", id, err)
	}
	return b, nil
}

// Page returns page number (from 1) of the books in id order, size books a
// page. OFFSET pagination: the database walks every book before the page,
// so later pages cost more, as in many real APIs.
func (s *Store) Page(ctx context.Context, number, size int) (Page, error) {
	books, err := s.read().summaries(ctx, `SELECT `+summaryColumns+`
		FROM (SELECT id, title, year, price_cents, genre, author_id FROM books ORDER BY id LIMIT ? OFFSET ?) b
		JOIN authors a ON a.id = b.author_id
		ORDER BY b.id`, size, (number-1)*size)
	if err != nil {
		return Page{}, fmt.Errorf("books: page %d of %d: %w", number, size, err)
	}
	return Page{Number: number, Size: size, Books: books}, nil
}

// Count returns the number of books (a scan of the table: SQLite keeps no
// row count).
func (s *Store) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := s.read().queryRow(ctx, `SELECT count(*) FROM books`).Scan(&n); err != nil {
		return 0, fmt.Errorf("books: count: %w", err)
	}
	return n, nil
}

// AuthorBooks returns author id and their books, or ErrNotFound.
func (s *Store) AuthorBooks(ctx context.Context, id int64) (AuthorBooks, error) {
	q := s.read()
	var ab AuthorBooks
	err := q.queryRow(ctx, `SELECT id, name, country, born FROM authors WHERE id = ?`, id).
		Scan(&ab.Author.ID, &ab.Author.Name, &ab.Author.Country, &ab.Author.Born)
	if errors.Is(err, sql.ErrNoRows) {
		return AuthorBooks{}, fmt.Errorf("%w: author %d", ErrNotFound, id)
	}
	if err != nil {
		return AuthorBooks{}, fmt.Errorf("books: author %d: %w", id, err)
	}
	ab.Books, err = q.summaries(ctx, `SELECT `+summaryColumns+`
		FROM books b JOIN authors a ON a.id = b.author_id
		WHERE b.author_id = ? ORDER BY b.year, b.id LIMIT ?`, id, maxAuthorBooks)
	if err != nil {
		return AuthorBooks{}, fmt.Errorf("books: books of author %d: %w", id, err)
	}
	return ab, nil
}

// Search returns the first books, by id, whose title or author's name
// contains q (case-insensitive for ASCII). A LIKE '%q%' uses no index: a
// rare word walks every book and its author, which is the point.
func (s *Store) Search(ctx context.Context, q string) (SearchResult, error) {
	pattern := "%" + likeEscaper.Replace(q) + "%"
	books, err := s.read().summaries(ctx, `SELECT `+summaryColumns+`
		FROM books b JOIN authors a ON a.id = b.author_id
		WHERE b.title LIKE ?1 ESCAPE '\' OR a.name LIKE ?1 ESCAPE '\'
		ORDER BY b.id LIMIT ?2`, pattern, searchLimit)
	if err != nil {
		return SearchResult{}, fmt.Errorf("books: search %q: %w", q, err)
	}
	return SearchResult{Query: q, Books: books}, nil
}

// likeEscaper makes a user's text literal in a LIKE pattern.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// MostReviewed returns the ids of the n books with the most reviews, most
// first, and the ids of their authors, in the order they first appear.
func (s *Store) MostReviewed(ctx context.Context, n int) (books, authors []int64, err error) {
	rows, err := s.read().query(ctx, `SELECT r.book_id, b.author_id FROM reviews r
		JOIN books b ON b.id = r.book_id
		GROUP BY r.book_id ORDER BY count(*) DESC, r.book_id LIMIT ?`, n)
	if err != nil {
		return nil, nil, fmt.Errorf("books: most reviewed: %w", err)
	}
	defer rows.Close()
	seen := map[int64]bool{}
	for rows.Next() {
		var b, a int64
		if err := rows.Scan(&b, &a); err != nil {
			return nil, nil, fmt.Errorf("books: most reviewed: %w", err)
		}
		books = append(books, b)
		if !seen[a] {
			seen[a] = true
			authors = append(authors, a)
		}
	}
	return books, authors, rows.Err()
}
