package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestOrigin(t *testing.T) {
	srv := httptest.NewServer(newOrigin(0, 0))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/api/16k/3")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, want := resp.ContentLength, int64(16<<10); got != want {
		t.Errorf("Content-Length = %d, want %d", got, want)
	}
	if got, want := resp.Header.Get("Cache-Control"), "public, max-age=300"; got != want {
		t.Errorf("Cache-Control = %q, want %q", got, want)
	}

	req, _ := http.NewRequest("GET", srv.URL+"/api/16k/3", nil)
	req.Header.Set("If-None-Match", resp.Header.Get("Etag"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET: status %d, want 304", resp.StatusCode)
	}

	resp, err = http.Get(srv.URL + "/_stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s Stats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	if s.Requests != 2 || s.NotModified != 1 || s.ByKind["16k"] != 2 {
		t.Errorf("stats = %+v, want 2 requests, 1 not modified, 2 of kind 16k", s)
	}
}
