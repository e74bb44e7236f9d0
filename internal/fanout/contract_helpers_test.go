package fanout

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// captured is one request a contract server got.
type captured struct {
	Method, URI, Host string // URI: the request target as sent (path and query, escaped)
	Path              string // decoded
	Header            http.Header
	Body              []byte
}

// contract is a stand-in for a provider's purge API: check validates each request against
// the provider's documented format and answers as the provider does. n is the 1-based hit.
type contract struct {
	*httptest.Server
	mu  sync.Mutex
	got []captured
}

func newContract(t *testing.T, check func(w http.ResponseWriter, c captured, n int)) *contract {
	t.Helper()
	s := &contract{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c := captured{Method: r.Method, URI: r.RequestURI, Host: r.Host, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
		s.mu.Lock()
		s.got = append(s.got, c)
		n := len(s.got)
		s.mu.Unlock()
		check(w, c, n)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *contract) requests() []captured {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]captured(nil), s.got...)
}

// deliverAll sends purges to one target through a started Fanout with recorded waits and a
// debug log, and waits until every purge is delivered or failed.
func deliverAll(t *testing.T, target Target, purges ...Purge) (*Fanout, *sleeps, *lockedBuffer) {
	t.Helper()
	var s sleeps
	var logs lockedBuffer
	f := start(t, Options{
		Targets: []Target{target},
		Backoff: linearBackoff,
		Sleep:   s.sleep,
		Logger:  slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	for _, p := range purges {
		f.Enqueue(p)
	}
	drain(t, f)
	return f, &s, &logs
}

// wantStats compares the counters of the only target.
func wantStats(t *testing.T, f *Fanout, sent, retried, failed, unsupported int64) {
	t.Helper()
	s := f.Stats().PerTarget[0]
	if s.Sent != sent || s.Retried != retried || s.Failed != failed || s.Unsupported != unsupported || s.Dropped != 0 {
		t.Errorf("Stats = %+v, want Sent %d, Retried %d, Failed %d, Unsupported %d, Dropped 0",
			s, sent, retried, failed, unsupported)
	}
}

// noSecrets fails t if the log holds any of the secrets.
func noSecrets(t *testing.T, logs *lockedBuffer, secrets ...string) {
	t.Helper()
	out := logs.String()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("log holds the secret %q:\n%s", s, out)
		}
	}
}

// words returns n distinct words: prefix0000, prefix0001, ...
func words(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%04d", prefix, i)
	}
	return out
}
