package upstream_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	"github.com/moatproxy/moat/upstream"
)

func TestMaxConns(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	ms := members(a, b)
	ms[0].MaxConns, ms[1].MaxConns = 1, 1
	p := newPool(t, upstream.Options{Members: ms, Balance: upstream.First})

	first, bodyA := hold(t, p)
	second, _ := hold(t, p)
	if first != "a" || second != "b" {
		t.Fatalf("held requests went to %s, %s; want a, b (a at its cap is skipped)", first, second)
	}
	_, err := p.RoundTrip(request(t, http.MethodGet, "/", nil))
	if !errors.Is(err, upstream.ErrBusy) || errors.Is(err, upstream.ErrNoHealthy) {
		t.Fatalf("all at cap: got %v, want ErrBusy", err)
	}
	if got := p.Healthy(); got != 2 {
		t.Errorf("Healthy() = %d, want 2: busy is not unhealthy", got)
	}
	bodyA.Close()
	if m, _ := get(t, p, "/"); m != "a" {
		t.Errorf("after a's request ended: went to %s, want a", m)
	}
}

func TestMaxConnsSpillsToBackup(t *testing.T) {
	a, c := newBackend(t, "a"), newBackend(t, "c")
	ms := members(a, c)
	ms[0].MaxConns, ms[1].Backup = 1, true
	p := newPool(t, upstream.Options{Members: ms})
	if m, _ := hold(t, p); m != "a" {
		t.Fatalf("held request went to %s, want a", m)
	}
	if m, _ := get(t, p, "/"); m != "c" {
		t.Errorf("primary at its cap: went to %s, want the backup c", m)
	}
}

func TestHostHeader(t *testing.T) {
	a := newBackend(t, "a")
	p := newPool(t, upstream.Options{Members: members(a)})
	for _, tc := range []struct {
		name, host, want string
	}{
		{"empty_host_gets_member", "", a.url.Host},
		{"placeholder_host_gets_member", placeholder, a.url.Host},
		{"caller_host_kept", "shop.example", "shop.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := request(t, http.MethodGet, "/x?q=1", nil)
			r.Host = tc.host
			wantURL := r.URL.String()
			resp, err := p.RoundTrip(r)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("X-Host"); got != tc.want {
				t.Errorf("member saw Host %q, want %q", got, tc.want)
			}
			if r.URL.String() != wantURL || r.Host != tc.host {
				t.Errorf("caller's request modified: URL %s Host %q, want %s %q", r.URL, r.Host, wantURL, tc.host)
			}
		})
	}
}

func TestAsReverseProxyTransport(t *testing.T) {
	a := newBackend(t, "a")
	p := newPool(t, upstream.Options{Members: members(a)})
	target := &url.URL{Scheme: "http", Host: placeholder}
	for _, tc := range []struct {
		name         string
		preserveHost bool
	}{{"set_url", false}, {"preserve_client_host", true}} {
		t.Run(tc.name, func(t *testing.T) {
			proxy := &httputil.ReverseProxy{
				Rewrite: func(pr *httputil.ProxyRequest) {
					pr.SetURL(target)
					if tc.preserveHost {
						pr.Out.Host = pr.In.Host
					}
				},
				Transport: p,
			}
			front := httptest.NewServer(proxy)
			defer front.Close()
			resp, err := http.Get(front.URL + "/page")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			want := a.url.Host
			if tc.preserveHost {
				want = front.Listener.Addr().String()
			}
			if got := resp.Header.Get("X-Host"); resp.StatusCode != http.StatusOK || got != want {
				t.Errorf("got %d with Host %q at the member, want 200 with %q", resp.StatusCode, got, want)
			}
		})
	}
}

func TestInFlightReturnsToZero(t *testing.T) {
	a := newBackend(t, "a")
	p := newPool(t, upstream.Options{Members: members(a)})
	inFlight := func() int64 { return p.Stats()[0].InFlight }
	send := func(t *testing.T, method string) *http.Response {
		t.Helper()
		resp, err := p.RoundTrip(request(t, method, "/", nil))
		if err != nil {
			t.Fatal(err)
		}
		if got := inFlight(); got != 1 && resp.Body != http.NoBody {
			t.Fatalf("in flight with the body open: %d, want 1", got)
		}
		return resp
	}

	t.Run("close_after_read", func(t *testing.T) {
		resp := send(t, http.MethodGet)
		io.ReadAll(resp.Body)
		resp.Body.Close()
	})
	t.Run("read_to_eof_without_close", func(t *testing.T) {
		resp := send(t, http.MethodGet)
		io.ReadAll(resp.Body)
		if got := inFlight(); got != 0 {
			t.Errorf("in flight after EOF: %d, want 0", got)
		}
		resp.Body.Close()
	})
	t.Run("early_close", func(t *testing.T) {
		resp := send(t, http.MethodGet)
		resp.Body.Read(make([]byte, 10))
		resp.Body.Close()
		resp.Body.Close()
	})
	t.Run("no_body", func(t *testing.T) {
		resp := send(t, http.MethodHead)
		resp.Body.Close()
	})
	t.Run("transport_error", func(t *testing.T) {
		q := newPool(t, upstream.Options{
			Members: []upstream.Member{{URL: refusedURL(t)}},
		})
		if _, err := q.RoundTrip(request(t, http.MethodGet, "/", nil)); err == nil {
			t.Fatal("RoundTrip to a closed port: no error")
		}
		if got := q.Stats()[0].InFlight; got != 0 {
			t.Errorf("in flight after a transport error: %d, want 0", got)
		}
	})
	if got := inFlight(); got != 0 {
		t.Errorf("in flight at the end: %d, want 0", got)
	}
}

// An upgraded connection (101 Switching Protocols) passes through
// httputil.ReverseProxy, which needs the response body writable, and stays
// in flight until it is closed.
func TestUpgradeThroughReverseProxy(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		rw.Flush()
		io.Copy(conn, rw) // echo until the client closes
	}))
	defer echo.Close()
	u, _ := url.Parse(echo.URL)
	p := newPool(t, upstream.Options{Members: []upstream.Member{{URL: u}}})
	front := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(&url.URL{Scheme: "http", Host: placeholder}) },
		Transport: p,
	})
	defer front.Close()

	conn, err := net.Dial("tcp", front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("got %v, %v; want 101", resp, err)
	}
	io.WriteString(conn, "ping\n")
	if line, err := br.ReadString('\n'); line != "ping\n" {
		t.Fatalf("echo: got %q, %v; want ping", line, err)
	}
	if got := p.Stats()[0].InFlight; got != 1 {
		t.Errorf("in flight during the upgraded connection: %d, want 1", got)
	}
	conn.Close()
	eventually(t, 5*time.Second, "upgraded connection released", func() bool { return p.Stats()[0].InFlight == 0 })
}
