package gqltest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	graphql "github.com/graph-gophers/graphql-go"
)

// errBroken is what Query.broken always resolves with.
var errBroken = errors.New("broken on purpose")

// usdPerEUR converts the stored EUR prices for price(currency: "USD").
const usdPerEUR = 1.1

// viewer is the user named by the request's X-User header, carried to the
// resolvers in the request's context.
type viewer struct {
	name, tier string
}

// viewerKey is the context key of the *viewer.
type viewerKey struct{}

func withViewer(ctx context.Context, v *viewer) context.Context {
	return context.WithValue(ctx, viewerKey{}, v)
}

// rootResolver serves both Query and Mutation: graph-gophers resolves the
// fields of every root operation type on the one resolver it is given.
type rootResolver struct {
	lib   *library
	clock *atomic.Int32
}

func (r *rootResolver) Book(args struct{ ID graphql.ID }) *bookResolver {
	b, ok := r.lib.book(string(args.ID))
	if !ok {
		return nil
	}
	return &bookResolver{lib: r.lib, b: b}
}

// Books lists books in id order. graph-gophers hands an argument with a
// default value to a non-pointer field, the default filled in.
func (r *rootResolver) Books(args struct {
	First int32
	Genre *string
}) ([]*bookResolver, error) {
	if args.First < 0 {
		return nil, fmt.Errorf("first must not be negative, got %d", args.First)
	}
	genre := ""
	if args.Genre != nil {
		genre = *args.Genre
	}
	return r.bookResolvers(r.lib.list(int(args.First), genre)), nil
}

func (r *rootResolver) Author(args struct{ ID graphql.ID }) *authorResolver {
	a, ok := r.lib.author(string(args.ID))
	if !ok {
		return nil
	}
	return &authorResolver{lib: r.lib, a: a}
}

func (r *rootResolver) Search(args struct{ Text string }) []*nodeResolver {
	books, authors := r.lib.search(args.Text)
	out := make([]*nodeResolver, 0, len(books)+len(authors))
	for _, b := range books {
		out = append(out, &nodeResolver{book: &bookResolver{lib: r.lib, b: b}})
	}
	for _, a := range authors {
		out = append(out, &nodeResolver{author: &authorResolver{lib: r.lib, a: a}})
	}
	return out
}

func (r *rootResolver) Node(args struct{ ID graphql.ID }) *nodeResolver {
	if b := r.Book(args); b != nil {
		return &nodeResolver{book: b}
	}
	if a := r.Author(args); a != nil {
		return &nodeResolver{author: a}
	}
	return nil
}

func (r *rootResolver) Me(ctx context.Context) *userResolver {
	v, _ := ctx.Value(viewerKey{}).(*viewer)
	if v == nil {
		return nil
	}
	return &userResolver{v: *v}
}

func (r *rootResolver) Broken(args struct{ ID graphql.ID }) (*bookResolver, error) {
	return nil, errBroken
}

func (r *rootResolver) Clock() int32 { return r.clock.Add(1) }

func (r *rootResolver) UpdateBook(args struct {
	ID    graphql.ID
	Title string
}) *bookResolver {
	b, ok := r.lib.updateBook(string(args.ID), args.Title)
	if !ok {
		return nil
	}
	return &bookResolver{lib: r.lib, b: b}
}

func (r *rootResolver) CreateBook(args struct {
	Title    string
	AuthorID graphql.ID
	Genre    string // FICTION by default
}) (*bookResolver, error) {
	b, err := r.lib.createBook(args.Title, string(args.AuthorID), args.Genre)
	if err != nil {
		return nil, err
	}
	return &bookResolver{lib: r.lib, b: b}, nil
}

func (r *rootResolver) DeleteBook(args struct{ ID graphql.ID }) *graphql.ID {
	if !r.lib.deleteBook(string(args.ID)) {
		return nil
	}
	return &args.ID
}

func (r *rootResolver) RenameAuthor(args struct {
	ID   graphql.ID
	Name string
}) *authorResolver {
	a, ok := r.lib.renameAuthor(string(args.ID), args.Name)
	if !ok {
		return nil
	}
	return &authorResolver{lib: r.lib, a: a}
}

func (r *rootResolver) bookResolvers(books []book) []*bookResolver {
	out := make([]*bookResolver, len(books))
	for i, b := range books {
		out[i] = &bookResolver{lib: r.lib, b: b}
	}
	return out
}

// bookResolver resolves a Book from a copy of its row taken when the parent
// field resolved.
type bookResolver struct {
	lib *library
	b   book
}

func (r *bookResolver) ID() graphql.ID { return graphql.ID(bookID(r.b.id)) }
func (r *bookResolver) Title() string  { return r.b.title }
func (r *bookResolver) Year() int32    { return r.b.year }
func (r *bookResolver) Genre() string  { return r.b.genre }

func (r *bookResolver) Author() (*authorResolver, error) {
	a, ok := r.lib.authorByNumber(r.b.authorID)
	if !ok {
		return nil, fmt.Errorf("book %d has no author %d", r.b.id, r.b.authorID)
	}
	return &authorResolver{lib: r.lib, a: a}, nil
}

func (r *bookResolver) Price(args struct{ Currency string }) (float64, error) {
	switch currency := args.Currency; currency {
	case "EUR":
		return r.b.priceEUR, nil
	case "USD":
		return r.b.priceEUR * usdPerEUR, nil
	default:
		return 0, fmt.Errorf("unsupported currency %q (EUR or USD)", currency)
	}
}

// authorResolver resolves an Author from a copy of its row.
type authorResolver struct {
	lib *library
	a   author
}

func (r *authorResolver) ID() graphql.ID { return graphql.ID(authorID(r.a.id)) }
func (r *authorResolver) Name() string   { return r.a.name }

func (r *authorResolver) Books() []*bookResolver {
	books := r.lib.booksBy(r.a.id)
	out := make([]*bookResolver, len(books))
	for i, b := range books {
		out[i] = &bookResolver{lib: r.lib, b: b}
	}
	return out
}

// nodeResolver is a Book or an Author: it resolves both the Node interface
// and the SearchResult union, graph-gophers telling the type by ToBook and
// ToAuthor.
type nodeResolver struct {
	book   *bookResolver
	author *authorResolver
}

func (r *nodeResolver) ID() graphql.ID {
	if r.book != nil {
		return r.book.ID()
	}
	return r.author.ID()
}

func (r *nodeResolver) ToBook() (*bookResolver, bool)     { return r.book, r.book != nil }
func (r *nodeResolver) ToAuthor() (*authorResolver, bool) { return r.author, r.author != nil }

// userResolver resolves the User of Query.me.
type userResolver struct {
	v viewer
}

func (r *userResolver) ID() graphql.ID { return graphql.ID("u-" + r.v.name) }
func (r *userResolver) Name() string   { return r.v.name }
func (r *userResolver) Tier() string   { return r.v.tier }
