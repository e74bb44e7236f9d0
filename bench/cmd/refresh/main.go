// Command refresh measures predictive refresh-ahead: a steady Zipf load over
// 1,000 keys with a 2s TTL, through a real moat in front of a real origin on
// loopback, once with refresh_ahead off and once on. It reports the share of
// requests served fresh from cache, how many client requests waited on the
// origin, and origin requests per second, overall and for the 100 hottest
// keys.
//
//	go run ./bench/cmd/refresh -duration 30s
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/server"
)

func main() {
	duration := flag.Duration("duration", 30*time.Second, "load per mode")
	rate := flag.Int("rate", 2000, "client requests per second")
	keys := flag.Int("keys", 1000, "distinct keys")
	latency := flag.Duration("origin-latency", 5*time.Millisecond, "origin work per request")
	settle := flag.Duration("settle", 5*time.Second, "steady load before measuring (rates converge, first expiries pass)")
	flag.Parse()
	fmt.Printf("Zipf(1.1) over %d keys, ttl 2s, %d req/s for %v per mode (after %v of settling), origin %v per request\n\n", *keys, *rate, *duration, *settle, *latency)
	fmt.Printf("%-22s %10s %12s %14s %12s %14s %12s\n", "mode", "requests", "fresh hits", "waited", "hot fresh", "hot waited", "origin/s")
	for _, ahead := range []bool{false, true} {
		r, err := run(ahead, *settle, *duration, *rate, *keys, *latency)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		name := "refresh_ahead: false"
		if ahead {
			name = "refresh_ahead: true"
		}
		fmt.Printf("%-22s %10d %11.2f%% %14d %11.2f%% %14d %12.1f\n", name, r.requests,
			100*float64(r.fresh)/float64(r.requests), r.waited,
			100*float64(r.hotFresh)/float64(max(r.hotRequests, 1)), r.hotWaited, r.originPerSec)
		fmt.Printf("%-22s %10s %12s %14s %12s %14s %12.1f  (hot keys only; 100 keys / 2s TTL = 50.0)\n", "", "", "", "", "", "", r.hotOriginPerSec)
	}
}

type result struct {
	requests, fresh, waited          int64
	hotRequests, hotFresh, hotWaited int64
	originPerSec, hotOriginPerSec    float64
}

func run(ahead bool, settle, d time.Duration, rate, keys int, latency time.Duration) (result, error) {
	var originHits sync.Map // path -> *atomic.Int64
	var originTotal atomic.Int64
	oln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return result{}, err
	}
	origin := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, _ := originHits.LoadOrStore(r.URL.Path, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
		originTotal.Add(1)
		time.Sleep(latency)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path":%q,"at":%d}`, r.URL.Path, time.Now().UnixNano())
	})}
	go origin.Serve(oln)
	defer origin.Close()

	cfg, err := config.Parse([]byte(fmt.Sprintf(`listen: 127.0.0.1:0
origin: {url: http://%s}
cache: {refresh_budget: 500, refresh_concurrency: 32}
routes:
  - match: GET /k/{id}
    ttl: 2s
    refresh_ahead: %v
`, oln.Addr(), ahead)), "refresh.yaml")
	if err != nil {
		return result{}, err
	}
	srv, err := server.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return result{}, err
	}
	addr, _, err := srv.Start()
	if err != nil {
		return result{}, err
	}
	defer srv.Shutdown(context.Background())

	zipf := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.1, 1, uint64(keys-1))
	var zmu sync.Mutex
	next := func() int { zmu.Lock(); defer zmu.Unlock(); return int(zipf.Uint64()) }
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, Proxy: nil}}
	var res result
	var mu sync.Mutex
	// Warm: every key once, then measure.
	for i := range keys {
		resp, err := client.Get(fmt.Sprintf("http://%s/k/%d", addr, i))
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	var measuring atomic.Bool
	var startOrigin, hotStart int64
	go func() {
		time.Sleep(settle)
		startOrigin, hotStart = originTotal.Load(), hotOrigin(&originHits, 100)
		measuring.Store(true)
	}()
	// Pace in 10ms batches: a ticker per request is too coarse at
	// thousands per second.
	const step = 10 * time.Millisecond
	perStep := max(rate*int(step)/int(time.Second), 1)
	ctx, cancel := context.WithTimeout(context.Background(), settle+d)
	defer cancel()
	sem := make(chan struct{}, 128)
	var wg sync.WaitGroup
	tick := time.NewTicker(step)
	defer tick.Stop()
	began := time.Now().Add(settle)
	sent := 0
loop:
	for {
		if sent%perStep == 0 {
			select {
			case <-ctx.Done():
				break loop
			case <-tick.C:
			}
		}
		sent++
		sem <- struct{}{}
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			defer func() { <-sem }()
			resp, err := client.Get(fmt.Sprintf("http://%s/k/%d", addr, k))
			if err != nil {
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			cs := resp.Header.Get("Cache-Status")
			fresh := strings.Contains(cs, "; hit") && !strings.Contains(cs, "fwd=")
			waited := strings.Contains(cs, "fwd=") && !strings.Contains(cs, "stale-while-revalidate") || strings.Contains(cs, "collapsed")
			if !measuring.Load() {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			res.requests++
			if fresh {
				res.fresh++
			}
			if waited {
				res.waited++
			}
			if k < 100 {
				res.hotRequests++
				if fresh {
					res.hotFresh++
				}
				if waited {
					res.hotWaited++
				}
			}
		}(next())
	}
	wg.Wait()
	elapsed := time.Since(began).Seconds()
	res.originPerSec = float64(originTotal.Load()-startOrigin) / elapsed
	res.hotOriginPerSec = float64(hotOrigin(&originHits, 100)-hotStart) / elapsed
	st := srv.Gateway().Stats()
	fmt.Fprintf(os.Stderr, "  (refreshes: swr %d, early %d, predictive %d; skipped %d, failed %d)\n",
		st.Refreshes[0].Load(), st.Refreshes[1].Load(), st.Refreshes[2].Load(), st.RefreshSkipped.Load(), st.RefreshErrors.Load())
	return res, nil
}

func hotOrigin(m *sync.Map, n int) int64 {
	var total int64
	for i := range n {
		if v, ok := m.Load(fmt.Sprintf("/k/%d", i)); ok {
			total += v.(*atomic.Int64).Load()
		}
	}
	return total
}
