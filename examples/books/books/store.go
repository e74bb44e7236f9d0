package books

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sync/atomic"

	_ "modernc.org/sqlite" // the "sqlite" driver: pure Go, no cgo
)

// Errors of the Store, mapped to HTTP statuses by the API.
var (
	// ErrNotFound: no book or author with that id.
	ErrNotFound = errors.New("books: not found")
	// ErrNoAuthor: a write names an author that does not exist.
	ErrNoAuthor = errors.New("books: no such author")
)

// Store is the database: SQLite through modernc.org/sqlite, with a count
// of the statements it ran. The count is what tells a cache hit (no
// statement) from a load in the tests, and what the load tool reports as
// database queries per second.
type Store struct {
	db      *sql.DB
	queries atomic.Int64
	// beforeQuery, if set, is called before each statement with its
	// text: tests hold a load there to line up concurrent requests.
	beforeQuery func(ctx context.Context, query string)
}

// Open opens (creating it if needed) the SQLite database at path, in WAL
// mode so that readers never wait for the writer, with foreign keys on
// and write transactions that take the write lock when they begin (no
// deadlock between two transactions that both read, then write).
func Open(path string) (*Store, error) {
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + url.Values{
		"_busy_timeout": {"5000"},
		"_journal_mode": {"WAL"},
		"_synchronous":  {"NORMAL"},
		"_foreign_keys": {"1"},
		"_txlock":       {"immediate"},
	}.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("books: open %s: %w", path, err)
	}
	// SQLite runs each statement on the calling goroutine: a few
	// connections per core keep both cores busy without thrashing.
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("books: open %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Queries returns how many statements the Store has run.
func (s *Store) Queries() int64 { return s.queries.Load() }

// queryer is what a statement runs on: the pool or a transaction.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// counted runs statements on q, counting each in the Store.
type counted struct {
	s *Store
	q queryer
}

func (c counted) count(ctx context.Context, query string) {
	c.s.queries.Add(1)
	if c.s.beforeQuery != nil {
		c.s.beforeQuery(ctx, query)
	}
}

func (c counted) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	c.count(ctx, query)
	return c.q.QueryContext(ctx, query, args...)
}

func (c counted) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	c.count(ctx, query)
	return c.q.QueryRowContext(ctx, query, args...)
}

func (c counted) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	c.count(ctx, query)
	return c.q.ExecContext(ctx, query, args...)
}

// read returns the Store's statements outside a transaction.
func (s *Store) read() counted { return counted{s, s.db} }

// inTx runs fn in a write transaction (BEGIN IMMEDIATE), committed if fn
// returns nil and rolled back otherwise.
func (s *Store) inTx(ctx context.Context, fn func(tx counted) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("books: begin: %w", err)
	}
	if err := fn(counted{s, tx}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("books: commit: %w", err)
	}
	return nil
}

// schema is the database's tables. AUTOINCREMENT makes every new book's id
// greater than every id ever used, which the list pages' tags rely on (see
// postTags).
const schema = `
CREATE TABLE IF NOT EXISTS authors (
	id      INTEGER PRIMARY KEY,
	name    TEXT    NOT NULL,
	country TEXT    NOT NULL,
	born    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS books (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	author_id   INTEGER NOT NULL REFERENCES authors(id),
	title       TEXT    NOT NULL,
	year        INTEGER NOT NULL,
	price_cents INTEGER NOT NULL,
	genre       TEXT    NOT NULL,
	pages       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS books_by_author ON books(author_id);
CREATE TABLE IF NOT EXISTS reviews (
	id       INTEGER PRIMARY KEY,
	book_id  INTEGER NOT NULL REFERENCES books(id) ON DELETE CASCADE,
	rating   INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
	reviewer TEXT    NOT NULL,
	body     TEXT    NOT NULL,
	created  TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS reviews_by_book ON reviews(book_id, rating);
`

// createSchema creates the tables that do not exist yet.
func (s *Store) createSchema(ctx context.Context) error {
	if _, err := s.read().exec(ctx, schema); err != nil {
		return fmt.Errorf("books: schema: %w", err)
	}
	return nil
}
