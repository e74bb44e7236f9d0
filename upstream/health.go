package upstream

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// probeLoop probes m now and then every Interval until ctx is done.
func (p *Pool) probeLoop(ctx context.Context, m *member) {
	target := *m.url
	target.Path = p.health.Path
	addr := target.String()
	tick := time.NewTicker(p.health.Interval)
	defer tick.Stop()
	for {
		reason := p.probe(ctx, addr)
		if ctx.Err() != nil {
			return // Close interrupted the probe: no verdict
		}
		p.probed(m, reason)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// probe sends one health check and returns why it failed, "" on success.
func (p *Pool) probe(ctx context.Context, addr string) string {
	ctx, cancel := context.WithTimeout(ctx, p.health.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, addr, nil)
	if err != nil {
		return err.Error()
	}
	if p.health.Host != "" {
		req.Host = p.health.Host
	}
	req.Header.Set("User-Agent", "moat-upstream-health-check")
	resp, err := p.transport.RoundTrip(req)
	if err != nil {
		return "health check: " + err.Error()
	}
	// Drain a little so the connection can be reused; do not read a huge body.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if !p.healthy.has(resp.StatusCode) {
		return "health check: status " + strconv.Itoa(resp.StatusCode)
	}
	return ""
}

// probed applies one probe result: Fall consecutive failures mark m down,
// Rise consecutive successes mark it up.
func (p *Pool) probed(m *member, reason string) {
	now := p.now()
	p.mu.Lock()
	changed := false
	if reason == "" {
		m.rise, m.fall = m.rise+1, 0
		if m.down && m.rise >= p.health.Rise {
			m.down, changed = false, true
		}
	} else {
		m.rise, m.fall = 0, m.fall+1
		m.lastErr = reason
		if !m.down && m.fall >= p.health.Fall {
			m.down, changed = true, true
		}
	}
	if changed {
		m.lastChange = now
	}
	down := m.down
	p.mu.Unlock()
	switch {
	case !changed:
	case down:
		p.log.Warn("upstream member down", slog.String("pool", p.name), slog.String("member", m.host), slog.String("reason", reason))
	default:
		p.log.Info("upstream member up", slog.String("pool", p.name), slog.String("member", m.host))
	}
}
