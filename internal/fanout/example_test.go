package fanout_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/moatproxy/moat/internal/fanout"
)

func Example() {
	// A stand-in for a CDN's purge endpoint.
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Println(r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Idempotency-Key"))
		fmt.Println(string(body))
	}))
	defer cdn.Close()

	f, err := fanout.New(fanout.Options{Targets: []fanout.Target{{
		URL:     cdn.URL + "/purge",
		Headers: map[string]string{"Authorization": "Bearer cdn-token"},
	}}})
	if err != nil {
		panic(err)
	}
	f.Start()
	f.Enqueue(fanout.Purge{Tags: []string{"product:42"}, Soft: true, ID: "purge-1"})

	// At shutdown: deliver what is queued, for at most 10 seconds.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.Close(ctx); err != nil {
		fmt.Println("not every purge was delivered:", err)
	}
	fmt.Printf("%+v\n", f.Stats().PerTarget[0].Sent)
	// Output:
	// POST /purge Bearer cdn-token purge-1
	// {"tags":["product:42"],"soft":true,"id":"purge-1","origin":"moat"}
	// 1
}
