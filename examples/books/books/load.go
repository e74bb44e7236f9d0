package books

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// LoadPaths returns n paths of the read API for a load test, most popular
// first (a load tool picks them by a Zipf law): of every ten, six book
// details, three list pages and one author's list. Book ids are spread
// over 1..books, so that popular books are not all on the first pages;
// pages and authors are taken in order, from 1, wrapping around at the
// last page of books and at authors.
func LoadPaths(n, books, authors int) []string {
	paths := make([]string, 0, n)
	for r := range n {
		switch k := r % 10; {
		case k < 6:
			id := (r*7919)%max(books, 1) + 1
			paths = append(paths, "/books/"+strconv.Itoa(id))
		case k < 9:
			pages := max((books+DefaultPageSize-1)/DefaultPageSize, 1)
			paths = append(paths, "/books?page="+strconv.Itoa(r/10%pages+1)+"&size="+strconv.Itoa(DefaultPageSize))
		default:
			paths = append(paths, "/authors/"+strconv.Itoa(r/10%max(authors, 1)+1)+"/books")
		}
	}
	return paths
}

// FetchStats reads GET /debug/stats of the API at baseURL.
func FetchStats(ctx context.Context, client *http.Client, baseURL string) (Stats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/debug/stats", nil)
	if err != nil {
		return Stats{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return Stats{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Stats{}, fmt.Errorf("books: GET %s/debug/stats: %s", baseURL, resp.Status)
	}
	var s Stats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return Stats{}, fmt.Errorf("books: GET %s/debug/stats: %w", baseURL, err)
	}
	return s, nil
}
