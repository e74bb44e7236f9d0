// Command redisfront is the common "Redis in front of the API" gateway that
// the benchmark compares moat's L1+L2 with (docs/benchmarks.md, issue #17): a
// bare net/http server that GETs the response body from Redis on every
// request and, when Redis has nothing, fetches the origin, answers, and SETs
// the body with a lifetime. It has no in-process cache, no revalidation, no
// coalescing and no purges.
//
// It talks to Redis as moat does: github.com/redis/rueidis with the options
// redisl2.New gives it (auto-pipelining, MaxFlushDelay 20µs, no client-side
// cache, no retries) and each call under its own deadline. A hit carries the
// header fields the ceiling sends (bench/cmd/ceiling), built from the path.
//
// GET /_stats answers {"hits":N,"misses":N,"errors":N}: Redis hits, misses
// and failed Redis calls (a failed GET is answered from the origin).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/moatproxy/moat/bench/internal/payload"
)

// front is the gateway. Its zero value is not usable; see newFront.
type front struct {
	redis   rueidis.Client
	origin  string        // base URL of the origin
	client  *http.Client  // to the origin
	prefix  string        // starts every Redis key
	ttl     time.Duration // lifetime of a stored body (SET ... PX)
	timeout time.Duration // bound on each Redis call; 0: the request's context alone

	hits, misses, errors atomic.Int64
}

func newFront(rc rueidis.Client, origin, prefix string, ttl, timeout time.Duration) *front {
	return &front{
		redis: rc, origin: origin, prefix: prefix, ttl: ttl, timeout: timeout,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxIdleConns: 256}, Timeout: 10 * time.Second},
	}
}

// Header values shared by every hit (net/http only reads them).
var (
	contentType  = []string{payload.ContentType}
	lastModified = []string{payload.LastModified}
	age0         = []string{"0"}
	cacheStatus  = []string{"redisfront; hit"}
	xCacheHit    = []string{"HIT"}
)

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_stats" {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]int64{"hits": f.hits.Load(), "misses": f.misses.Load(), "errors": f.errors.Load()})
		return
	}
	k, id, ok := payload.Split(r.URL.Path)
	if !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		http.NotFound(w, r)
		return
	}
	key := f.prefix + r.URL.Path
	body, err := f.get(r.Context(), key)
	switch {
	case err == nil:
		f.hits.Add(1)
		h := w.Header()
		h["Content-Type"] = contentType
		h["Cache-Control"] = []string{k.CacheControl}
		h["Etag"] = []string{payload.ETag(k, id)}
		h["Last-Modified"] = lastModified
		h["Content-Length"] = []string{strconv.Itoa(len(body))}
		h["Age"] = age0
		h["Cache-Status"] = cacheStatus
		h["X-Cache"] = xCacheHit
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(body)
		}
		return
	case rueidis.IsRedisNil(err):
		f.misses.Add(1)
	default:
		f.errors.Add(1) // Redis failed or was slow: answer from the origin
	}
	f.fill(w, r, key)
}

// get is one Redis GET under f.timeout.
func (f *front) get(ctx context.Context, key string) ([]byte, error) {
	if f.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	return f.redis.Do(ctx, f.redis.B().Get().Key(key).Build()).AsBytes()
}

// fill fetches the origin, answers with its response, and stores a 200's
// body in Redis.
func (f *front) fill(w http.ResponseWriter, r *http.Request, key string) {
	resp, err := f.client.Get(f.origin + r.URL.RequestURI())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if resp.StatusCode == http.StatusOK {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), max(f.timeout, time.Second))
		err := f.redis.Do(ctx, f.redis.B().Set().Key(key).Value(rueidis.BinaryString(body)).PxMilliseconds(f.ttl.Milliseconds()).Build()).Error()
		cancel()
		if err != nil {
			f.errors.Add(1)
		}
	}
	h := w.Header()
	for name, v := range resp.Header {
		h[name] = v
	}
	h["X-Cache"] = []string{"MISS"}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}

// newRedis connects as redisl2.New does for a standalone server.
func newRedis(addr string) (rueidis.Client, error) {
	return rueidis.NewClient(rueidis.ClientOption{
		InitAddress:       []string{addr},
		Dialer:            net.Dialer{Timeout: 250 * time.Millisecond, KeepAlive: 400 * time.Millisecond},
		DisableCache:      true,
		DisableRetry:      true,
		ForceSingleClient: true,
		ClientName:        "redisfront",
		MaxFlushDelay:     20 * time.Microsecond,
	})
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	redisAddr := flag.String("redis", "127.0.0.1:6379", "the Redis server")
	origin := flag.String("origin", "http://127.0.0.1:8080", "base URL of the origin")
	prefix := flag.String("prefix", "front:", "prefix of every Redis key")
	ttl := flag.Duration("ttl", 5*time.Minute, "lifetime of a stored body")
	timeout := flag.Duration("timeout", 10*time.Millisecond, "bound on each Redis GET (moat's cache.redis.timeout default); 0: none")
	flag.Parse()

	rc, err := newRedis(*redisAddr)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ln.Addr().String())
	os.Stdout.Sync()
	srv := &http.Server{Handler: newFront(rc, *origin, *prefix, *ttl, *timeout), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	log.Fatal(srv.Serve(ln))
}
