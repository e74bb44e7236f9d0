// Command stampede opens N keep-alive connections to a cache, then sends one
// GET for the same URL on all of them at the same instant and reads the
// answers. The runner points it at a key that has just gone stale and
// counts, at the origin, how many of the N requests got through.
//
// It prints one JSON object (see Result) on stdout.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Result is what stampede prints.
type Result struct {
	Requests  int            `json:"requests"`
	Errors    int            `json:"errors"`
	FirstErr  string         `json:"first_error,omitempty"`
	Statuses  map[string]int `json:"statuses"`
	ElapsedMS float64        `json:"elapsed_ms"`
	P50MS     float64        `json:"p50_ms"`
	P99MS     float64        `json:"p99_ms"`
	MaxMS     float64        `json:"max_ms"`
}

func main() {
	target := flag.String("url", "", "URL to request")
	n := flag.Int("n", 1000, "concurrent requests")
	timeout := flag.Duration("timeout", 30*time.Second, "deadline for each request")
	flag.Parse()
	u, err := url.Parse(*target)
	if err != nil || u.Host == "" {
		fmt.Fprintln(os.Stderr, "stampede: -url must be an absolute http URL")
		os.Exit(2)
	}
	res, err := run(u, *n, *timeout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stampede:", err)
		os.Exit(1)
	}
	_ = json.NewEncoder(os.Stdout).Encode(res)
}

type outcome struct {
	status  int
	latency time.Duration
	err     error
}

// run dials n connections first, so that connection set-up is not part of
// the stampede, then releases all requests together.
func run(u *url.URL, n int, timeout time.Duration) (*Result, error) {
	conns := make([]net.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	var dialErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				dialErr = err
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	if dialErr != nil {
		return nil, fmt.Errorf("dial %s: %w", u.Host, dialErr)
	}

	req := []byte("GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUser-Agent: moat-bench-stampede\r\n\r\n")
	out := make([]outcome, n)
	start := make(chan struct{})
	var t0 time.Time
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = roundTrip(c, req, timeout)
		}()
	}
	time.Sleep(50 * time.Millisecond) // let every goroutine reach the barrier
	t0 = time.Now()
	close(start)
	wg.Wait()
	return summarize(out, time.Since(t0)), nil
}

func roundTrip(c net.Conn, req []byte, timeout time.Duration) outcome {
	t := time.Now()
	_ = c.SetDeadline(t.Add(timeout))
	if _, err := c.Write(req); err != nil {
		return outcome{err: err}
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return outcome{err: err}
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return outcome{status: resp.StatusCode, latency: time.Since(t), err: err}
}

func summarize(out []outcome, elapsed time.Duration) *Result {
	r := &Result{Requests: len(out), Statuses: map[string]int{}, ElapsedMS: ms(elapsed)}
	var lat []time.Duration
	for _, o := range out {
		if o.err != nil {
			r.Errors++
			if r.FirstErr == "" {
				r.FirstErr = o.err.Error()
			}
			continue
		}
		r.Statuses[strconv.Itoa(o.status)]++
		lat = append(lat, o.latency)
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		r.P50MS = ms(percentile(lat, 50))
		r.P99MS = ms(percentile(lat, 99))
		r.MaxMS = ms(lat[len(lat)-1])
	}
	return r
}

// percentile returns the nearest-rank p-th percentile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
