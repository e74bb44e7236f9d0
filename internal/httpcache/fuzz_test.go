package httpcache

import (
	"net/http"
	"net/textproto"
	"reflect"
	"strings"
	"testing"
	"time"
)

var cacheControlSeeds = []string{
	"",
	"public, max-age=300",
	"private, no-cache, no-store, max-age=0, must-revalidate",
	`max-age="60", s-maxage=30, stale-while-revalidate=10, stale-if-error=86400`,
	`no-cache="Set-Cookie, X-Foo", private="x-user"`,
	`no-cache="a\"b", private="`,
	"max-stale, min-fresh=5, only-if-cached, no-transform",
	"max-age=99999999999999999999999999, max-age=-1, max-age=",
	` , ,max-age = 1 ,public=, immutable, must-understand,proxy-revalidate `,
	`ext="quoted, comma", max-age=9`,
	"\x00\xff\"\\,=",
}

// toUpperASCII uppercases ASCII letters only: directive names are
// case-insensitive, and field names canonicalize, so parsing must not change.
func toUpperASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' {
			return r - ('a' - 'A')
		}
		return r
	}, s)
}

func checkDuration(t *testing.T, name string, d time.Duration, has bool) {
	t.Helper()
	if d < 0 || d > maxDelta {
		t.Errorf("%s = %v, want within [0, %v]", name, d, maxDelta)
	}
	if !has && d != 0 {
		t.Errorf("%s = %v without its Has flag", name, d)
	}
}

func FuzzParseResponseDirectives(f *testing.F) {
	for _, s := range cacheControlSeeds {
		f.Add(s, "max-age=1")
	}
	f.Fuzz(func(t *testing.T, line1, line2 string) {
		h := http.Header{"Cache-Control": {line1, line2}}
		d := ParseResponseDirectives(h)
		if again := ParseResponseDirectives(h); !reflect.DeepEqual(d, again) {
			t.Fatalf("not deterministic: %+v vs %+v", d, again)
		}
		checkDuration(t, "MaxAge", d.MaxAge, d.HasMaxAge)
		checkDuration(t, "SMaxAge", d.SMaxAge, d.HasSMaxAge)
		checkDuration(t, "StaleWhileRevalidate", d.StaleWhileRevalidate, d.HasStaleWhileRevalidate)
		checkDuration(t, "StaleIfError", d.StaleIfError, d.HasStaleIfError)
		for _, fields := range [][]string{d.NoCacheFields, d.PrivateFields} {
			for _, name := range fields {
				if name == "" || name != textproto.CanonicalMIMEHeaderKey(name) {
					t.Errorf("field name %q is empty or not canonical", name)
				}
			}
		}
		if d.NoCacheFields != nil && !d.NoCache || d.PrivateFields != nil && !d.Private {
			t.Errorf("qualified fields without their flag: %+v", d)
		}
		upper := ParseResponseDirectives(http.Header{"Cache-Control": {toUpperASCII(line1), toUpperASCII(line2)}})
		upper.NoCacheFields, upper.PrivateFields = nil, nil
		d.NoCacheFields, d.PrivateFields = nil, nil
		if !reflect.DeepEqual(d, upper) {
			t.Errorf("uppercasing changed the result:\n got %+v\nwant %+v", upper, d)
		}
		if lifetime, _ := FreshnessLifetime(h, d, t0); lifetime < 0 {
			t.Errorf("FreshnessLifetime() = %v, want >= 0", lifetime)
		}
	})
}

func FuzzParseRequestDirectives(f *testing.F) {
	for _, s := range cacheControlSeeds {
		f.Add(s, "no-cache")
	}
	f.Add("", `x-foo, No-Cache="bar"`)
	f.Fuzz(func(t *testing.T, cacheControl, pragma string) {
		h := http.Header{"Cache-Control": {cacheControl}, "Pragma": {pragma}}
		d := ParseRequestDirectives(h)
		if again := ParseRequestDirectives(h); d != again {
			t.Fatalf("not deterministic: %+v vs %+v", d, again)
		}
		checkDuration(t, "MaxAge", d.MaxAge, d.HasMaxAge)
		checkDuration(t, "MaxStale", d.MaxStale, d.HasMaxStale)
		checkDuration(t, "MinFresh", d.MinFresh, d.HasMinFresh)
		if d.MaxStaleAny && d.HasMaxStale {
			t.Errorf("MaxStaleAny and HasMaxStale both set: %+v", d)
		}
		if upper := ParseRequestDirectives(http.Header{"Cache-Control": {toUpperASCII(cacheControl)}}); upper != d {
			t.Errorf("uppercasing changed the result:\n got %+v\nwant %+v", upper, d)
		}
		// Pragma only matters without Cache-Control, and can only add no-cache.
		p := ParseRequestDirectives(http.Header{"Pragma": {pragma}})
		if p.NoCache != (ParseRequestDirectives(http.Header{"Cache-Control": {pragma}}).NoCache) {
			t.Errorf("Pragma %q and Cache-Control disagree on no-cache", pragma)
		}
		p.NoCache = false
		if p != (RequestDirectives{}) {
			t.Errorf("Pragma %q set more than no-cache: %+v", pragma, p)
		}
	})
}

func FuzzNotModified(f *testing.F) {
	lm := httpDate(t0)
	f.Add(`"a"`, "", `"a"`, "", "")
	f.Add(`W/"a", "b,c"`, "", `"b,c"`, "", "")
	f.Add("*", "", "", "", "")
	f.Add(`"x", junk, "a"`, lm, `"a"`, lm, "")
	f.Add("", lm, "", lm, "")
	f.Add("", lm, "", "", httpDate(t0.Add(-time.Hour)))
	f.Add("", "Sunday, 06-Nov-94 08:49:37 GMT", "", "Sun Nov  6 08:49:37 1994", "")
	f.Add(`"unterminated`, "0", `W/`, "garbage", "\x00")
	f.Fuzz(func(t *testing.T, inm, ims, etag, lastModified, date string) {
		h := http.Header{}
		if inm != "" {
			h.Set("If-None-Match", inm)
		}
		if ims != "" {
			h.Set("If-Modified-Since", ims)
		}
		got := NotModified(h, etag, lastModified, date)
		if again := NotModified(h, etag, lastModified, date); got != again {
			t.Fatalf("not deterministic: %v vs %v", got, again)
		}
		if got && !IsConditional(h) {
			t.Errorf("NotModified without a condition: %v", h)
		}
		// Weak comparison: a W/ prefix on the stored tag changes nothing.
		if !strings.HasPrefix(etag, "W/") {
			if weak := NotModified(h, "W/"+etag, lastModified, date); weak != got {
				t.Errorf("NotModified with W/%s = %v, with %s = %v", etag, weak, etag, got)
			}
		}
		// If-Modified-Since is ignored when If-None-Match is present.
		if present(h["If-None-Match"]) {
			h.Del("If-Modified-Since")
			if without := NotModified(h, etag, lastModified, date); without != got {
				t.Errorf("If-Modified-Since changed the result despite If-None-Match: %v vs %v", got, without)
			}
		}
	})
}
