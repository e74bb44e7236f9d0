package aside_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/moatproxy/moat/aside"
	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/gateway"
)

type Book struct {
	ID       string
	Title    string
	AuthorID string
}

// db stands for the application's database.
var db = map[string]Book{
	"1": {ID: "1", Title: "Dune", AuthorID: "7"},
	"2": {ID: "2", Title: "Children of Dune", AuthorID: "7"},
	"3": {ID: "3", Title: "Solaris", AuthorID: "9"},
}

// loadBook returns the loader of one book, which says when it runs.
func loadBook(id string) func(context.Context) (Book, error) {
	return func(context.Context) (Book, error) {
		fmt.Println("  (database: book", id+")")
		return db[id], nil
	}
}

func ExampleCache_Get() {
	books, err := aside.New(aside.Options[Book]{Name: "books", TTL: 5 * time.Minute})
	if err != nil {
		panic(err)
	}
	defer books.Close()
	ctx := context.Background()

	for range 3 {
		b, err := books.Get(ctx, "1", loadBook("1"))
		if err != nil {
			panic(err)
		}
		fmt.Println(b.Title)
	}
	s := books.Stats()
	fmt.Printf("loads %d, hits %d\n", s.Loads, s.Hits)
	// Output:
	//   (database: book 1)
	// Dune
	// Dune
	// Dune
	// loads 1, hits 2
}

func ExampleCache_Invalidate() {
	books, err := aside.New(aside.Options[Book]{
		Name: "books",
		TTL:  5 * time.Minute,
		// A book's tags: itself and its author, so that a change of
		// either removes it.
		Tags: func(_ string, b Book) []string { return []string{"book:" + b.ID, "author:" + b.AuthorID} },
	})
	if err != nil {
		panic(err)
	}
	defer books.Close()
	ctx := context.Background()
	for _, id := range []string{"1", "2", "3"} {
		_, _ = books.Get(ctx, id, loadBook(id))
	}

	// The author was renamed: every book of theirs goes, here, in L2 and
	// on every node of the bus.
	fmt.Println("invalidate author:7")
	if err := books.Invalidate(ctx, "author:7"); err != nil {
		panic(err)
	}
	for _, id := range []string{"1", "2", "3"} {
		b, _ := books.Get(ctx, id, loadBook(id))
		fmt.Println(b.Title)
	}
	// Output:
	//   (database: book 1)
	//   (database: book 2)
	//   (database: book 3)
	// invalidate author:7
	//   (database: book 1)
	// Dune
	//   (database: book 2)
	// Children of Dune
	// Solaris
}

// countingTier is a tier wrapper of an application's own: it counts the
// hits of the shared tier and passes everything on. It forwards
// Invalidate, so it is still a cache.Invalidator and values may have tags.
type countingTier struct {
	cache.Invalidator
	hits atomic.Int64
}

func (t *countingTier) Get(ctx context.Context, key string) (*cache.Entry, error) {
	e, err := t.Invalidator.Get(ctx, key)
	if e != nil {
		t.hits.Add(1)
	}
	return e, err
}

// Example_tierWrapper shares a wrapped tier between two Caches, as two
// processes would share Redis (redisl2.Client.Tier()): what one loads, the
// other reads from L2.
func Example_tierWrapper() {
	shared, err := cache.NewSharedMemory(cache.MemoryOptions{MaxBytes: 16 << 20})
	if err != nil {
		panic(err)
	}
	defer shared.Close()
	l2 := &countingTier{Invalidator: shared}
	lease, bus := &gateway.LocalLease{}, &gateway.LocalBus{}
	node := func() *aside.Cache[Book] {
		c, err := aside.New(aside.Options[Book]{
			Name: "books", Version: "1", TTL: 5 * time.Minute,
			Codec: aside.Msgpack[Book](),
			L2:    l2, L2Timeout: time.Second,
			Lease: lease,
			Bus:   bus,
		})
		if err != nil {
			panic(err)
		}
		return c
	}
	a, b := node(), node()
	defer a.Close()
	defer b.Close()
	ctx := context.Background()

	fmt.Println("node A:")
	x, _ := a.Get(ctx, "3", loadBook("3"))
	fmt.Println(x.Title)
	fmt.Println("node B:")
	y, _ := b.Get(ctx, "3", loadBook("3"))
	fmt.Println(y.Title)
	// B found A's value in L2 (A wrote it before answering).
	fmt.Printf("B: loads %d, L2 hits %d (tier: %d)\n", b.Stats().Loads, b.Stats().L2Hits, l2.hits.Load())
	// Output:
	// node A:
	//   (database: book 3)
	// Solaris
	// node B:
	// Solaris
	// B: loads 0, L2 hits 1 (tier: 1)
}
