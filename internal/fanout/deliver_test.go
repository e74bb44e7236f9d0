package fanout

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"
)

func TestRetries(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	retryAfter := func(v string) http.Header { return http.Header{"Retry-After": {v}} }
	cases := []struct {
		name       string
		codes      []int
		headers    map[int]http.Header // response headers, by hit
		maxRetries int
		wantHits   int
		wantWaits  []time.Duration
		want       Stats // Sent, Retried, Failed
	}{
		{
			name: "retry_503_then_success", codes: []int{503, 503, 204},
			wantHits: 3, wantWaits: []time.Duration{time.Millisecond, 2 * time.Millisecond},
			want: Stats{Sent: 1, Retried: 2},
		},
		{
			name: "429_retry_after_seconds", codes: []int{429, 200}, headers: map[int]http.Header{1: retryAfter("7")},
			wantHits: 2, wantWaits: []time.Duration{7 * time.Second}, want: Stats{Sent: 1, Retried: 1},
		},
		{
			name: "429_retry_after_date", codes: []int{429, 200},
			headers:  map[int]http.Header{1: retryAfter(now.Add(10 * time.Second).Format(http.TimeFormat))},
			wantHits: 2, wantWaits: []time.Duration{10 * time.Second}, want: Stats{Sent: 1, Retried: 1},
		},
		{
			name: "429_retry_after_clamped", codes: []int{429, 200}, headers: map[int]http.Header{1: retryAfter("86400")},
			wantHits: 2, wantWaits: []time.Duration{MaxRetryAfter}, want: Stats{Sent: 1, Retried: 1},
		},
		{
			name: "429_bad_retry_after_uses_backoff", codes: []int{429, 200}, headers: map[int]http.Header{1: retryAfter("soon")},
			wantHits: 2, wantWaits: []time.Duration{time.Millisecond}, want: Stats{Sent: 1, Retried: 1},
		},
		{
			name: "503_retry_after", codes: []int{503, 200}, headers: map[int]http.Header{1: retryAfter("3")},
			wantHits: 2, wantWaits: []time.Duration{3 * time.Second}, want: Stats{Sent: 1, Retried: 1},
		},
		{
			name: "retry_408", codes: []int{408, 200},
			wantHits: 2, wantWaits: []time.Duration{time.Millisecond}, want: Stats{Sent: 1, Retried: 1},
		},
		{name: "no_retry_on_400", codes: []int{400, 200}, wantHits: 1, want: Stats{Failed: 1}},
		{name: "no_retry_on_404", codes: []int{404, 200}, wantHits: 1, want: Stats{Failed: 1}},
		{
			name: "redirect_not_followed", codes: []int{307, 200},
			headers:  map[int]http.Header{1: {"Location": {"/elsewhere"}}},
			wantHits: 1, want: Stats{Failed: 1},
		},
		{
			name: "retries_exhausted", codes: []int{500}, maxRetries: 2,
			wantHits: 3, wantWaits: []time.Duration{time.Millisecond, 2 * time.Millisecond},
			want: Stats{Retried: 2, Failed: 1},
		},
		{name: "negative_max_retries_disables", codes: []int{500, 200}, maxRetries: -1, wantHits: 1, want: Stats{Failed: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			noLeaks(t)
			p := newPeer(t, statuses(c.codes, c.headers))
			var s sleeps
			f := start(t, Options{
				Targets:    []Target{{URL: p.URL}},
				MaxRetries: c.maxRetries,
				Backoff:    linearBackoff,
				Sleep:      s.sleep,
				Now:        func() time.Time { return now },
			})
			f.Enqueue(Purge{Tags: []string{"product:42"}})
			drain(t, f)

			got := p.requests()
			if len(got) != c.wantHits {
				t.Errorf("got %d attempts, want %d", len(got), c.wantHits)
			}
			for i, r := range got {
				if k, first := r.Header.Get("Idempotency-Key"), got[0].Header.Get("Idempotency-Key"); k != first {
					t.Errorf("attempt %d: Idempotency-Key %q, want %q as on the first", i+1, k, first)
				}
			}
			if w := s.waits(); !slices.Equal(w, c.wantWaits) {
				t.Errorf("waits %v, want %v", w, c.wantWaits)
			}
			st := f.Stats()
			if st.Sent != c.want.Sent || st.Retried != c.want.Retried || st.Failed != c.want.Failed || st.Dropped != 0 {
				t.Errorf("Stats = %+v, want Sent %d, Retried %d, Failed %d, Dropped 0",
					st, c.want.Sent, c.want.Retried, c.want.Failed)
			}
		})
	}
}

func TestNetworkErrorRetriedThenFailed(t *testing.T) {
	noLeaks(t)
	gone := newPeer(t, nil)
	gone.Close() // connection refused from now on
	var s sleeps
	f := start(t, Options{
		Targets:    []Target{{URL: gone.URL}},
		MaxRetries: 3,
		Backoff:    linearBackoff,
		Sleep:      s.sleep,
	})
	f.Enqueue(Purge{All: true})
	drain(t, f)
	if st := f.Stats(); st.Retried != 3 || st.Failed != 1 || st.Sent != 0 {
		t.Errorf("Stats = %+v, want Retried 3, Failed 1", st)
	}
	if w, want := s.waits(), []time.Duration{1 * time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond}; !slices.Equal(w, want) {
		t.Errorf("waits %v, want %v", w, want)
	}
}

func TestAttemptTimeoutRetried(t *testing.T) {
	noLeaks(t)
	p := newPeer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			<-r.Context().Done() // hang until the client gives up
		}
	})
	var s sleeps
	f := start(t, Options{
		Targets: []Target{{URL: p.URL, Timeout: 50 * time.Millisecond}},
		Backoff: linearBackoff,
		Sleep:   s.sleep,
	})
	f.Enqueue(Purge{All: true})
	drain(t, f)
	if st := f.Stats(); st.Sent != 1 || st.Retried != 1 {
		t.Errorf("Stats = %+v, want Sent 1 after 1 retry", st)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{" 120 ", 2 * time.Minute, true},
		{"121", MaxRetryAfter, true},
		{"99999999999999999999999", MaxRetryAfter, true},
		{"-5", 0, false},
		{"1.5", 0, false},
		{"5s", 0, false},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{now.Add(time.Hour).Format(http.TimeFormat), MaxRetryAfter, true},
		{"Fri, 01 May 2026 12:00:10 GMT", 10 * time.Second, true},
		{"Friday, 01-May-26 12:00:10 GMT", 10 * time.Second, true}, // RFC 850, obsolete but valid
		{"tomorrow", 0, false},
	}
	for _, c := range cases {
		got, ok := parseRetryAfter(c.in, now)
		if got != c.want || ok != c.wantOK {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.wantOK)
		}
	}
}

func TestFullJitterBounds(t *testing.T) {
	for retry := range 40 {
		ceiling := BackoffCap
		if retry >= 1 && retry <= 8 {
			ceiling = BackoffBase << (retry - 1)
		}
		for range 200 {
			if d := fullJitter(retry); d < 0 || d >= ceiling {
				t.Fatalf("fullJitter(%d) = %v, want in [0, %v)", retry, d, ceiling)
			}
		}
	}
}

func TestDefaultSleepHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	begin := time.Now()
	if err := sleep(ctx, time.Hour); err != context.Canceled {
		t.Errorf("sleep = %v, want %v", err, context.Canceled)
	}
	if d := time.Since(begin); d > time.Second {
		t.Errorf("sleep took %v with a cancelled context", d)
	}
	if err := sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("sleep = %v, want nil", err)
	}
}
