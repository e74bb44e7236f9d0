package gqltest

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// Seed sizes: authors a1..a5, books 1..20, book i written by author ((i-1)%5)+1.
const (
	seedAuthors = 5
	seedBooks   = 20
)

// seedGenre is the genre of seeded book i: FICTION, SCIENCE, HISTORY, FICTION, ...
func seedGenre(i int) string {
	switch (i - 1) % 3 {
	case 0:
		return "FICTION"
	case 1:
		return "SCIENCE"
	default:
		return "HISTORY"
	}
}

// book is one row of the library; resolvers hold copies, never pointers into
// the library, so a mutation never races with a response being written.
type book struct {
	id       int
	title    string
	year     int32
	genre    string
	authorID int
	priceEUR float64
}

// author is one author of the library.
type author struct {
	id   int
	name string
}

// library is the in-memory data of one Server, safe for concurrent use.
type library struct {
	mu         sync.Mutex
	books      []book // in id order: ids only grow and deletions keep the order
	authors    []author
	nextBookID int
}

// newLibrary returns the deterministic seed: authors "a1".."a5" named
// "Author 1"..; books "1".."20" titled "Book i", year 1990+i, genre cycling
// FICTION, SCIENCE, HISTORY, price i*1.5 EUR.
func newLibrary() *library {
	l := &library{nextBookID: seedBooks + 1}
	for i := 1; i <= seedAuthors; i++ {
		l.authors = append(l.authors, author{id: i, name: "Author " + strconv.Itoa(i)})
	}
	for i := 1; i <= seedBooks; i++ {
		l.books = append(l.books, newBook(i, "Book "+strconv.Itoa(i), ((i-1)%seedAuthors)+1, seedGenre(i)))
	}
	return l
}

func newBook(id int, title string, authorID int, genre string) book {
	return book{id: id, title: title, year: int32(1990 + id), genre: genre, authorID: authorID, priceEUR: float64(id) * 1.5}
}

// bookID formats a book's GraphQL id: "1".."20" and up.
func bookID(id int) string { return strconv.Itoa(id) }

// authorID formats an author's GraphQL id: "a1".."a5".
func authorID(id int) string { return "a" + strconv.Itoa(id) }

// parseBookID reads a book id; ok is false for anything else, author ids included.
func parseBookID(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil && n > 0 && strconv.Itoa(n) == s
}

// parseAuthorID reads an author id ("a" and a number).
func parseAuthorID(s string) (int, bool) {
	rest, ok := strings.CutPrefix(s, "a")
	if !ok {
		return 0, false
	}
	return parseBookID(rest)
}

func (l *library) bookIndex(id int) int {
	for i := range l.books {
		if l.books[i].id == id {
			return i
		}
	}
	return -1
}

func (l *library) authorIndex(id int) int {
	for i := range l.authors {
		if l.authors[i].id == id {
			return i
		}
	}
	return -1
}

func (l *library) book(id string) (book, bool) {
	n, ok := parseBookID(id)
	if !ok {
		return book{}, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if i := l.bookIndex(n); i >= 0 {
		return l.books[i], true
	}
	return book{}, false
}

func (l *library) author(id string) (author, bool) {
	n, ok := parseAuthorID(id)
	if !ok {
		return author{}, false
	}
	return l.authorByNumber(n)
}

func (l *library) authorByNumber(n int) (author, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i := l.authorIndex(n); i >= 0 {
		return l.authors[i], true
	}
	return author{}, false
}

// list returns at most first books in id order, only those of genre unless
// genre is empty.
func (l *library) list(first int, genre string) []book {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []book
	for _, b := range l.books {
		if len(out) >= first {
			break
		}
		if genre == "" || b.genre == genre {
			out = append(out, b)
		}
	}
	return out
}

// booksBy returns the books of author n in id order.
func (l *library) booksBy(n int) []book {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []book
	for _, b := range l.books {
		if b.authorID == n {
			out = append(out, b)
		}
	}
	return out
}

// search returns the books whose title and the authors whose name contain
// text, ignoring case.
func (l *library) search(text string) ([]book, []author) {
	text = strings.ToLower(text)
	l.mu.Lock()
	defer l.mu.Unlock()
	var books []book
	for _, b := range l.books {
		if strings.Contains(strings.ToLower(b.title), text) {
			books = append(books, b)
		}
	}
	var authors []author
	for _, a := range l.authors {
		if strings.Contains(strings.ToLower(a.name), text) {
			authors = append(authors, a)
		}
	}
	return books, authors
}

// updateBook retitles a book; ok is false when there is no such book.
func (l *library) updateBook(id, title string) (book, bool) {
	n, ok := parseBookID(id)
	if !ok {
		return book{}, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	i := l.bookIndex(n)
	if i < 0 {
		return book{}, false
	}
	l.books[i].title = title
	return l.books[i], true
}

// createBook adds a book with the next free id (21 and up), priced and dated
// like the seed.
func (l *library) createBook(title, authorRef, genre string) (book, error) {
	n, ok := parseAuthorID(authorRef)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !ok || l.authorIndex(n) < 0 {
		return book{}, fmt.Errorf("no author %q", authorRef)
	}
	b := newBook(l.nextBookID, title, n, genre)
	l.nextBookID++
	l.books = append(l.books, b)
	return b, nil
}

// deleteBook removes a book; ok is false when there was none.
func (l *library) deleteBook(id string) bool {
	n, ok := parseBookID(id)
	if !ok {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	i := l.bookIndex(n)
	if i < 0 {
		return false
	}
	l.books = append(l.books[:i], l.books[i+1:]...)
	return true
}

// renameAuthor renames an author; ok is false when there is no such author.
func (l *library) renameAuthor(id, name string) (author, bool) {
	n, ok := parseAuthorID(id)
	if !ok {
		return author{}, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	i := l.authorIndex(n)
	if i < 0 {
		return author{}, false
	}
	l.authors[i].name = name
	return l.authors[i], true
}
