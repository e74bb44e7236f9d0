package fanout

import (
	"encoding/json"
	"testing"
	"time"
)

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "-1", "1e3", "99999999999999999999", "Fri, 01 May 2026 12:00:10 GMT",
		"Friday, 01-May-26 12:00:10 GMT", "Fri May  1 12:00:10 2026", " 7 "} {
		f.Add(s)
	}
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := parseRetryAfter(v, now)
		if d < 0 || d > MaxRetryAfter {
			t.Fatalf("parseRetryAfter(%q) = %v, outside [0, %v]", v, d, MaxRetryAfter)
		}
		if !ok && d != 0 {
			t.Fatalf("parseRetryAfter(%q) = %v, false: want 0 when invalid", v, d)
		}
	})
}

// FuzzBody checks that any purge encodes to JSON that reads back to the same selectors.
func FuzzBody(f *testing.F) {
	f.Add("product:42", "https://h/p?a=1&b=<2>", "/api/", "GET /api/{id}", true, false, "id-1")
	f.Add("", "", "", "", false, true, "")
	f.Add("\xff\x00\"", "\u2028", "\\", "{}", true, true, "\n")
	f.Fuzz(func(t *testing.T, tag, u, prefix, route string, all, soft bool, id string) {
		p := Purge{Tags: []string{tag}, URLs: []string{u}, Prefixes: []string{prefix}, Routes: []string{route}, All: all, Soft: soft, ID: id}
		b, err := p.body()
		if err != nil {
			t.Fatalf("body: %v", err)
		}
		var got wirePurge
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("body %q is not JSON: %v", b, err)
		}
		if got.All != all || got.Soft != soft || got.Origin != Origin || len(got.Tags) != 1 || len(got.Routes) != 1 {
			t.Fatalf("body %q read back as %+v", b, got)
		}
	})
}
