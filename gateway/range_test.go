package gateway

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rangeOrigin serves a 100-byte body with validators, answering ranges
// itself (http.ServeContent), and records the Range headers it got.
func rangeOrigin(t *testing.T, ranges *[]string) *origin {
	body := []byte(strings.Repeat("0123456789", 10))
	modified := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		*ranges = append(*ranges, r.Header.Get("Range"))
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Type", "text/plain")
		http.ServeContent(w, r, "", modified, bytes.NewReader(body))
	})
}

func get(t *testing.T, s *setup, method, path string, hdr ...string) result {
	t.Helper()
	return s.do(t, method, path, hdr...)
}

func TestRangeFromStoredResponse(t *testing.T) {
	var ranges []string
	o := rangeOrigin(t, &ranges)
	s := newGateway(t, o, nil, nil)
	if r := get(t, s, "GET", "/f"); r.status != 200 || len(r.body) != 100 {
		t.Fatalf("fill: %d %d", r.status, len(r.body))
	}
	lastModified := "Fri, 02 Jan 2026 03:04:05 GMT"
	tests := []struct {
		name, method string
		hdr          []string
		status       int
		body         string
		contentRange string
	}{
		{"single", "GET", []string{"Range", "bytes=10-14"}, 206, "01234", "bytes 10-14/100"},
		{"open_ended", "GET", []string{"Range", "bytes=95-"}, 206, "56789", "bytes 95-99/100"},
		{"suffix", "GET", []string{"Range", "bytes=-3"}, 206, "789", "bytes 97-99/100"},
		{"past_the_end_is_clipped", "GET", []string{"Range", "bytes=98-1000"}, 206, "89", "bytes 98-99/100"},
		{"unsatisfiable", "GET", []string{"Range", "bytes=100-"}, 416, "invalid range: failed to overlap\n", "bytes */100"},
		{"unit_in_capitals", "GET", []string{"Range", "BYTES=0-1"}, 206, "01", "bytes 0-1/100"},
		{"not_bytes", "GET", []string{"Range", "pages=1-2"}, 200, strings.Repeat("0123456789", 10), ""},
		{"if_range_etag", "GET", []string{"Range", "bytes=0-1", "If-Range", `"v1"`}, 206, "01", "bytes 0-1/100"},
		{"if_range_other_etag", "GET", []string{"Range", "bytes=0-1", "If-Range", `"v0"`}, 200, strings.Repeat("0123456789", 10), ""},
		{"if_range_weak_etag", "GET", []string{"Range", "bytes=0-1", "If-Range", `W/"v1"`}, 200, strings.Repeat("0123456789", 10), ""},
		{"if_range_date", "GET", []string{"Range", "bytes=0-1", "If-Range", lastModified}, 206, "01", "bytes 0-1/100"},
		{"head", "HEAD", []string{"Range", "bytes=0-9"}, 206, "", "bytes 0-9/100"},
		{"too_many_ranges", "GET", []string{"Range", "bytes=" + strings.Repeat("0-0,", 16) + "0-0"}, 200, strings.Repeat("0123456789", 10), ""},
		{"not_modified_first", "GET", []string{"Range", "bytes=0-9", "If-None-Match", `"v1"`}, 304, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, s, tt.method, "/f", tt.hdr...)
			if r.status != tt.status || r.body != tt.body || r.header.Get("Content-Range") != tt.contentRange {
				t.Errorf("%d %q Content-Range %q; want %d %q %q", r.status, r.body, r.header.Get("Content-Range"), tt.status, tt.body, tt.contentRange)
			}
			if r.xcache() != "HIT" {
				t.Errorf("X-Cache %s, want HIT", r.xcache())
			}
		})
	}
	t.Run("multiple", func(t *testing.T) {
		r := get(t, s, "GET", "/f", "Range", "bytes=0-1,50-52")
		mt, params, err := mime.ParseMediaType(r.header.Get("Content-Type"))
		if r.status != 206 || err != nil || mt != "multipart/byteranges" {
			t.Fatalf("%d %q %v", r.status, r.header.Get("Content-Type"), err)
		}
		mr := multipart.NewReader(strings.NewReader(r.body), params["boundary"])
		var got []string
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(p)
			got = append(got, p.Header.Get("Content-Range")+"="+string(b)+";"+p.Header.Get("Content-Type"))
		}
		if want := []string{"bytes 0-1/100=01;text/plain", "bytes 50-52/100=012;text/plain"}; strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("parts %q, want %q", got, want)
		}
	})
	if len(ranges) != 1 || ranges[0] != "" {
		t.Errorf("origin saw %q: want one request, without Range", ranges)
	}
}

// A compressed stored body is ranged as identity.
func TestRangeOfCompressedEntry(t *testing.T) {
	body := strings.Repeat("moat ranges ", 200)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, body)
	})
	s := newGateway(t, o, nil, func(o *Options) { o.Compress = true })
	get(t, s, "GET", "/c", "Accept-Encoding", "gzip")
	r := get(t, s, "GET", "/c", "Range", "bytes=5-10", "Accept-Encoding", "gzip, br")
	if r.status != 206 || r.body != body[5:11] || r.header.Get("Content-Encoding") != "" {
		t.Errorf("%d %q Content-Encoding %q, want 206 %q identity", r.status, r.body, r.header.Get("Content-Encoding"), body[5:11])
	}
}

// A range request that misses gets the origin's 206, and the whole
// response is fetched in the background: the next range is a hit.
func TestRangeMissFetchesWhole(t *testing.T) {
	var ranges []string
	o := rangeOrigin(t, &ranges)
	s := newGateway(t, o, nil, func(o *Options) { o.Now = time.Now })
	r := get(t, s, "GET", "/m", "Range", "bytes=0-4")
	if r.status != 206 || r.body != "01234" || r.xcache() == "HIT" {
		t.Fatalf("miss: %d %q %s", r.status, r.body, r.xcache())
	}
	waitFor(t, "the whole response stored", func() bool { return s.gw.Stats().Stored.Load() == 1 })
	r = get(t, s, "GET", "/m", "Range", "bytes=5-9")
	if r.status != 206 || r.body != "56789" || r.xcache() != "HIT" {
		t.Errorf("after the background fill: %d %q %s, want a 206 HIT", r.status, r.body, r.xcache())
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(ranges) != 2 || ranges[0] != "bytes=0-4" || ranges[1] != "" {
		t.Errorf("origin saw Range %q, want the client's range then one whole GET", ranges)
	}
	if n := s.gw.Stats().Refreshes[causeRange].Load(); n != 1 {
		t.Errorf("range refreshes = %d, want 1", n)
	}
}

// A response larger than the cache takes is not fetched whole for a range.
func TestRangeMissTooLarge(t *testing.T) {
	var ranges []string
	o := rangeOrigin(t, &ranges)
	s := newGateway(t, o, nil, func(o *Options) { o.MaxObjectSize = 50 })
	if r := get(t, s, "GET", "/big", "Range", "bytes=0-4"); r.status != 206 {
		t.Fatalf("%d", r.status)
	}
	if r := get(t, s, "GET", "/big", "Range", "bytes=0-4"); r.status != 206 || r.xcache() == "HIT" {
		t.Fatalf("%d %s", r.status, r.xcache())
	}
	if n := s.gw.Stats().Refreshes[causeRange].Load(); n != 0 {
		t.Errorf("a 100-byte response was fetched whole for a 50-byte cache: %d refreshes", n)
	}
}

func TestPassRanges(t *testing.T) {
	var ranges []string
	o := rangeOrigin(t, &ranges)
	s := newGateway(t, o, nil, func(o *Options) { o.PassRanges = true })
	get(t, s, "GET", "/p")
	r := get(t, s, "GET", "/p", "Range", "bytes=0-4")
	if r.status != 206 || r.body != "01234" || r.xcache() != "BYPASS" {
		t.Errorf("PassRanges: %d %q %s, want the origin's 206", r.status, r.body, r.xcache())
	}
	if len(ranges) != 2 || ranges[1] != "bytes=0-4" {
		t.Errorf("origin saw %q", ranges)
	}
}
