package books

import "strconv"

// The tag rules. A cached value carries tags (surrogate keys); a write
// invalidates tags; a value is reloaded when one of its tags is
// invalidated. The rules below make a write invalidate exactly the values
// it changed, no more (tags_test.go checks it against every page of small
// random tables).
//
//	value                      tags
//	book detail               book:{id}
//	list page (size M)         book:{id} for each book on it,
//	                           books:first:{F}, books:first64:{F/64}, books:first4096:{F/4096}
//	                             where F is the page's first book id,
//	                           books:tail if it holds fewer than M books
//	total (of GET /books)      books:count
//	author's books             author:{id}:books
//	search result              books:search
//
//	write                      invalidates
//	PUT, PATCH /books/{id}     book:{id}, author:{a}:books (and the new author's if it changed), books:search
//	POST /books                books:tail, books:count, author:{a}:books, books:search
//	DELETE /books/{id}         book:{id}, author:{a}:books, books:count, books:search,
//	                           and the pages after the book (shiftTags)
//
// Why, for the list pages (ordered by id):
//   - An update changes no book's position: exactly the pages holding the
//     book change, and they carry book:{id}.
//   - A new book's id is greater than every id (AUTOINCREMENT), so it goes
//     after the last book: it lands on a page that is not full, or on the
//     page after the last full one, which no one could have cached (it was
//     past the end: 404, never stored). The pages not full carry
//     books:tail; the full ones do not change.
//   - Deleting book X moves every later book one place up: exactly the
//     pages holding X or starting after X change. The first carry
//     book:{X}; the others have a first id F > X, found by shiftTags with
//     at most 63 + 63 + (max id - X)/4096 tags instead of one per later
//     book: the F in X's block of 64 ids one by one, the blocks of 64 in
//     X's block of 4096, then the blocks of 4096 up to the greatest id.
//   - The total changes with every create and delete. It is cached apart
//     from the pages (ListResponse), so that it alone reloads.
//
// A search's result can change with any write (a new title may match), so
// every write invalidates every search; searches have a short TTL too.

// Tags that name more than one value.
const (
	TagCount  = "books:count"
	TagTail   = "books:tail"
	TagSearch = "books:search"
)

// BookTag names book id's detail and the list pages holding it.
func BookTag(id int64) string { return "book:" + strconv.FormatInt(id, 10) }

// AuthorBooksTag names author id's list of books.
func AuthorBooksTag(id int64) string { return "author:" + strconv.FormatInt(id, 10) + ":books" }

// firstLevels are the block sizes of the tags that name a page by its first
// book id, as shifts: blocks of 1, 64 and 4096 ids.
var firstLevels = [...]struct {
	shift  uint
	prefix string
}{{0, "books:first:"}, {6, "books:first64:"}, {12, "books:first4096:"}}

func firstTag(level int, block int64) string {
	return firstLevels[level].prefix + strconv.FormatInt(block, 10)
}

// pageTags returns the tags of a list page. The tags that name many pages
// come first: a moat proxy keeps the first 64 tags of a response.
func pageTags(p Page) []string {
	tags := make([]string, 0, len(p.Books)+len(firstLevels)+1)
	if len(p.Books) < p.Size {
		tags = append(tags, TagTail)
	}
	if len(p.Books) > 0 {
		first := p.Books[0].ID
		for l, level := range firstLevels {
			tags = append(tags, firstTag(l, first>>level.shift))
		}
	}
	for _, b := range p.Books {
		tags = append(tags, BookTag(b.ID))
	}
	return tags
}

// updateTags returns what an update of a book invalidates.
func updateTags(u Updated) []string {
	tags := []string{BookTag(u.ID), AuthorBooksTag(u.OldAuthorID), TagSearch}
	if u.NewAuthorID != u.OldAuthorID {
		tags = append(tags, AuthorBooksTag(u.NewAuthorID))
	}
	return tags
}

// createTags returns what a new book invalidates.
func createTags(c Created) []string {
	return []string{TagTail, TagCount, AuthorBooksTag(c.AuthorID), TagSearch}
}

// deleteTags returns what deleting a book invalidates.
func deleteTags(d Deleted) []string {
	tags := []string{BookTag(d.ID), AuthorBooksTag(d.AuthorID), TagCount, TagSearch}
	return append(tags, shiftTags(d.ID, d.MaxID)...)
}

// shiftTags returns the tags of every page whose first book id F is in
// (x, maxID]: level by level, the blocks after x's own block, up to the end
// of x's block of the next level (the top level: up to maxID's block).
func shiftTags(x, maxID int64) []string {
	var tags []string
	for l, level := range firstLevels {
		from := x>>level.shift + 1
		to := maxID >> level.shift
		if l+1 < len(firstLevels) {
			// The end of x's block of the next level, in this level's blocks.
			next := firstLevels[l+1].shift
			to = min(to, (x>>next+1)<<(next-level.shift)-1)
		}
		for b := from; b <= to; b++ {
			tags = append(tags, firstTag(l, b))
		}
	}
	return tags
}
