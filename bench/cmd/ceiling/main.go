// Command ceiling is the most a net/http-based cache can serve on this
// machine: a bare net/http server that answers /api/{kind}/{id} from
// responses built in memory at start-up, with the same header fields and
// body bytes that moat sends on a hit (the origin's fields plus Age,
// Cache-Status and X-Cache). It does no lookup beyond one map read, no
// header encoding beyond net/http's own, and no proxying.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof" // on http.DefaultServeMux, served only with -pprof
	"os"
	"strconv"
	"time"

	"github.com/moatproxy/moat/bench/internal/payload"
)

type response struct {
	header http.Header
	body   []byte
}

type ceiling map[string]*response

func build(ids int) ceiling {
	c := ceiling{}
	for _, kind := range []string{"1k", "16k"} {
		k := payload.Kinds[kind]
		for i := range ids {
			id := strconv.Itoa(i)
			c["/api/"+kind+"/"+id] = newResponse(k, id)
		}
	}
	return c
}

func newResponse(k payload.Kind, id string) *response {
	body := payload.Body(k, id)
	return &response{
		body: body,
		header: http.Header{
			"Content-Type":   {payload.ContentType},
			"Cache-Control":  {k.CacheControl},
			"Etag":           {payload.ETag(k, id)},
			"Last-Modified":  {payload.LastModified},
			"Content-Length": {strconv.Itoa(len(body))},
			"Age":            {"0"},
			"Cache-Status":   {"moat; hit; ttl=300"},
			"X-Cache":        {"HIT"},
		},
	}
}

func (c ceiling) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	resp := c[r.URL.Path]
	if resp == nil {
		k, id, ok := payload.Split(r.URL.Path)
		if !ok {
			http.NotFound(w, r)
			return
		}
		resp = newResponse(k, id)
	}
	h := w.Header()
	for k, v := range resp.header {
		h[k] = v
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(resp.body)
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	ids := flag.Int("ids", 1000, "ids per kind (1k, 16k) answered from memory")
	pprofAddr := flag.String("pprof", "", "if set, serve net/http/pprof on this address (bench/profile.sh)")
	flag.Parse()
	if *pprofAddr != "" {
		go func() { log.Println(http.ListenAndServe(*pprofAddr, nil)) }()
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ln.Addr().String())
	os.Stdout.Sync()
	srv := &http.Server{Handler: build(*ids), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	log.Fatal(srv.Serve(ln))
}
