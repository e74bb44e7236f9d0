package upstream_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moatproxy/moat/upstream"
)

func TestDialErrorsRetryAndEject(t *testing.T) {
	good := newBackend(t, "good")
	clock := newClock()
	p := newPool(t, upstream.Options{
		Members: []upstream.Member{{URL: refusedURL(t)}, {URL: good.url}},
		Passive: upstream.Passive{MaxFails: 2, FailTimeout: 10 * time.Second, Statuses: failureStatuses},
		Now:     clock.Now,
	})

	for i := range 10 {
		if m, status := get(t, p, "/"); m != "good" || status != http.StatusOK {
			t.Fatalf("request %d: got %s %d, want good 200 (retried after the refused dial)", i, m, status)
		}
	}
	dead := p.Stats()[0]
	if dead.State != upstream.StateEjected || dead.Failures != 2 || dead.Ejections != 1 {
		t.Fatalf("refused member: got state %s, %d failures, %d ejections; want ejected, 2, 1",
			dead.State, dead.Failures, dead.Ejections)
	}
	if !strings.Contains(dead.LastError, "refused") {
		t.Errorf("LastError = %q, want the dial error", dead.LastError)
	}
	if got := p.Healthy(); got != 1 {
		t.Errorf("Healthy() = %d, want 1", got)
	}

	// After FailTimeout, one trial request dials it again, fails, is retried,
	// and the member sits out another FailTimeout.
	clock.Advance(10 * time.Second)
	if got := p.Healthy(); got != 2 {
		t.Errorf("Healthy() after FailTimeout = %d, want 2 (on trial)", got)
	}
	for i := 0; p.Stats()[0].Requests == dead.Requests; i++ {
		if i == 5 {
			t.Fatal("no trial request after FailTimeout")
		}
		if m, _ := get(t, p, "/"); m != "good" {
			t.Fatalf("got %s, want good", m)
		}
	}
	if st := p.Stats()[0]; st.State != upstream.StateEjected || st.Ejections != 2 {
		t.Errorf("after the failed trial: got %s with %d ejections, want ejected, 2", st.State, st.Ejections)
	}
}

func TestRetryNeedsReplayableBody(t *testing.T) {
	good := newBackend(t, "good")
	p := newPool(t, upstream.Options{
		Members: []upstream.Member{{URL: refusedURL(t)}, {URL: good.url}},
		Balance: upstream.First,
		Passive: upstream.Passive{MaxFails: -1},
	})

	t.Run("replayable_post_retried", func(t *testing.T) {
		r := request(t, http.MethodPost, "/", strings.NewReader("payload")) // sets GetBody
		resp, err := p.RoundTrip(r)
		if err != nil {
			t.Fatalf("RoundTrip: %v", err)
		}
		resp.Body.Close()
		if m, body := resp.Header.Get("X-Member"), resp.Header.Get("X-Body"); m != "good" || body != "payload" {
			t.Errorf("got member %q body %q, want good, payload", m, body)
		}
	})
	t.Run("one_shot_post_not_retried", func(t *testing.T) {
		before := good.hits.Load()
		r := request(t, http.MethodPost, "/", io.NopCloser(strings.NewReader("payload")))
		if r.GetBody != nil {
			t.Fatal("test setup: body is replayable")
		}
		_, err := p.RoundTrip(r)
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("got %v, want connection refused", err)
		}
		if n := good.hits.Load() - before; n != 0 {
			t.Errorf("good member got %d requests, want 0", n)
		}
	})
	t.Run("retries_disabled", func(t *testing.T) {
		p := newPool(t, upstream.Options{
			Members: []upstream.Member{{URL: refusedURL(t)}, {URL: good.url}},
			Balance: upstream.First,
			Retries: -1,
		})
		if _, err := p.RoundTrip(request(t, http.MethodGet, "/", nil)); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("got %v, want connection refused", err)
		}
	})
}

func TestFailureStatuses(t *testing.T) {
	for _, tc := range []struct {
		status int
		counts bool
	}{
		{http.StatusBadGateway, true},
		{http.StatusServiceUnavailable, true},
		{http.StatusGatewayTimeout, true},
		{http.StatusInternalServerError, false},
		{http.StatusNotFound, false},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			a, b := newBackend(t, "a"), newBackend(t, "b")
			a.status.Store(int64(tc.status))
			p := newPool(t, upstream.Options{
				Members: members(a, b),
				Balance: upstream.First,
				Passive: upstream.Passive{MaxFails: 2, Statuses: failureStatuses},
				Now:     newClock().Now,
			})
			for range 2 {
				// The failure status still reaches the caller: no retry.
				if m, status := get(t, p, "/"); m != "a" || status != tc.status {
					t.Fatalf("got %s %d, want a %d", m, status, tc.status)
				}
			}
			want, wantFailures := "a", uint64(0)
			if tc.counts {
				want, wantFailures = "b", 2
			}
			if m, _ := get(t, p, "/"); m != want {
				t.Errorf("third request went to %s, want %s", m, want)
			}
			if got := p.Stats()[0].Failures; got != wantFailures {
				t.Errorf("Failures = %d, want %d", got, wantFailures)
			}
		})
	}
}

func TestEjectedMemberReturnsAfterFailTimeout(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	a.status.Store(http.StatusServiceUnavailable)
	clock := newClock()
	p := newPool(t, upstream.Options{
		Members: members(a, b),
		Balance: upstream.First,
		Passive: upstream.Passive{MaxFails: 2, FailTimeout: 10 * time.Second, Statuses: failureStatuses},
		Now:     clock.Now,
	})
	expect := func(want string) {
		t.Helper()
		if m, _ := get(t, p, "/"); m != want {
			t.Fatalf("request went to %s, want %s", m, want)
		}
	}

	expect("a")
	expect("a") // second failure: ejected
	expect("b")
	clock.Advance(9 * time.Second)
	expect("b")
	clock.Advance(time.Second)
	expect("a") // the trial fails: ejected again
	expect("b")
	if st := p.Stats()[0]; st.State != upstream.StateEjected || st.Ejections != 2 {
		t.Fatalf("after a failed trial: %s with %d ejections, want ejected, 2", st.State, st.Ejections)
	}

	a.status.Store(0)
	clock.Advance(10 * time.Second)
	expect("a") // the trial succeeds
	expect("a")
	if st := p.Stats()[0]; st.State != upstream.StateUp || st.LastChange != clock.Now() {
		t.Errorf("after a good trial: %s changed at %v, want up at %v", st.State, st.LastChange, clock.Now())
	}
}

func TestFailuresOutsideTheWindowDoNotEject(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	a.status.Store(http.StatusBadGateway)
	clock := newClock()
	p := newPool(t, upstream.Options{
		Members: members(a, b),
		Balance: upstream.First,
		Passive: upstream.Passive{MaxFails: 2, FailTimeout: 10 * time.Second, Statuses: failureStatuses},
		Now:     clock.Now,
	})
	for range 5 {
		if m, _ := get(t, p, "/"); m != "a" {
			t.Fatalf("request went to %s, want a: one failure per window never ejects", m)
		}
		clock.Advance(10 * time.Second)
	}
}

func TestAllDownFailsFastWithoutDialing(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	a.status.Store(http.StatusServiceUnavailable)
	b.status.Store(http.StatusServiceUnavailable)
	p := newPool(t, upstream.Options{Name: "shop", Members: members(a, b), Passive: upstream.Passive{MaxFails: 1, Statuses: failureStatuses}, Now: newClock().Now})
	if p.Name() != "shop" {
		t.Errorf("Name() = %q, want shop", p.Name())
	}
	get(t, p, "/")
	get(t, p, "/")
	if got := p.Healthy(); got != 0 {
		t.Fatalf("Healthy() = %d, want 0", got)
	}
	p.CloseIdleConnections() // a request would have to dial

	accepts, hits := a.accepts.Load()+b.accepts.Load(), a.hits.Load()+b.hits.Load()
	body := &closeRecorder{Reader: strings.NewReader("x")}
	_, err := p.RoundTrip(request(t, http.MethodPut, "/", body))
	if !errors.Is(err, upstream.ErrNoHealthy) || !strings.Contains(err.Error(), `pool "shop"`) {
		t.Errorf("got %v, want ErrNoHealthy naming the pool", err)
	}
	if !body.closed {
		t.Error("request body not closed (RoundTrip must close it, even on errors)")
	}
	if n, m := a.accepts.Load()+b.accepts.Load()-accepts, a.hits.Load()+b.hits.Load()-hits; n != 0 || m != 0 {
		t.Errorf("got %d connections and %d requests, want none", n, m)
	}
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestClientCancellationDoesNotEject(t *testing.T) {
	a := newBackend(t, "a")
	p := newPool(t, upstream.Options{Members: members(a), Passive: upstream.Passive{MaxFails: 1, Statuses: failureStatuses}})

	ctx, cancel := context.WithCancel(context.Background())
	r := request(t, http.MethodGet, "/slow", nil).WithContext(ctx)
	go func() {
		<-a.entered
		cancel()
	}()
	if _, err := p.RoundTrip(r); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	st := p.Stats()[0]
	if st.State != upstream.StateUp || st.Failures != 0 || st.InFlight != 0 {
		t.Errorf("got %s, %d failures, %d in flight; want up, 0, 0", st.State, st.Failures, st.InFlight)
	}
	if m, _ := get(t, p, "/"); m != "a" {
		t.Errorf("got %q, want a", m)
	}
}

func TestOneTrialAtATime(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	a.status.Store(http.StatusBadGateway)
	clock := newClock()
	p := newPool(t, upstream.Options{
		Members: members(a, b),
		Balance: upstream.First,
		Passive: upstream.Passive{MaxFails: 1, FailTimeout: time.Second, Statuses: failureStatuses},
		Now:     clock.Now,
	})
	get(t, p, "/") // ejects a
	a.status.Store(0)
	clock.Advance(time.Second)

	// The trial stalls before its headers; meanwhile a is skipped.
	ctx, cancel := context.WithCancel(context.Background())
	trial := request(t, http.MethodGet, "/slow", nil).WithContext(ctx)
	done := make(chan error)
	go func() {
		_, err := p.RoundTrip(trial)
		done <- err
	}()
	<-a.entered
	if m, _ := get(t, p, "/"); m != "b" {
		t.Errorf("during a's trial: went to %s, want b", m)
	}
	// A canceled trial says nothing of a: the next request is the trial.
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled trial: got %v, want context.Canceled", err)
	}
	if m, _ := get(t, p, "/"); m != "a" {
		t.Errorf("after the canceled trial: went to %s, want a (trial)", m)
	}
	if st := p.Stats()[0]; st.State != upstream.StateUp || st.Ejections != 1 {
		t.Errorf("after a good trial: %s with %d ejections, want up, 1", st.State, st.Ejections)
	}
}

// failureStatuses are the statuses these tests count as failures (by
// default none are: see Passive.Statuses).
var failureStatuses = []int{http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}

// By default statuses are not failures, and a lone member is never
// ejected: a client asking for a URL the origin answers 503 cannot take
// the pool down.
func TestDefaultPassiveCountsErrorsOnly(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	a.status.Store(http.StatusServiceUnavailable)
	p := newPool(t, upstream.Options{Members: members(a, b), Balance: upstream.First, Now: newClock().Now})
	for range 5 {
		if m, status := get(t, p, "/"); m != "a" || status != http.StatusServiceUnavailable {
			t.Fatalf("got %s %d", m, status)
		}
	}
	if st := p.Stats()[0]; st.Failures != 0 || st.State != upstream.StateUp {
		t.Errorf("a 503 counted by default: %+v", st)
	}
}
