package books

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// ErrSeeded is returned by Seed when the database already holds books.
var ErrSeeded = errors.New("books: the database already holds books")

// SeedOptions size the dataset Seed writes. Zero fields take the defaults.
type SeedOptions struct {
	Authors int    // default 2,000
	Books   int    // default 50,000; each by a random author
	Reviews int    // default 200,000; half spread evenly, half on a few popular books
	Seed    uint64 // default 1: the same options write the same rows
}

func (o *SeedOptions) defaults() {
	if o.Authors <= 0 {
		o.Authors = 2_000
	}
	if o.Books <= 0 {
		o.Books = 50_000
	}
	if o.Reviews < 0 {
		o.Reviews = 0
	} else if o.Reviews == 0 {
		o.Reviews = 200_000
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
}

// Seed creates the schema and writes a deterministic dataset into an empty
// database, in one transaction, many rows per statement.
func (s *Store) Seed(ctx context.Context, o SeedOptions) error {
	o.defaults()
	if err := s.createSchema(ctx); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(o.Seed, 0x626f6f6b73)) // "books"
	return s.inTx(ctx, func(tx counted) error {
		var n int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM books`).Scan(&n); err != nil {
			return fmt.Errorf("books: seed: %w", err)
		}
		if n > 0 {
			return fmt.Errorf("%w (%d)", ErrSeeded, n)
		}
		authors := batch{tx: tx, insert: "INSERT INTO authors (id, name, country, born) VALUES ", cols: 4}
		for id := 1; id <= o.Authors; id++ {
			name := pick(r, firstNames) + " " + pick(r, lastNames)
			if err := authors.add(ctx, id, name, pick(r, countries), 1900+r.IntN(96)); err != nil {
				return err
			}
		}
		if err := authors.flush(ctx); err != nil {
			return err
		}
		books := batch{tx: tx, insert: "INSERT INTO books (id, author_id, title, year, price_cents, genre, pages) VALUES ", cols: 7}
		for id := 1; id <= o.Books; id++ {
			if err := books.add(ctx, id, 1+r.IntN(o.Authors), title(r), 1950+r.IntN(75),
				499+100*r.IntN(46), pick(r, genres), 90+r.IntN(800)); err != nil {
				return err
			}
		}
		if err := books.flush(ctx); err != nil {
			return err
		}
		// Popular books are scattered over the ids, not the first ones.
		popular := r.Perm(o.Books)
		zipf := rand.NewZipf(r, 1.2, 50, uint64(o.Books-1))
		reviews := batch{tx: tx, insert: "INSERT INTO reviews (id, book_id, rating, reviewer, body, created) VALUES ", cols: 6}
		epoch := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
		for id := 1; id <= o.Reviews; id++ {
			bookIdx := r.IntN(o.Books)
			if id%2 == 0 {
				bookIdx = popular[zipf.Uint64()]
			}
			rating := 1 + min(4, r.IntN(4)+r.IntN(3)) // mostly 3 and 4
			created := epoch.AddDate(0, 0, r.IntN(9000)).Format(time.DateOnly)
			if err := reviews.add(ctx, id, bookIdx+1, rating, pick(r, firstNames), pick(r, phrases)+" "+pick(r, phrases), created); err != nil {
				return err
			}
		}
		return reviews.flush(ctx)
	})
}

// batch inserts rows many at a time (one statement per batchRows rows).
type batch struct {
	tx     counted
	insert string // "INSERT INTO t (cols) VALUES "
	cols   int
	args   []any
}

const batchRows = 200

func (b *batch) add(ctx context.Context, values ...any) error {
	b.args = append(b.args, values...)
	if len(b.args) >= batchRows*b.cols {
		return b.flush(ctx)
	}
	return nil
}

func (b *batch) flush(ctx context.Context) error {
	rows := len(b.args) / b.cols
	if rows == 0 {
		return nil
	}
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", b.cols), ",") + ")"
	query := b.insert + strings.TrimSuffix(strings.Repeat(row+",", rows), ",")
	if _, err := b.tx.exec(ctx, query, b.args...); err != nil {
		return fmt.Errorf("books: seed: %w", err)
	}
	b.args = b.args[:0]
	return nil
}

func pick(r *rand.Rand, words []string) string { return words[r.IntN(len(words))] }

// title makes up a book title.
func title(r *rand.Rand) string {
	switch r.IntN(5) {
	case 0:
		return "The " + pick(r, adjectives) + " " + pick(r, nouns)
	case 1:
		return pick(r, nouns) + " of " + pick(r, places)
	case 2:
		n := pick(r, nouns)
		if strings.ContainsRune("AEIOU", rune(n[0])) {
			return "An " + n + " for " + pick(r, firstNames)
		}
		return "A " + n + " for " + pick(r, firstNames)
	case 3:
		return pick(r, adjectives) + " " + pick(r, nouns) + "s"
	default:
		return "The " + pick(r, nouns) + " and the " + pick(r, nouns)
	}
}

var (
	firstNames = strings.Fields(`Ada Alan Alice Amara Anton Astrid Beatrix Bruno Carmen Cecil Clara Dara
		Diego Edith Elena Emil Farah Felix Greta Hana Hugo Ines Iris Ivan Jonas Julia Kai Kenji Lena Leon
		Lucia Mara Marek Mina Nadia Nils Noor Olga Omar Oskar Paula Petra Quinn Rosa Rui Sami Sara Selma
		Tariq Thea Tomas Una Vera Viktor Wanda Yara Yusuf Zora`)
	lastNames = strings.Fields(`Abara Berg Castell Dahl Eklund Ferreira Gallo Haas Ibarra Jensen Kovac
		Lindqvist Moreau Nakamura Okafor Petrov Quiroga Rossi Sato Takahashi Uddin Varga Weber Xu Yilmaz
		Zielinski Andersen Brennan Costa Dimitrov Engel Fischer Grant Horvat Ito Jovanovic Keller Laine
		Marsh Novak Olsen Park Reyes Silva Toth Ueda Vidal Walsh Young Zimmer`)
	countries = strings.Fields(`AR AU BR CA CL CN CZ DE DK EG ES FI FR GB GR HU IE IN IT JP KE KR MX NG
		NL NO NZ PL PT RO SE TR UA US VN ZA`)
	genres = strings.Fields(`fantasy science-fiction mystery thriller romance history biography
		poetry philosophy travel cooking horror drama essays children`)
	adjectives = strings.Fields(`Silent Hidden Broken Golden Last Distant Burning Quiet Crimson Frozen
		Wandering Secret Lost Endless Bitter Bright Hollow Northern Sleeping Paper Iron Glass Velvet Wild`)
	nouns = strings.Fields(`Harbor Garden Archive Mirror River Lantern Orchard Compass Tower Voyage
		Signal Winter Empire Forest Letter Island Machine Bridge Kingdom Shadow Theory Engine Atlas Song`)
	places = strings.Fields(`Lisbon Kyoto Tangier Prague Oslo Lagos Quito Tbilisi Hobart Valparaiso
		Trieste Zanzibar Reykjavik Samarkand Montreal Naples`)
	phrases = []string{"Gripping.", "Slow start.", "Beautifully written.", "Could not put it down.",
		"Overrated.", "A classic.", "Too long.", "Loved the ending.", "Clever plot.", "Flat characters.",
		"Worth rereading.", "Not for me."}
)
