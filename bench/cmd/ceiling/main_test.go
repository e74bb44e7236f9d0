package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/moatproxy/moat/bench/internal/payload"
)

func TestCeilingServesOriginBytes(t *testing.T) {
	srv := httptest.NewServer(build(10))
	defer srv.Close()
	for _, path := range []string{"/api/1k/3", "/api/16k/9", "/api/1k/12345"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		k, id, _ := payload.Split(path)
		if want := payload.Body(k, id); string(got) != string(want) {
			t.Errorf("%s: body differs from the origin's", path)
		}
		if got, want := resp.Header.Get("Etag"), payload.ETag(k, id); got != want {
			t.Errorf("%s: Etag = %q, want %q", path, got, want)
		}
	}
}
