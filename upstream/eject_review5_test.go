package upstream

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// With the default Passive.Statuses (502, 503, 504) any client can eject
// every member by asking, MaxFails times, for one URL the origin answers
// 503 (a rate-limited or maintenance endpoint): all routes of the pool then
// fail with ErrNoHealthy for FailTimeout, though the members answer every
// other URL. A pool of a single member is ejected too (nginx never marks
// a lone server unavailable).
func TestReview5ClientChosenURLEjectsWholePool(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/busy" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	p, err := New(Options{Name: "app", Members: []Member{{URL: u}}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	do := func(path string) (*http.Response, error) {
		req, _ := http.NewRequest("GET", "http://app.upstream.invalid"+path, nil)
		resp, err := p.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return resp, err
	}
	for i := 0; i < 3; i++ {
		if _, err := do("/busy"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := do("/page"); errors.Is(err, ErrNoHealthy) {
		t.Errorf("three client requests of a 503 URL made the healthy pool unusable for every URL: %v", err)
	}
}
