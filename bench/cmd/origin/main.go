// Command origin is the benchmark's API: JSON documents of ~1 KiB and
// ~16 KiB under /api/{kind}/{id} (see bench/internal/payload), with strong
// ETags and 304s for matching If-None-Match, optional simulated database
// time, and request counters at /_stats that the runner reads to compute
// hit ratios and count stampedes.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/moatproxy/moat/bench/internal/payload"
)

// Stats are the counters served at /_stats.
type Stats struct {
	Requests    int64            `json:"requests"`     // every /api request
	NotModified int64            `json:"not_modified"` // of which answered 304
	ByKind      map[string]int64 `json:"by_kind"`
}

type origin struct {
	delay         time.Duration
	stampedeDelay time.Duration
	requests      atomic.Int64
	notModified   atomic.Int64
	byKind        map[string]*atomic.Int64
}

func newOrigin(delay, stampedeDelay time.Duration) *origin {
	o := &origin{delay: delay, stampedeDelay: stampedeDelay, byKind: map[string]*atomic.Int64{}}
	for name := range payload.Kinds {
		o.byKind[name] = new(atomic.Int64)
	}
	return o
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_stats" {
		o.serveStats(w)
		return
	}
	k, id, ok := payload.Split(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	o.requests.Add(1)
	o.byKind[k.Name].Add(1)
	d := o.delay
	if k.Name == "stampede" {
		d = o.stampedeDelay
	}
	if d > 0 {
		time.Sleep(d)
	}
	etag := payload.ETag(k, id)
	h := w.Header()
	h["Content-Type"] = []string{payload.ContentType}
	h["Cache-Control"] = []string{k.CacheControl}
	h["Etag"] = []string{etag}
	h["Last-Modified"] = []string{payload.LastModified}
	if inm := r.Header.Get("If-None-Match"); inm == etag || inm == "W/"+etag {
		o.notModified.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := payload.Body(k, id)
	h["Content-Length"] = []string{fmt.Sprint(len(body))}
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func (o *origin) serveStats(w http.ResponseWriter) {
	s := Stats{Requests: o.requests.Load(), NotModified: o.notModified.Load(), ByKind: map[string]int64{}}
	for name, c := range o.byKind {
		s.ByKind[name] = c.Load()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(s)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	delay := flag.Duration("delay", 0, "simulated database time per request")
	stampedeDelay := flag.Duration("stampede-delay", 50*time.Millisecond, "simulated database time of /api/stampede/ requests")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	// The runner reads the bound address from the first line of stdout.
	fmt.Println(ln.Addr().String())
	os.Stdout.Sync()
	srv := &http.Server{Handler: newOrigin(*delay, *stampedeDelay), ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}
