package security

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Class: request smuggling and message framing, over raw TCP. When moat and
// whatever stands in front of it disagree on where a request ends, the
// remainder is read as a second request that nobody in front saw (and its
// answer is handed to the next client on the connection). The rules: a
// request whose framing is ambiguous is refused with 400 (or the connection
// is closed after it); bytes after a chunked body are never read as a
// second request (moat closes the connection after answering one); bad
// input gets a 4xx, never a 502 and never an origin error.

const smuggled = "GET /smuggled HTTP/1.1\r\nHost: example.test\r\n\r\n"

// settle is how long converse waits for a further response (or the close)
// once a response has arrived. A conforming moat closes at once.
const settle = 1500 * time.Millisecond

func TestFramingSmuggling(t *testing.T) {
	e := start(t, echo("public, max-age=60"), "")
	h := "Host: example.test\r\n"
	cases := []struct {
		name    string
		payload string
	}{
		{"cl_te", "POST /a HTTP/1.1\r\n" + h + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"te_cl", "POST /a HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n" + smuggled},
		{"te_cl_long_chunk", "POST /a HTTP/1.1\r\n" + h + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + smuggled},
		{"chunked_then_pipelined", "POST /a HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + smuggled},
		{"chunked_get_then_pipelined", "GET /a HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + smuggled},
		{"chunked_with_trailer", "POST /a HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n" + smuggled},
		{"te_xchunked", "POST /a HTTP/1.1\r\n" + h + "Content-Length: 5\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"te_space_before_colon", "POST /a HTTP/1.1\r\n" + h + "Content-Length: 5\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"te_tab", "POST /a HTTP/1.1\r\n" + h + "Content-Length: 5\r\nTransfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"te_twice", "POST /a HTTP/1.1\r\n" + h + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n" + smuggled},
		{"te_chunked_identity", "POST /a HTTP/1.1\r\n" + h + "Content-Length: 5\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + smuggled},
		{"te_identity_chunked", "POST /a HTTP/1.1\r\n" + h + "Content-Length: 5\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"te_gzip_chunked", "POST /a HTTP/1.1\r\n" + h + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"te_upper_case", "POST /a HTTP/1.1\r\n" + h + "Content-Length: 5\r\nTransfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n" + smuggled},
		{"te_nul", "POST /a HTTP/1.1\r\n" + h + "Content-Length: 5\r\nTransfer-Encoding: chunked\x00\r\n\r\n0\r\n\r\n" + smuggled},
		{"te_obs_fold_value", "POST /a HTTP/1.1\r\n" + h + "Content-Length: 5\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"te_in_http10", "POST /a HTTP/1.0\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"bare_cr_in_field", "GET /a HTTP/1.1\r\n" + h + "X-A: 1\rX-B: 2\r\n\r\n" + smuggled},
		{"cl_space_before_colon", "POST /a HTTP/1.1\r\n" + h + "Content-Length : 0\r\n\r\n" + smuggled},
		{"cl_duplicate_differing", "POST /a HTTP/1.1\r\n" + h + "Content-Length: 0\r\nContent-Length: 47\r\n\r\n" + smuggled},
		{"cl_list_differing", "POST /a HTTP/1.1\r\n" + h + "Content-Length: 0, 47\r\n\r\n" + smuggled},
		{"cl_plus_sign", "POST /a HTTP/1.1\r\n" + h + "Content-Length: +0\r\n\r\n" + smuggled},
		{"cl_hex", "POST /a HTTP/1.1\r\n" + h + "Content-Length: 0x0\r\n\r\n" + smuggled},
		{"cl_negative", "POST /a HTTP/1.1\r\n" + h + "Content-Length: -1\r\n\r\n" + smuggled},
		{"cl_two_numbers", "POST /a HTTP/1.1\r\n" + h + "Content-Length: 0 47\r\n\r\n" + smuggled},
		{"cl_overflow", "POST /a HTTP/1.1\r\n" + h + "Content-Length: 99999999999999999999\r\n\r\n" + smuggled},
		{"request_line_extra_token", "GET /a HTTP/1.1 x\r\n" + h + "\r\n" + smuggled},
		{"request_line_double_space", "GET  /a HTTP/1.1\r\n" + h + "\r\n" + smuggled},
		{"request_line_http09", "GET /a\r\n" + smuggled},
		{"host_missing_http11", "GET /a HTTP/1.1\r\n\r\n" + smuggled},
		{"host_twice", "GET /a HTTP/1.1\r\n" + h + "Host: evil.example\r\n\r\n" + smuggled},
		{"host_with_space", "GET /a HTTP/1.1\r\nHost: example.test evil\r\n\r\n" + smuggled},
		{"host_with_userinfo", "GET /a HTTP/1.1\r\nHost: user@example.test\r\n\r\n" + smuggled},
		{"field_name_with_space", "GET /a HTTP/1.1\r\n" + h + "X A: 1\r\n\r\n" + smuggled},
		{"field_without_colon", "GET /a HTTP/1.1\r\n" + h + "XA\r\n\r\n" + smuggled},
		{"nul_in_field_name", "GET /a HTTP/1.1\r\n" + h + "X\x00A: 1\r\n\r\n" + smuggled},
	}
	// These are invalid outright (RFC 9112 §2.2, §5, §6.3, RFC 9110
	// §8.6): the answer is exactly 400.
	refused := map[string]bool{
		"te_space_before_colon": true, "te_nul": true, "bare_cr_in_field": true,
		"cl_space_before_colon": true, "cl_duplicate_differing": true, "cl_list_differing": true,
		"cl_plus_sign": true, "cl_hex": true, "cl_negative": true, "cl_two_numbers": true, "cl_overflow": true,
		"request_line_extra_token": true, "request_line_double_space": true, "request_line_http09": true,
		"host_missing_http11": true, "host_twice": true, "host_with_space": true, "host_with_userinfo": true,
		"field_name_with_space": true, "field_without_colon": true, "nul_in_field_name": true,
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// rule: whatever the framing, the bytes after the first
			// request never become a second request: at most one answer,
			// and the smuggled request never reaches the origin; an ambiguous message
			// is refused with a 4xx (or moat closes after answering it).
			mark := "/smuggled-" + c.name
			conv := converse(e.proxy, strings.ReplaceAll(c.payload, "/smuggled", mark), settle)
			if conv.err != nil && len(conv.responses) == 0 {
				t.Fatalf("no response: %v", conv.err)
			}
			if len(conv.responses) > 1 {
				t.Errorf("%d responses on one connection: the trailing bytes were read as a request: %v", len(conv.responses), conv.responses[1])
			}
			if e.origin.sawURI(mark) {
				t.Errorf("the origin received the smuggled request")
			}
			if len(conv.responses) == 1 {
				r := conv.responses[0]
				if refused[c.name] && r.status != http.StatusBadRequest {
					t.Errorf("answer %d, want 400", r.status)
				}
				if r.status >= 500 && r.status != http.StatusNotImplemented && r.status != http.StatusHTTPVersionNotSupported {
					t.Errorf("answer %d: bad input must get a 4xx, not a 5xx", r.status)
				}
				if r.status < 400 && !conv.closed {
					t.Errorf("answered %d and kept the connection open: trailing bytes could still be read as a request", r.status)
				}
			}
		})
	}
}

func TestFramingPipelinedAnswersStayApart(t *testing.T) {
	// rule: on one keep-alive connection, each pipelined request gets its own
	// answer, in order: nobody reads another's answer.
	e := start(t, echo("public, max-age=60"), "")
	e.get("/p2") // the second is a hit, the first a miss: they finish in a different order
	payload := "GET /p1 HTTP/1.1\r\nHost: example.test\r\n\r\n" +
		"GET /p2 HTTP/1.1\r\nHost: example.test\r\n\r\n" +
		"GET /p3 HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n"
	conv := converse(e.proxy, payload, settle)
	if len(conv.responses) != 3 {
		t.Fatalf("%d responses (%v), want 3", len(conv.responses), conv.err)
	}
	for i, r := range conv.responses {
		if want := fmt.Sprintf("GET /p%d ", i+1); !strings.HasPrefix(r.body, want) {
			t.Errorf("response %d: %v, want the answer to /p%d", i+1, r, i+1)
		}
	}
}

func TestFramingMalformedBodies(t *testing.T) {
	e := start(t, echo("no-store"), "")
	h := "POST /upload HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\n\r\n"
	cases := []struct {
		name, payload string
		halfClose     bool
	}{
		{"chunk_size_not_hex", h + "zz\r\nabc\r\n0\r\n\r\n", false},
		{"chunk_longer_than_size", h + "3\r\nabcdef\r\n0\r\n\r\n", false},
		{"chunk_size_overflow", h + "fffffffffffffffffff\r\nabc\r\n0\r\n\r\n", false},
		{"chunk_size_negative", h + "-3\r\nabc\r\n0\r\n\r\n", false},
		{"chunk_extension_flood", h + "3;" + strings.Repeat("a=b;", 20000) + "\r\nabc\r\n0\r\n\r\n", false},
		{"chunk_missing_crlf", h + "3\r\nabc0\r\n\r\n", false},
		{"chunked_truncated", h + "10\r\nabc", true},
		{"content_length_truncated", "POST /upload HTTP/1.1\r\nHost: example.test\r\nContent-Length: 100\r\n\r\nabc", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// rule: a client's malformed or truncated body is the client's
			// error: 400, never 502, never counted as an origin error.
			errsBefore := e.srv.Gateway().Stats().OriginErrors.Load()
			r := sendHalf(e.proxy, c.payload, c.halfClose)
			if r.err != nil {
				t.Fatalf("no response: %v", r.err)
			}
			if r.status != http.StatusBadRequest {
				t.Errorf("status %d (%v), want 400", r.status, r)
			}
			if got := e.srv.Gateway().Stats().OriginErrors.Load(); got != errsBefore {
				t.Errorf("origin errors %d → %d: a client's bad body was counted as the origin's", errsBefore, got)
			}
		})
	}
}

// sendHalf writes payload, optionally half-closes the connection (the
// client has nothing more to send), and reads one response.
func sendHalf(addr, payload string, halfClose bool) res {
	conn, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		return res{err: err}
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := conn.Write([]byte(payload)); err != nil {
		return res{err: err}
	}
	if halfClose {
		conn.(*net.TCPConn).CloseWrite()
	}
	return readOne(conn, "POST")
}

func TestFramingHeaderLimits(t *testing.T) {
	e := start(t, echo("public, max-age=60"), "")
	t.Run("huge_header_431", func(t *testing.T) {
		// rule: a header section over the limit is refused with 431 and
		// never reaches the origin.
		before := e.origin.count()
		r := e.get("/big", "X-Big: "+strings.Repeat("a", 2<<20))
		if r.status != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("2 MiB field: %v, want 431", r)
		}
		if e.origin.count() != before {
			t.Errorf("the origin received the oversized request")
		}
	})
	t.Run("default_limit_64KiB", func(t *testing.T) {
		// rule: security.max_header_bytes (default 64 KiB) bounds what
		// one request's head makes moat hold.
		if r := e.get("/big", "X-Big: "+strings.Repeat("a", 70<<10)); r.status != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("70 KiB field: %v, want 431", r)
		}
		if r := e.get("/big", "X-Big: "+strings.Repeat("a", 32<<10)); r.status != http.StatusOK {
			t.Errorf("32 KiB field: %v, want it served", r)
		}
	})
	t.Run("many_fields_431", func(t *testing.T) {
		// rule: the limit counts the whole header section, not one field.
		var hs []string
		for i := range 20000 {
			hs = append(hs, fmt.Sprintf("X-F%05d: %s", i, strings.Repeat("v", 60)))
		}
		if r := e.get("/many", hs...); r.status != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("20,000 fields: %v, want 431", r)
		}
	})
	t.Run("response_splitting_in_target", func(t *testing.T) {
		// rule: CR and LF in a request never become response fields.
		r := e.get("/split%0d%0aSet-Cookie:%20evil=1%0d%0a")
		if r.err != nil {
			t.Fatal(r.err)
		}
		for k, v := range r.header {
			if strings.Contains(strings.ToLower(k+strings.Join(v, "")), "evil") {
				t.Errorf("response field %s: %v: the target was split into the response", k, v)
			}
		}
	})
	t.Run("response_splitting_in_field", func(t *testing.T) {
		// rule: a field value with a bare CR is refused, never forwarded
		// or reflected.
		before := e.origin.count()
		r := e.get("/split2", "X-Note: a\rSet-Cookie: evil=1")
		if r.err == nil && r.status != http.StatusBadRequest {
			t.Errorf("bare CR in a field: %v, want 400", r)
		}
		if e.origin.count() != before {
			t.Errorf("the origin received a field with a bare CR")
		}
	})
}

func TestFramingLenientButConsistent(t *testing.T) {
	// RFC 9112 lets a server accept these (obs-fold replaced by a space,
	// §5.2; a bare LF as a line end, §2.2; a higher HTTP/1 minor version
	// as 1.1, RFC 9110 §2.5), and net/http does; nginx and Varnish refuse
	// them. What matters for smuggling is that moat reads each one way
	// only: the request ends where its own Content-Length says, the folded
	// text is part of the field it continues (never a Transfer-Encoding of
	// its own), and the bytes after it are the next pipelined request,
	// answered on its own. A proxy in front that reads them differently
	// must refuse them itself (docs/security.md).
	e := start(t, echo("public, max-age=60"), "")
	h := "Host: example.test\r\n"
	cases := []struct {
		name, payload string
		check         func(t *testing.T, first exchange)
	}{
		{"te_behind_obs_fold", "POST /a-fold-te HTTP/1.1\r\n" + h + "Content-Length: 5\r\nX-Pad: y\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
			func(t *testing.T, first exchange) {
				if string(first.Body) != "0\r\n\r\n" {
					t.Errorf("origin got body %q: the request was not framed by its Content-Length", first.Body)
				}
				if first.Header.Get("Transfer-Encoding") != "" {
					t.Errorf("folded text became a Transfer-Encoding")
				}
			}},
		{"obs_fold_any_field", "GET /a-fold HTTP/1.1\r\n" + h + "X-Folded: a\r\n b\r\n\r\n" + smuggled,
			func(t *testing.T, first exchange) {
				if got := first.Header.Values("X-Folded"); len(got) != 1 || got[0] != "a b" {
					t.Errorf("origin got X-Folded %q, want the one unfolded field \"a b\"", got)
				}
			}},
		{"bare_lf_everywhere", "GET /a-lf HTTP/1.1\n" + "Host: example.test\n\n" + "GET /smuggled HTTP/1.1\nHost: example.test\n\n", nil},
		{"bare_lf_in_one_field", "GET /a-lf1 HTTP/1.1\r\n" + h + "X-A: 1\nX-B: 2\r\n\r\n" + smuggled,
			func(t *testing.T, first exchange) {
				if first.Header.Get("X-A") != "1" || first.Header.Get("X-B") != "2" {
					t.Errorf("origin got X-A %q X-B %q, want two fields", first.Header.Get("X-A"), first.Header.Get("X-B"))
				}
			}},
		{"bare_lf_after_cl", "POST /a-lf2 HTTP/1.1\r\n" + h + "Content-Length: 0\n\r\n" + smuggled, nil},
		{"unknown_version", "GET /a-v19 HTTP/1.9\r\n" + h + "\r\n" + smuggled, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mark := "/smuggled-" + c.name
			first := strings.SplitN(strings.SplitN(c.payload, " ", 3)[1], "?", 2)[0]
			conv := converse(e.proxy, strings.ReplaceAll(c.payload, "/smuggled", mark), settle)
			if len(conv.responses) != 2 {
				t.Fatalf("%d responses (%v), want 2: one per request, in order", len(conv.responses), conv.err)
			}
			for i, want := range []string{first, mark} {
				if r := conv.responses[i]; r.status != http.StatusOK || !strings.Contains(r.body, want+" ") {
					t.Errorf("answer %d is %v, want the answer to %s", i+1, r, want)
				}
			}
			var got []exchange
			for _, ex := range e.origin.requests() {
				if ex.RequestURI == first {
					got = append(got, ex)
				}
			}
			if len(got) != 1 {
				t.Fatalf("origin received %d requests for %s, want 1", len(got), first)
			}
			if c.check != nil {
				c.check(t, got[0])
			}
		})
	}
}
