package upstream

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
)

// errExhausted: every usable member was already tried by this request.
var errExhausted = errors.New("upstream: every usable member tried")

// RoundTrip sends r to a member of the pool and returns its response.
//
// r.URL's scheme and host are a placeholder: RoundTrip sends a copy of r
// (r itself is not modified) whose URL has the member's scheme and host.
// Host rule: when r.Host is empty or equal to r.URL.Host (the placeholder,
// as http.NewRequest and httputil.ProxyRequest.SetURL leave it), the member's
// host is sent as the Host header; any other r.Host is kept, because the
// caller chose to preserve the client's Host. WARNING: pick a placeholder no
// client sends as its Host (a name under .invalid, or the pool's name if it is
// not a public host name), or preserved Hosts equal to it are replaced.
//
// The member counts the request as in flight until the response body is
// closed or read to its end (or RoundTrip fails), so the caller must close
// the body, as with any RoundTripper.
//
// When no member can take the request RoundTrip fails at once, without
// touching the network, with an error wrapping ErrNoHealthy (none usable) or
// ErrBusy (all usable ones at MaxConns). A request that failed to connect is
// retried on other members (see Options.Retries); its last error is returned
// when they all fail.
func (p *Pool) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL == nil {
		closeBody(r)
		return nil, fmt.Errorf("upstream: %snil Request.URL", p.label)
	}
	var key uint64
	if p.balance == Hash {
		key = hashKey(r.URL.EscapedPath(), r.URL.RawQuery)
	}
	replayable := r.Body == nil || r.Body == http.NoBody || r.GetBody != nil
	keepHost := r.Host != "" && r.Host != r.URL.Host

	var triedBuf [1 + defaultMaxRetries]*member
	tried := triedBuf[:0]
	var lastErr error
	for attempt := 0; ; attempt++ {
		m, trial, err := p.pick(key, tried)
		if err != nil {
			if lastErr != nil {
				return nil, lastErr // the body was closed by the transport
			}
			closeBody(r)
			if p.name != "" {
				err = fmt.Errorf("%w (pool %q)", err, p.name)
			}
			return nil, err
		}
		out, err := p.outgoing(r, m, keepHost, attempt > 0)
		if err != nil {
			p.release(m, trial)
			return nil, err
		}
		resp, err := p.transport.RoundTrip(out)
		if err == nil {
			p.answered(m, trial, resp.StatusCode)
			resp.Body = track(resp.Body, m)
			return resp, nil
		}
		err = fmt.Errorf("upstream: %smember %s: %w", p.label, m.host, err)
		if r.Context().Err() != nil {
			// The caller gave up: not the member's fault (WARNING: counting
			// it would let impatient clients eject healthy members).
			p.release(m, trial)
			return nil, err
		}
		p.failed(m, trial, err.Error())
		m.inFlight.Add(-1)
		if !isDialError(err) || !replayable || attempt >= p.retries {
			return nil, err
		}
		tried, lastErr = append(tried, m), err
	}
}

// outgoing is the copy of r sent to m. Only the URL is copied deeply: the
// header map is shared, as a RoundTripper must not modify it. On a retry the
// body comes from GetBody, as the transport closed the first one.
func (p *Pool) outgoing(r *http.Request, m *member, keepHost, retry bool) (*http.Request, error) {
	out := new(http.Request)
	*out = *r
	u := *r.URL
	u.Scheme, u.Host = m.url.Scheme, m.url.Host
	out.URL = &u
	if !keepHost {
		out.Host = m.host
	}
	if retry && r.GetBody != nil {
		body, err := r.GetBody()
		if err != nil {
			return nil, fmt.Errorf("upstream: %sreplaying the body: %w", p.label, err)
		}
		out.Body = body
	}
	return out, nil
}

// isDialError reports whether err is a failure to connect: the request was
// never sent, so it is safe to send it elsewhere.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func closeBody(r *http.Request) {
	if r.Body != nil {
		r.Body.Close()
	}
}

// answered records a response from m: a failure if its status is one of
// Passive.Statuses, else the end of m's trial if it was on one.
func (p *Pool) answered(m *member, trial bool, status int) {
	if p.failing.has(status) {
		p.failed(m, trial, "status "+strconv.Itoa(status))
		return
	}
	if !trial {
		return // the hot path: no lock
	}
	now := p.now()
	p.mu.Lock()
	m.trial, m.ejected, m.fails = false, false, 0
	m.lastChange = now
	p.mu.Unlock()
	p.log.Info("upstream member back after ejection", slog.String("pool", p.name), slog.String("member", m.host))
}

// release ends a request that says nothing of m's health.
func (p *Pool) release(m *member, trial bool) {
	if trial {
		p.mu.Lock()
		m.trial = false // the next request will be the trial
		p.mu.Unlock()
	}
	m.inFlight.Add(-1)
}

// failed records a passive failure of m and ejects it on the MaxFails-th
// failure of a window, or on a failed trial.
func (p *Pool) failed(m *member, trial bool, reason string) {
	m.failures.Add(1)
	now := p.now()
	p.mu.Lock()
	m.lastErr = reason
	eject := false
	switch {
	case trial:
		m.trial = false
		eject = true
	case p.maxFails < 0 || m.ejected || len(p.all) == 1:
		// Ejection disabled, a request sent before the ejection, or the
		// only member: ejecting it would turn the pool's slow or failing
		// moments into certain 503s (nginx never marks a lone server
		// unavailable either).
	default:
		if m.fails == 0 || now.Sub(m.windowStart) >= p.failFor {
			m.fails, m.windowStart = 0, now
		}
		m.fails++
		eject = m.fails >= p.maxFails
	}
	if eject {
		m.ejected, m.ejectedUntil, m.fails = true, now.Add(p.failFor), 0
		m.lastChange = now
		m.ejections.Add(1)
	}
	p.mu.Unlock()
	if eject {
		p.log.Warn("upstream member ejected", slog.String("pool", p.name), slog.String("member", m.host),
			slog.String("reason", reason), slog.Duration("for", p.failFor))
	}
}

// track wraps a response body so that m's in-flight count drops once, when
// the body is closed or read to its end.
func track(body io.ReadCloser, m *member) io.ReadCloser {
	if body == nil || body == http.NoBody {
		m.inFlight.Add(-1)
		return body
	}
	t := &trackedBody{ReadCloser: body, m: m}
	if w, ok := body.(io.Writer); ok {
		// A 101 Switching Protocols body is the connection, and
		// httputil.ReverseProxy needs it writable.
		return &trackedConn{trackedBody: t, w: w}
	}
	return t
}

type trackedBody struct {
	io.ReadCloser
	m    *member
	done atomic.Bool
}

func (b *trackedBody) Read(buf []byte) (int, error) {
	n, err := b.ReadCloser.Read(buf)
	if err != nil {
		b.finish()
	}
	return n, err
}

func (b *trackedBody) Close() error {
	err := b.ReadCloser.Close()
	b.finish()
	return err
}

func (b *trackedBody) finish() {
	if b.done.CompareAndSwap(false, true) {
		b.m.inFlight.Add(-1)
	}
}

type trackedConn struct {
	*trackedBody
	w io.Writer
}

func (c *trackedConn) Write(buf []byte) (int, error) { return c.w.Write(buf) }
