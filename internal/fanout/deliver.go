package fanout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Retry timing.
const (
	BackoffBase = 200 * time.Millisecond // the default backoff's ceiling for the first retry
	BackoffCap  = 30 * time.Second       // the default backoff's largest ceiling

	// MaxRetryAfter bounds a target's Retry-After, so that a bogus or hostile value cannot
	// park a worker (and every purge queued behind it) for days.
	MaxRetryAfter = 2 * time.Minute
)

// userAgent identifies moat to a target; a configured User-Agent header replaces it.
const userAgent = "moat-purge-fanout"

// maxErrorBody is how much of a failed response's body is read, for the log.
const maxErrorBody = 256

// outcome is the result of one attempt.
type outcome struct {
	ok         bool
	retry      bool          // worth another attempt
	retryAfter time.Duration // the target's Retry-After, if it sent one
	hasAfter   bool
	status     int    // 0 if there was no response
	err        error  // a network error, without the URL
	detail     string // the start of a failed response's body
}

// deliver sends j to w's target: the adapter's requests, in order, each with retries as
// Options.MaxRetries says, and counts the results. A request that fails for good does not stop
// the next ones: each batch purges something of its own.
func (f *Fanout) deliver(w *worker, j job) {
	reqs, unsupported, err := w.adapter.requests(j.p)
	if err != nil { // not expected: bodies hold only strings and booleans
		w.failed.Add(1)
		f.log.Error("purge not delivered: cannot encode it", "target", w.name, "id", j.id, "err", err)
		return
	}
	for _, kind := range unsupported {
		w.unsupported.Add(1)
		if !w.warned[kind] { // only this worker's goroutine reads or writes warned
			w.warned[kind] = true
			f.log.Warn("purge target cannot express this kind of purge: skipped (counted in stats; logged once)",
				"target", w.name, "type", w.typ, "kind", kind, "id", j.id)
		}
	}
	for i := range reqs {
		if !f.send(w, j, &reqs[i]) {
			f.abandon(w, j)
			return
		}
	}
}

// send makes r's attempts and counts the result. It returns false if Close gave up on the
// delivery (f.ctx ended), true when r was sent or failed for good.
func (f *Fanout) send(w *worker, j job, r *request) bool {
	for attempt := 1; ; attempt++ {
		o := f.attempt(w, j, r)
		switch {
		case o.ok:
			w.sent.Add(1)
			f.log.Debug("purge delivered", "target", w.name, "id", j.id, "kind", r.kind, "items", r.items, "attempts", attempt)
			return true
		case f.ctx.Err() != nil:
			return false
		case !o.retry || attempt > f.maxRetries:
			w.failed.Add(1)
			f.log.Warn("purge not delivered; the target may serve purged responses until their TTLs end",
				"target", w.name, "id", j.id, "kind", r.kind, "items", r.items, "attempts", attempt,
				"status", o.status, "err", o.err, "response", o.detail)
			return true
		}
		wait := f.backoff(attempt)
		if o.hasAfter {
			wait = o.retryAfter // RFC 9110 §10.2.3: the target said when to come back
		}
		f.log.Debug("purge delivery failed; retrying",
			"target", w.name, "id", j.id, "kind", r.kind, "attempt", attempt, "status", o.status, "err", o.err, "wait", wait)
		if f.sleep(f.ctx, wait) != nil {
			return false
		}
		w.retried.Add(1)
	}
}

// abandon counts j as given up by Close.
func (f *Fanout) abandon(w *worker, j job) {
	w.dropped.Add(1)
	f.abandoned.Add(1)
	f.log.Debug("purge abandoned: fan-out closed", "target", w.name, "id", j.id)
}

// errBuild is the error of a request that cannot be built (not expected: URLs are validated).
// http.NewRequest's own error would quote the URL, which may hold a credential.
var errBuild = errors.New("cannot build the request")

// attempt makes one attempt of r, bounded by w.timeout.
func (f *Fanout) attempt(w *worker, j job, r *request) outcome {
	ctx, cancel := context.WithTimeout(f.ctx, w.timeout)
	defer cancel()
	var body io.Reader = http.NoBody
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return outcome{err: errBuild}
	}
	for k, v := range w.header {
		req.Header[k] = slices.Clone(v) // a caller's RoundTripper may edit its request
	}
	for k, v := range r.header {
		req.Header[k] = slices.Clone(v)
	}
	if r.host != "" {
		req.Host = r.host
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", userAgent)
	}
	if err := w.adapter.authorize(req, r.body); err != nil {
		return outcome{err: err}
	}
	resp, err := f.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message quotes the URL, query and all
		}
		return outcome{retry: true, err: err}
	}
	defer resp.Body.Close()
	o := outcome{status: resp.StatusCode}
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		o.ok = true
	case c == http.StatusRequestTimeout, c == http.StatusTooManyRequests, c >= 500:
		o.retry = true
		if c == http.StatusTooManyRequests || c == http.StatusServiceUnavailable {
			// RFC 6585 §4 (429) and RFC 9110 §15.6.4 (503) pair these with Retry-After.
			o.retryAfter, o.hasAfter = parseRetryAfter(resp.Header.Get("Retry-After"), f.now())
		}
	}
	// Read a little, for the adapter and so that the connection can be reused; a large body
	// is not worth it.
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxJudgedBody))
	o = w.adapter.judge(o, resp, b)
	if o.ok {
		return o
	}
	o.detail = strings.ToValidUTF8(string(b[:min(len(b), maxErrorBody)]), "?")
	if o.err == nil && !o.retry {
		o.err = fmt.Errorf("status %d is not retried", resp.StatusCode)
	}
	return o
}

// parseRetryAfter reads a Retry-After field value (RFC 9110 §10.2.3): delay-seconds or an
// HTTP-date. The wait is clamped to [0, MaxRetryAfter]; ok is false if v is absent or invalid.
func parseRetryAfter(v string, now time.Time) (wait time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		secs, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			if !errors.Is(err, strconv.ErrRange) {
				return 0, false
			}
			return MaxRetryAfter, true
		}
		if secs >= uint64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), MaxRetryAfter), true
}

// fullJitter is the default Options.Backoff: "full jitter" (a uniformly random wait below an
// exponentially growing ceiling), which spreads the retries of many purges instead of sending
// them in waves.
func fullJitter(retry int) time.Duration {
	ceiling := BackoffCap
	if retry >= 1 && retry <= 30 {
		ceiling = min(BackoffBase<<(retry-1), BackoffCap)
	}
	return rand.N(ceiling)
}

// sleep is the default Options.Sleep.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
