package books

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrWarmOptions is wrapped by Warm's errors about its options.
var ErrWarmOptions = errors.New("books: invalid warm options")

// Bounds of a warm-up.
const (
	MaxWarmPages = 1000
	MaxWarmBooks = 10_000
)

// WarmPaths returns what is worth loading before traffic comes, most
// useful first: the first pages of the list (default size), then the
// details of the most reviewed books and their authors' lists, the pages
// readers land on and the books they open most.
func WarmPaths(ctx context.Context, s *Store, pages, books int) ([]string, error) {
	if pages < 0 || pages > MaxWarmPages || books < 0 || books > MaxWarmBooks {
		return nil, fmt.Errorf("%w: pages 0..%d and books 0..%d, got %d and %d", ErrWarmOptions, MaxWarmPages, MaxWarmBooks, pages, books)
	}
	paths := make([]string, 0, pages+2*books)
	for p := 1; p <= pages; p++ {
		paths = append(paths, "/books?page="+strconv.Itoa(p))
	}
	if books == 0 {
		return paths, nil
	}
	ids, authors, err := s.MostReviewed(ctx, books)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		paths = append(paths, "/books/"+strconv.FormatInt(id, 10))
	}
	for _, id := range authors {
		paths = append(paths, "/authors/"+strconv.FormatInt(id, 10)+"/books")
	}
	return paths, nil
}

// WarmOptions configure Warm.
type WarmOptions struct {
	// BaseURL is the running API, or a moat proxy in front of it:
	// whichever cache answers there is filled. Required.
	BaseURL string
	// Rate bounds the requests started per second, so that a warm-up
	// never competes with real traffic for the database. Default 100.
	Rate float64
	// Concurrency is how many requests run at once. Default 4.
	Concurrency int
	// Client sends the requests. Default: a client with a 10s timeout.
	Client *http.Client
}

// WarmResult is what Warm did.
type WarmResult struct {
	OK, Failed int
	Took       time.Duration
	FirstError error // of the first failed request
}

// Warm GETs each path from o.BaseURL, at most o.Rate a second and
// o.Concurrency at once, until every path is done or ctx ends. A path
// answered with anything but 200 counts as failed.
func Warm(ctx context.Context, o WarmOptions, paths []string) (WarmResult, error) {
	if o.Rate == 0 {
		o.Rate = 100
	}
	if o.Concurrency == 0 {
		o.Concurrency = 4
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	switch {
	case !strings.HasPrefix(o.BaseURL, "http://") && !strings.HasPrefix(o.BaseURL, "https://"):
		return WarmResult{}, fmt.Errorf("%w: BaseURL %q is not an http(s) URL", ErrWarmOptions, o.BaseURL)
	case !(o.Rate > 0) || o.Rate > 100_000:
		return WarmResult{}, fmt.Errorf("%w: Rate must be within (0, 100000], got %v", ErrWarmOptions, o.Rate)
	case o.Concurrency < 0 || o.Concurrency > 64:
		return WarmResult{}, fmt.Errorf("%w: Concurrency must be within 1..64, got %d", ErrWarmOptions, o.Concurrency)
	}
	base := strings.TrimSuffix(o.BaseURL, "/")
	start := time.Now()
	jobs := make(chan string)
	var (
		mu  sync.Mutex
		res WarmResult
		wg  sync.WaitGroup
	)
	for range o.Concurrency {
		wg.Go(func() {
			for p := range jobs {
				err := warmOne(ctx, o.Client, base+p)
				mu.Lock()
				if err != nil {
					res.Failed++
					if res.FirstError == nil {
						res.FirstError = err
					}
				} else {
					res.OK++
				}
				mu.Unlock()
			}
		})
	}
	// The pacer: one path per tick.
	tick := time.NewTicker(time.Duration(float64(time.Second) / o.Rate))
	defer tick.Stop()
	var err error
feed:
	for i, p := range paths {
		if i > 0 {
			select {
			case <-tick.C:
			case <-ctx.Done():
				err = ctx.Err()
				break feed
			}
		}
		select {
		case jobs <- p:
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	res.Took = time.Since(start)
	return res, err
}

func warmOne(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
