// Command tracesim replays synthetic request traces through moat's L1
// (cache.Memory: W-TinyLFU with size-aware admission, see
// cache/policy.go, weighted by Entry.Size), a plain LRU of the same byte
// budget, and two offline estimates of the optimum (Belady-size and
// Belady's MIN, see policy.go), and prints each one's hit ratio, with the
// best static set of objects (an ideal LFU) for reference.
//
// Traces: Zipf popularity with s = 0.7, 0.9 and 1.1 over 100,000 objects,
// a Zipf 0.9 trace polluted by scans of one-time objects, and Zipf 0.9 with
// equal sizes. Object sizes are log-normal (median 2 KiB). Budgets are
// fractions of the Zipf traces' footprint (the bytes of all objects
// requested).
//
//	go run ./bench/cmd/tracesim            # or: make bench-trace
//	go run ./bench/cmd/tracesim -requests 500000 -budgets 0.01,0.1
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
)

func main() {
	objects := flag.Int("objects", 100_000, "distinct objects of the Zipf traces")
	requests := flag.Int("requests", 1_000_000, "requests per trace")
	budgetList := flag.String("budgets", "0.005,0.02,0.05,0.1,0.25", "cache budgets, as fractions of the Zipf traces' footprint")
	sample := flag.Int("sample", 128, "Belady-size: residents sampled per eviction")
	l1Runs := flag.Int("l1-runs", 3, "replays through moat's L1 per trace and budget (its sketch's hashing is seeded at random, so its hit ratio varies a little)")
	seed := flag.Uint64("seed", 1, "random seed of the traces")
	flag.Parse()
	budgets, err := parseFractions(*budgetList)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tracesim: -budgets:", err)
		os.Exit(2)
	}
	traces := []*trace{
		zipfTrace("zipf-0.7", *seed, *objects, *requests, 0.7),
		zipfTrace("zipf-0.9", *seed, *objects, *requests, 0.9),
		zipfTrace("zipf-1.1", *seed, *objects, *requests, 1.1),
		// One scan of 20,000 one-time objects after every 80,000 requests:
		// a fifth of all requests.
		scanTrace("zipf-0.9+scans", *seed, *objects, *requests, 0.9, 80_000, 20_000),
		// Zipf 0.9 with every object the same size (the median, 2 KiB):
		// what is left of the gaps when size plays no part.
		equalSizes(zipfTrace("zipf-0.9-equal", *seed, *objects, *requests, 0.9), 2048),
	}
	if err := run(os.Stdout, traces, budgets, *sample, max(*l1Runs, 1)); err != nil {
		fmt.Fprintln(os.Stderr, "tracesim:", err)
		os.Exit(1)
	}
}

func parseFractions(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v <= 0 || v > 1 {
			return nil, fmt.Errorf("%q: want a fraction in (0, 1]", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// row is one trace at one budget: the hit ratio of each policy.
type row struct {
	trace                          string
	budget                         int64
	fraction                       float64
	l1, lru, beladySize, beladyMIN float64
	static                         float64
	l1Min, l1Max                   float64 // over the L1 runs
}

// best is the offline estimate of the optimum: the better of the two.
func (r row) best() float64 { return max(r.beladySize, r.beladyMIN) }

func run(w io.Writer, traces []*trace, budgets []float64, sample, l1Runs int) error {
	// Budgets are set against the plain Zipf footprint (the same objects
	// in every trace), so every trace is measured at the same sizes.
	base := newWeights(traces[0])
	var footprint int64
	seen := make([]bool, len(traces[0].sizes))
	for _, o := range traces[0].reqs {
		if !seen[o] {
			seen[o] = true
			footprint += base.weight[o]
		}
	}
	// Traces are independent: simulate them in parallel.
	rows := make([][]row, len(traces))
	errs := make([]error, len(traces))
	var wg sync.WaitGroup
	for ti, t := range traces {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wt := newWeights(t)
			for _, f := range budgets {
				r, err := simulate(t, wt, int64(f*float64(footprint)), sample, l1Runs)
				if err != nil {
					errs[ti] = err
					return
				}
				r.fraction = f
				rows[ti] = append(rows[ti], r)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d requests per trace; budgets are fractions of the Zipf traces' footprint, %s (weights as moat's L1 counts them); moat L1: mean of %d runs\n\n",
		len(traces[0].reqs), mib(footprint), l1Runs)
	writeTable(w, rows)
	return nil
}

// writeTable prints the rows as a Markdown table.
func writeTable(w io.Writer, rows [][]row) {
	fmt.Fprintln(w, "| trace | budget | moat L1 | (range) | LRU | Belady-size | Belady-MIN | static | L1 − LRU | L1 / Belady | L1 / static |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, rs := range rows {
		for _, r := range rs {
			fmt.Fprintf(w, "| %s | %s (%s) | %.4f | %.4f-%.4f | %.4f | %.4f | %.4f | %.4f | %+.4f | %.1f%% | %.1f%% |\n",
				r.trace, pct(r.fraction), mib(r.budget), r.l1, r.l1Min, r.l1Max, r.lru, r.beladySize, r.beladyMIN, r.static,
				r.l1-r.lru, 100*r.l1/r.best(), 100*r.l1/r.static)
		}
	}
}

// simulate replays t through each policy at budget bytes.
func simulate(t *trace, w *weights, budget int64, sample, l1Runs int) (row, error) {
	r := row{trace: t.name, budget: budget, l1Min: 1}
	for range l1Runs {
		l1, err := newL1(w, budget)
		if err != nil {
			return row{}, err
		}
		hr := replay(t, l1)
		l1.close()
		r.l1 += hr / float64(l1Runs)
		r.l1Min, r.l1Max = min(r.l1Min, hr), max(r.l1Max, hr)
	}
	r.lru = replay(t, newLRU(w, budget))
	r.beladySize = replay(t, newBeladySize(w, t, budget, sample))
	r.beladyMIN = replay(t, newBeladyMIN(w, t, budget))
	r.static = staticOptimum(t, w, budget)
	return r, nil
}

func pct(f float64) string {
	return strconv.FormatFloat(100*f, 'g', 3, 64) + "%"
}

func mib(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
