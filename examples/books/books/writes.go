package books

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// ErrInvalid is wrapped by the errors about a BookInput.
var ErrInvalid = errors.New("books: invalid book")

// Bounds of a book's fields.
const (
	maxTitle = 200
	maxGenre = 40
	minYear  = -3000
	maxYear  = 2100
	maxPrice = 1_000_000_00 // cents
	maxPages = 100_000
)

// check validates the fields in that are set; with all, every field must be.
func (in *BookInput) check(all bool) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	if all {
		var missing []string
		for name, set := range map[string]bool{"title": in.Title != nil, "author_id": in.AuthorID != nil,
			"year": in.Year != nil, "price_cents": in.PriceCents != nil, "genre": in.Genre != nil, "pages": in.Pages != nil} {
			if !set {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			slices.Sort(missing)
			return bad("missing %s", strings.Join(missing, ", "))
		}
	} else if *in == (BookInput{}) {
		return bad("no field to change")
	}
	if t := in.Title; t != nil && (strings.TrimSpace(*t) == "" || utf8.RuneCountInString(*t) > maxTitle || !utf8.ValidString(*t)) {
		return bad("title must be 1 to %d characters", maxTitle)
	}
	if a := in.AuthorID; a != nil && *a <= 0 {
		return bad("author_id must be positive")
	}
	if y := in.Year; y != nil && (*y < minYear || *y > maxYear) {
		return bad("year must be within %d..%d", minYear, maxYear)
	}
	if p := in.PriceCents; p != nil && (*p < 0 || *p > maxPrice) {
		return bad("price_cents must be within 0..%d", maxPrice)
	}
	if g := in.Genre; g != nil && (strings.TrimSpace(*g) == "" || utf8.RuneCountInString(*g) > maxGenre || !utf8.ValidString(*g)) {
		return bad("genre must be 1 to %d characters", maxGenre)
	}
	if p := in.Pages; p != nil && (*p <= 0 || *p > maxPages) {
		return bad("pages must be within 1..%d", maxPages)
	}
	return nil
}

// apply sets the fields of b that in sets.
func (in *BookInput) apply(b *book) {
	if in.Title != nil {
		b.Title = *in.Title
	}
	if in.AuthorID != nil {
		b.AuthorID = *in.AuthorID
	}
	if in.Year != nil {
		b.Year = *in.Year
	}
	if in.PriceCents != nil {
		b.PriceCents = *in.PriceCents
	}
	if in.Genre != nil {
		b.Genre = *in.Genre
	}
	if in.Pages != nil {
		b.Pages = *in.Pages
	}
}

// Created is what CreateBook wrote.
type Created struct{ ID, AuthorID int64 }

// CreateBook inserts a book (every field of in set) and returns its id:
// greater than every id the table ever held (AUTOINCREMENT).
func (s *Store) CreateBook(ctx context.Context, in BookInput) (Created, error) {
	if err := in.check(true); err != nil {
		return Created{}, err
	}
	var b book
	in.apply(&b)
	var c Created
	err := s.inTx(ctx, func(tx counted) error {
		if err := tx.authorExists(ctx, b.AuthorID); err != nil {
			return err
		}
		res, err := tx.exec(ctx, `INSERT INTO books (author_id, title, year, price_cents, genre, pages)
			VALUES (?, ?, ?, ?, ?, ?)`, b.AuthorID, b.Title, b.Year, b.PriceCents, b.Genre, b.Pages)
		if err != nil {
			return fmt.Errorf("books: insert: %w", err)
		}
		c.ID, err = res.LastInsertId()
		c.AuthorID = b.AuthorID
		return err
	})
	return c, err
}

// Updated is what UpdateBook changed: the book's author before and after.
type Updated struct{ ID, OldAuthorID, NewAuthorID int64 }

// UpdateBook sets the fields of book id that in sets (all of them with
// replace, as PUT does), or returns ErrNotFound.
func (s *Store) UpdateBook(ctx context.Context, id int64, in BookInput, replace bool) (Updated, error) {
	if err := in.check(replace); err != nil {
		return Updated{}, err
	}
	var u Updated
	err := s.inTx(ctx, func(tx counted) error {
		b, err := tx.book(ctx, id)
		if err != nil {
			return err
		}
		u = Updated{ID: id, OldAuthorID: b.AuthorID}
		in.apply(&b)
		u.NewAuthorID = b.AuthorID
		if u.NewAuthorID != u.OldAuthorID {
			if err := tx.authorExists(ctx, b.AuthorID); err != nil {
				return err
			}
		}
		_, err = tx.exec(ctx, `UPDATE books SET author_id = ?, title = ?, year = ?, price_cents = ?, genre = ?, pages = ?
			WHERE id = ?`, b.AuthorID, b.Title, b.Year, b.PriceCents, b.Genre, b.Pages, id)
		if err != nil {
			return fmt.Errorf("books: update %d: %w", id, err)
		}
		return nil
	})
	return u, err
}

// Deleted is what DeleteBook removed: the book, its author, and the
// greatest book id there was (the deleted one included).
type Deleted struct{ ID, AuthorID, MaxID int64 }

// DeleteBook deletes book id and its reviews, or returns ErrNotFound.
func (s *Store) DeleteBook(ctx context.Context, id int64) (Deleted, error) {
	var d Deleted
	err := s.inTx(ctx, func(tx counted) error {
		b, err := tx.book(ctx, id)
		if err != nil {
			return err
		}
		d = Deleted{ID: id, AuthorID: b.AuthorID}
		if err := tx.queryRow(ctx, `SELECT max(id) FROM books`).Scan(&d.MaxID); err != nil {
			return fmt.Errorf("books: max id: %w", err)
		}
		if _, err := tx.exec(ctx, `DELETE FROM books WHERE id = ?`, id); err != nil {
			return fmt.Errorf("books: delete %d: %w", id, err)
		}
		return nil
	})
	return d, err
}

// book reads the row of book id.
func (c counted) book(ctx context.Context, id int64) (book, error) {
	var b book
	err := c.queryRow(ctx, `SELECT id, author_id, title, year, price_cents, genre, pages FROM books WHERE id = ?`, id).
		Scan(&b.ID, &b.AuthorID, &b.Title, &b.Year, &b.PriceCents, &b.Genre, &b.Pages)
	if errors.Is(err, sql.ErrNoRows) {
		return book{}, fmt.Errorf("%w: book %d", ErrNotFound, id)
	}
	if err != nil {
		return book{}, fmt.Errorf("books: book %d: %w", id, err)
	}
	return b, nil
}

// authorExists returns ErrNoAuthor unless author id exists.
func (c counted) authorExists(ctx context.Context, id int64) error {
	var one int
	err := c.queryRow(ctx, `SELECT 1 FROM authors WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: author_id %d", ErrNoAuthor, id)
	}
	if err != nil {
		return fmt.Errorf("books: author %d: %w", id, err)
	}
	return nil
}
