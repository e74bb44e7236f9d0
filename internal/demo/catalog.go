package demo

import (
	"cmp"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// The catalog is generated, not stored: each value is drawn from a PCG
// seeded by the id (or ISBN, or user), so it is the same on every run.
// Only what sorting needs is kept in memory.

var (
	adjectives = []string{"Sturdy", "Compact", "Classic", "Deluxe", "Portable", "Quiet", "Bright", "Rustic", "Modern", "Handmade", "Vintage", "Smart"}
	nouns      = []string{"Lamp", "Kettle", "Backpack", "Chair", "Notebook", "Headphones", "Teapot", "Blender", "Jacket", "Umbrella", "Clock", "Mug"}
	categories = []string{"home", "kitchen", "outdoor", "office", "audio", "apparel", "garden", "toys"}
	tags       = []string{"bestseller", "new", "eco", "gift", "sale", "limited", "imported", "refurbished"}
	sentences  = []string{
		"Built to last through years of daily use without losing its good looks.",
		"Designed in a small studio and assembled by people who care about details.",
		"Every unit is checked by hand before it leaves the warehouse.",
		"Pairs well with the rest of the collection and fits almost any room.",
		"Easy to clean, easy to store and easy to love from the very first day.",
		"Made from responsibly sourced materials with minimal plastic packaging.",
		"Customers keep coming back for the quality and the friendly support.",
		"Comes with a two year warranty and free returns within thirty days.",
	}
	languageIndex = map[string]int{"en": 0, "de": 1, "fr": 2}
	bookTitles    = [][3]string{
		{"The Silent River", "Der stille Fluss", "La Rivière silencieuse"},
		{"A House of Glass", "Ein Haus aus Glas", "Une maison de verre"},
		{"The Last Lighthouse", "Der letzte Leuchtturm", "Le Dernier Phare"},
		{"Winter in the City", "Winter in der Stadt", "L'Hiver en ville"},
	}
	authors = []string{"Ada Brooks", "Jonas Keller", "Camille Laurent", "Mei Tanaka", "Omar Haddad"}
	epoch   = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
)

type productSummary struct {
	ID       int     `json:"id"`
	Name     string  `json:"name"`
	Price    float64 `json:"price"`
	Stock    int     `json:"stock"`
	Category string  `json:"category"`
}

type product struct {
	productSummary
	Tags        []string `json:"tags"`
	Description string   `json:"description"`
	Version     uint64   `json:"version"`
}

type productPage struct {
	Page  int              `json:"page"`
	Pages int              `json:"pages"`
	Total int              `json:"total"`
	Items []productSummary `json:"items"`
}

type category struct {
	Name     string  `json:"name"`
	Products int     `json:"products"`
	MinPrice float64 `json:"min_price"`
	MaxPrice float64 `json:"max_price"`
	Featured []int   `json:"featured"`
	Blurb    string  `json:"blurb"`
}

type book struct {
	ISBN     string `json:"isbn"`
	Title    string `json:"title"`
	Language string `json:"language"`
	Author   string `json:"author"`
	Year     int    `json:"year"`
	Pages    int    `json:"pages"`
}

type cartItem struct {
	ProductID int     `json:"product_id"`
	Name      string  `json:"name"`
	Quantity  int     `json:"quantity"`
	Price     float64 `json:"price"`
}

type cart struct {
	User  string     `json:"user"`
	Items []cartItem `json:"items"`
	Total float64    `json:"total"`
}

type serverTime struct {
	Now  string `json:"now"`
	Unix int64  `json:"unix"`
}

type catalog struct {
	products   int
	names      []string // index id-1
	cents      []int
	category   []int
	versions   []atomic.Uint64
	orders     map[string][]int // sort parameter -> ids in that order
	categories []category
}

func newCatalog(n int) *catalog {
	c := &catalog{products: n, names: make([]string, n), cents: make([]int, n), category: make([]int, n), versions: make([]atomic.Uint64, n)}
	byID := make([]int, n)
	for i := range n {
		r := seeded(uint64(i+1), 1)
		c.names[i] = adjectives[r.IntN(len(adjectives))] + " " + nouns[r.IntN(len(nouns))]
		c.cents[i] = 199 + r.IntN(49_800)
		c.category[i] = r.IntN(len(categories))
		byID[i] = i + 1
	}
	byName, byPrice := slices.Clone(byID), slices.Clone(byID)
	slices.SortStableFunc(byName, func(a, b int) int { return cmp.Compare(c.names[a-1], c.names[b-1]) })
	slices.SortStableFunc(byPrice, func(a, b int) int { return cmp.Compare(c.cents[a-1], c.cents[b-1]) })
	c.orders = map[string][]int{"": byID, "id": byID, "name": byName, "price": byPrice}

	for ci, name := range categories {
		cat := category{Name: name, MinPrice: 1e9, Featured: []int{}, Blurb: blurb(ci)}
		for i, pc := range c.category {
			if pc != ci {
				continue
			}
			cat.Products++
			cat.MinPrice = min(cat.MinPrice, dollars(c.cents[i]))
			cat.MaxPrice = max(cat.MaxPrice, dollars(c.cents[i]))
			if len(cat.Featured) < 20 {
				cat.Featured = append(cat.Featured, i+1)
			}
		}
		if cat.Products == 0 {
			cat.MinPrice = 0
		}
		c.categories = append(c.categories, cat)
	}
	return c
}

// blurb is four sentences, making the category summary about 4 KiB.
func blurb(category int) string {
	var s []string
	for i := range 4 {
		s = append(s, sentences[(category+2*i)%len(sentences)])
	}
	return strings.Join(s, " ")
}

// id parses a product id, accepting only its canonical form so that "7",
// "07" and "+7" are not three URLs for one product.
func (c *catalog) id(s string) (int, bool) {
	id, err := strconv.Atoi(s)
	return id, err == nil && id >= 1 && id <= c.products && strconv.Itoa(id) == s
}

func (c *catalog) summary(id int) productSummary {
	v := c.versions[id-1].Load()
	stock := int((uint64(id)*2_654_435_761 + v*40_503) % 500)
	return productSummary{ID: id, Name: c.names[id-1], Price: dollars(c.cents[id-1]), Stock: stock, Category: categories[c.category[id-1]]}
}

// product is about 1 KiB of JSON.
func (c *catalog) product(id int, version uint64) product {
	p := product{productSummary: c.summary(id), Version: version}
	r := seeded(uint64(id), 2)
	for _, i := range r.Perm(len(tags))[:2+r.IntN(3)] {
		p.Tags = append(p.Tags, tags[i])
	}
	var desc []string
	for n := 0; n < 850; n += len(desc[len(desc)-1]) + 1 {
		desc = append(desc, sentences[r.IntN(len(sentences))])
	}
	p.Description = strings.Join(desc, " ")
	return p
}

// lastModified is fixed per product version and always in the past.
func lastModified(id int, version uint64) time.Time {
	return epoch.Add(time.Duration(id)*time.Minute + time.Duration(version)*time.Second)
}

func newBook(isbn, lang string) book {
	r := seeded(hash(isbn), 3)
	title := bookTitles[r.IntN(len(bookTitles))][languageIndex[lang]]
	return book{ISBN: isbn, Title: title, Language: lang, Author: authors[r.IntN(len(authors))], Year: 1950 + r.IntN(75), Pages: 120 + r.IntN(600)}
}

func (c *catalog) cart(user string) cart {
	r := seeded(hash(user), 4)
	ct := cart{User: user}
	cents := 0
	for range 1 + r.IntN(4) {
		id, qty := 1+r.IntN(c.products), 1+r.IntN(3)
		ct.Items = append(ct.Items, cartItem{ProductID: id, Name: c.names[id-1], Quantity: qty, Price: dollars(c.cents[id-1])})
		cents += qty * c.cents[id-1]
	}
	ct.Total = dollars(cents)
	return ct
}

func seeded(seed, stream uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, stream)) }

func hash(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

func dollars(cents int) float64 { return float64(cents) / 100 }
