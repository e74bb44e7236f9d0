package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/moatproxy/moat/gateway"
)

func TestAuthentication(t *testing.T) {
	srv := httptest.NewServer(New(Options{Token: "s3cret-token", Stats: func() any { return map[string]int{"hits": 3} }}))
	defer srv.Close()
	tests := []struct {
		name, path, auth string
		want             int
	}{
		{"health_open", "/healthz", "", 200},
		{"ready_open", "/readyz", "", 200},
		{"stats_without_token", "/api/stats", "", 401},
		{"stats_wrong_token", "/api/stats", "Bearer nope", 401},
		{"stats_token_prefix", "/api/stats", "Bearer s3cret", 401},
		{"stats_basic_scheme", "/api/stats", "Basic s3cret-token", 401},
		{"stats_with_token", "/api/stats", "Bearer s3cret-token", 200},
		{"unknown_without_token", "/api/nothing", "", 401},
		{"unknown_with_token", "/api/nothing", "Bearer s3cret-token", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+tt.path, nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("GET %s = %d, want %d", tt.path, resp.StatusCode, tt.want)
			}
		})
	}
}

func TestReadyAndStats(t *testing.T) {
	ready := false
	h := New(Options{Token: "t", Ready: func() bool { return ready }, Stats: func() any { return map[string]int{"hits": 3} }})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 {
		t.Errorf("readyz before ready = %d, want 503", rec.Code)
	}
	ready = true
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 200 {
		t.Errorf("readyz = %d, want 200", rec.Code)
	}
	rec = httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/api/stats", nil)
	req.Header.Set("Authorization", "Bearer t")
	h.ServeHTTP(rec, req)
	if !strings.Contains(rec.Body.String(), `"hits": 3`) {
		t.Errorf("stats body %q", rec.Body.String())
	}
}

func TestPurgeEndpoint(t *testing.T) {
	var got gateway.Purge
	h := New(Options{Token: "t", Purge: func(_ context.Context, p gateway.Purge) (gateway.PurgeResult, error) {
		if p.Empty() {
			return gateway.PurgeResult{}, fmt.Errorf("%w: empty", gateway.ErrBadPurge)
		}
		got = p
		return gateway.PurgeResult{Affected: 7}, nil
	}})
	do := func(body, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/purge", strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := do(`{"tags":["product:42"],"soft":true}`, ""); rec.Code != 401 {
		t.Errorf("without token: %d, want 401", rec.Code)
	}
	rec := do(`{"tags":["product:42"],"soft":true}`, "t")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"affected": 7`) || got.Tags[0] != "product:42" || !got.Soft {
		t.Errorf("purge: %d %s, saw %+v", rec.Code, rec.Body.String(), got)
	}
	if rec := do(`{"tags":`, "t"); rec.Code != 400 {
		t.Errorf("broken JSON: %d, want 400", rec.Code)
	}
	if rec := do(`{}`, "t"); rec.Code != 400 {
		t.Errorf("empty purge: %d, want 400", rec.Code)
	}
}
