package gateway

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// codingTolerant retries, over a connection of its own, the GET and HEAD
// requests whose response net/http's client refuses for its
// Transfer-Encoding: "identity", a transfer coding before chunked ("gzip,
// chunked"), chunked not last, or the field repeated. RFC 9112 §6.1 and
// §6.3 say how to read each: codings are undone in reverse order, and a
// message whose last coding is not chunked ends when the connection
// closes. An origin that frames its answers in an old or unusual way is
// answered, not turned into a 502. Other requests are not retried: they
// may have changed something already.
type codingTolerant struct {
	rt          http.RoundTripper
	dialTimeout time.Duration
	headerWait  time.Duration
}

func (c codingTolerant) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(r)
	if err == nil || (r.Method != http.MethodGet && r.Method != http.MethodHead) || !refusedCoding(err) ||
		(r.Body != nil && r.Body != http.NoBody) {
		return resp, err
	}
	return c.roundTripRaw(r)
}

// refusedCoding reports whether err is net/http's refusal of a response's
// Transfer-Encoding.
func refusedCoding(err error) bool {
	s := err.Error()
	return strings.Contains(s, "unsupported transfer encoding") || strings.Contains(s, "too many transfer encodings")
}

// roundTripRaw sends r over a new HTTP/1.1 connection, closed with the
// response body.
func (c codingTolerant) roundTripRaw(r *http.Request) (*http.Response, error) {
	ctx := r.Context()
	host := r.URL.Host
	if _, _, err := net.SplitHostPort(host); err != nil {
		if r.URL.Scheme == "https" {
			host = net.JoinHostPort(host, "443")
		} else {
			host = net.JoinHostPort(host, "80")
		}
	}
	d := &net.Dialer{Timeout: c.dialTimeout}
	var conn net.Conn
	var err error
	if r.URL.Scheme == "https" {
		conn, err = (&tls.Dialer{NetDialer: d, Config: &tls.Config{ServerName: r.URL.Hostname(), NextProtos: []string{"http/1.1"}}}).DialContext(ctx, "tcp", host)
	} else {
		conn, err = d.DialContext(ctx, "tcp", host)
	}
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	fail := func(err error) (*http.Response, error) {
		stop()
		conn.Close()
		return nil, err
	}
	out := r.Clone(ctx)
	out.Close = true // one response per connection: its end may be the close
	out.Header.Del("Te")
	if c.headerWait > 0 {
		conn.SetReadDeadline(time.Now().Add(c.headerWait))
	}
	if err := out.Write(conn); err != nil {
		return fail(err)
	}
	// The status line and header are read through a budget (net/http's
	// client allows 10 MiB; an origin's header is far smaller), the body
	// past it without one.
	head := &headBudget{r: conn, left: 1 << 20}
	br := bufio.NewReader(head)
	tp := textproto.NewReader(br)
	line, err := tp.ReadLine()
	if err != nil {
		return fail(err)
	}
	proto, status, ok := strings.Cut(line, " ")
	code, cerr := strconv.Atoi(strings.TrimSpace(strings.SplitN(status, " ", 2)[0]))
	if !ok || !strings.HasPrefix(proto, "HTTP/1.") || cerr != nil || code < 200 || code > 999 {
		return fail(fmt.Errorf("gateway: malformed status line %q", line))
	}
	mh, err := tp.ReadMIMEHeader()
	if err != nil {
		return fail(err)
	}
	conn.SetReadDeadline(time.Time{})
	head.left = -1 // the body is read as long as it goes
	hdr := http.Header(mh)
	var codings []string
	for _, v := range hdr["Transfer-Encoding"] {
		for _, c := range strings.Split(v, ",") {
			if c = strings.ToLower(strings.TrimSpace(c)); c != "" && c != "identity" {
				codings = append(codings, c)
			}
		}
	}
	delete(hdr, "Transfer-Encoding")
	resp := &http.Response{
		Status: strings.TrimSpace(status), StatusCode: code, Proto: proto, ProtoMajor: 1, ProtoMinor: int(proto[len(proto)-1] - '0'),
		Header: hdr, Request: r, Close: true, ContentLength: -1,
	}
	var body io.Reader = br
	switch {
	case r.Method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified:
		body = http.NoBody
	case len(codings) == 0:
		// No transfer coding left ("identity"): Content-Length, else the
		// connection's end.
		if n, err := strconv.ParseInt(hdr.Get("Content-Length"), 10, 64); err == nil && n >= 0 {
			resp.ContentLength = n
			body = io.LimitReader(br, n)
		}
	default:
		// RFC 9112 §6.3: with a Transfer-Encoding, Content-Length is
		// ignored; the last coding chunked frames the body, else it ends
		// with the connection.
		delete(hdr, "Content-Length")
		if codings[len(codings)-1] == "chunked" {
			body = httputil.NewChunkedReader(br)
			codings = codings[:len(codings)-1]
		}
		for i := len(codings) - 1; i >= 0; i-- {
			switch codings[i] {
			case "chunked":
				body = httputil.NewChunkedReader(body)
			case "gzip", "x-gzip":
				zr, err := gzip.NewReader(body)
				if err != nil {
					return fail(fmt.Errorf("gateway: transfer coding gzip: %w", err))
				}
				body = zr
			case "deflate":
				body = flate.NewReader(zlibless(body))
			default:
				return fail(fmt.Errorf("gateway: unknown transfer coding %q", codings[i]))
			}
		}
	}
	resp.Body = &rawBody{Reader: body, conn: conn, stop: stop}
	return resp, nil
}

// zlibless returns r as it is: HTTP's "deflate" is the zlib format, which
// flate.NewReader does not read; the zlib header is skipped here.
func zlibless(r io.Reader) io.Reader {
	br := bufio.NewReader(r)
	if h, err := br.Peek(2); err == nil && (uint16(h[0])<<8|uint16(h[1]))%31 == 0 && h[0]&0x0f == 8 {
		br.Discard(2)
	}
	return br
}

// headBudget reads from r at most left bytes (negative: no bound).
type headBudget struct {
	r    io.Reader
	left int64
}

func (h *headBudget) Read(p []byte) (int, error) {
	if h.left == 0 {
		return 0, errors.New("gateway: origin response header too large")
	}
	if h.left > 0 && int64(len(p)) > h.left {
		p = p[:h.left]
	}
	n, err := h.r.Read(p)
	if h.left > 0 {
		h.left -= int64(n)
	}
	return n, err
}

// rawBody closes its connection when the body is closed.
type rawBody struct {
	io.Reader
	conn net.Conn
	stop func() bool
}

func (b *rawBody) Close() error {
	b.stop()
	return b.conn.Close()
}
