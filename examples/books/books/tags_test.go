package books

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// table is a books table reduced to what the list pages depend on: the
// ids, ascending.
type table []int64

// page returns the ids on page number of size (empty past the end).
func (tb table) page(number, size int) []int64 {
	from := (number - 1) * size
	if from >= len(tb) {
		return nil
	}
	return tb[from:min(from+size, len(tb))]
}

// lastPage is the last page a GET may ask for (page 1 when empty): past it
// the API answers 404 from the total and caches nothing.
func (tb table) lastPage(size int) int { return max(1, (len(tb)+size-1)/size) }

func (tb table) tagsOf(number, size int) []string {
	p := Page{Number: number, Size: size}
	for _, id := range tb.page(number, size) {
		p.Books = append(p.Books, BookSummary{ID: id})
	}
	return pageTags(p)
}

// randomTable returns n sorted distinct ids in 1..maxID.
func randomTable(r *rand.Rand, n int, maxID int64) table {
	seen := map[int64]bool{}
	tb := table{}
	for len(tb) < n {
		id := 1 + r.Int64N(maxID)
		if !seen[id] {
			seen[id] = true
			tb = append(tb, id)
		}
	}
	slices.Sort(tb)
	return tb
}

// checkExact checks, for every page a GET could have cached before a write
// (of every size in sizes), that the write's tags invalidate it exactly
// when its content changed.
func checkExact(t *testing.T, what string, before, after table, changedBook int64, writeTags []string) {
	t.Helper()
	for _, size := range []int{1, 2, 3, 7, 20, MaxPageSize} {
		for number := 1; number <= before.lastPage(size); number++ {
			old, cur := before.page(number, size), after.page(number, size)
			changed := !slices.Equal(old, cur) || slices.Contains(old, changedBook)
			invalidated := slices.ContainsFunc(before.tagsOf(number, size), func(tag string) bool {
				return slices.Contains(writeTags, tag)
			})
			if changed != invalidated {
				t.Fatalf("%s: page %d of size %d (%v → %v): changed %v, invalidated %v (tags %v; write's %v)",
					what, number, size, old, cur, changed, invalidated, before.tagsOf(number, size), writeTags)
			}
		}
	}
}

// TestTagRulesAreExact checks the tag rules of tags.go against every page
// of random tables, sparse enough that the first-id tags of every level
// (1, 64, 4096 ids) are needed: a write invalidates a page exactly when
// the page's content changes.
func TestTagRulesAreExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		maxID := []int64{300, 5_000, 40_000}[round%3]
		tb := randomTable(r, 1+r.IntN(250), maxID)

		t.Run("", func(t *testing.T) {
			// An update: the pages holding the book.
			x := tb[r.IntN(len(tb))]
			checkExact(t, "update", tb, tb, x, updateTags(Updated{ID: x, OldAuthorID: 1, NewAuthorID: 2}))

			// A create: its id is above every id ever used.
			id := tb[len(tb)-1] + 1 + r.Int64N(3)
			grown := append(slices.Clone(tb), id)
			checkExact(t, "create", tb, grown, -1, createTags(Created{ID: id, AuthorID: 1}))

			// A delete: the pages holding the book or after it.
			i := r.IntN(len(tb))
			x = tb[i]
			shrunk := slices.Delete(slices.Clone(tb), i, i+1)
			checkExact(t, "delete", tb, shrunk, -1, deleteTags(Deleted{ID: x, AuthorID: 1, MaxID: tb[len(tb)-1]}))
		})
	}
	// The empty table: its page 1 is the one a create changes.
	checkExact(t, "create in an empty table", table{}, table{1}, -1, createTags(Created{ID: 1, AuthorID: 1}))
}

// TestTagsAreBounded: a full page's tags (and the total's, in a proxy's
// answer) fit in the 64 a moat proxy keeps per response, and a delete
// names at most 63 + 63 + maxID/4096 pages' tags.
func TestTagsAreBounded(t *testing.T) {
	p := Page{Size: MaxPageSize}
	for id := range int64(MaxPageSize) {
		p.Books = append(p.Books, BookSummary{ID: 10_000 + id})
	}
	p.Books = p.Books[:MaxPageSize-1] // not full: books:tail too
	if got := len(pageTags(p)) + 1; got > 64 {
		t.Errorf("a page of %d books has %d tags with books:count; want at most 64", len(p.Books), got)
	}
	for _, x := range []int64{1, 63, 64, 4095, 4096, 25_000, 49_999} {
		const maxID = 50_000
		if got, limit := len(shiftTags(x, maxID)), 63+63+maxID/4096; got > limit {
			t.Errorf("shiftTags(%d, %d) = %d tags; want at most %d", x, maxID, got, limit)
		}
	}
	if got := shiftTags(50_000, 50_000); len(got) != 0 {
		t.Errorf("deleting the last book shifts %v; want nothing", got)
	}
}
