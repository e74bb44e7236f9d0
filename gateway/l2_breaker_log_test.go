package gateway

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/cache/faulttier"
	"github.com/moatproxy/moat/internal/syncbuf"
)

// TestL2BreakerIsLogged: when L2 keeps failing and the breaker opens, one
// warning says so (not one per failure or per reopening), and one line
// says when L2 answers again.
func TestL2BreakerIsLogged(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		// Nothing stored: no L2 write runs beside the test's lookups.
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprint(w, r.URL.Path)
	})
	mem, err := cache.NewMemory(cache.MemoryOptions{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	ft := faulttier.New(mem)
	var logs syncbuf.Buffer
	s := newGateway(t, o, nil, func(opts *Options) {
		opts.L2 = ft
		opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	ft.Inject(faulttier.Fault{Err: faulttier.ErrInjected})
	const failing, again = "L2 failing", "L2 answers again"
	n := 0
	miss := func() {
		n++
		if r := s.do(t, "GET", fmt.Sprintf("/p/%d", n)); r.status != 200 {
			t.Fatalf("GET with L2 failing: %d, want 200 from the origin", r.status)
		}
	}
	for range 2 * l2BreakerFailures { // opens, and opens again after a pause
		miss()
		if s.gw.l2.openUntil.Load() != 0 {
			s.gw.l2.openUntil.Store(0) // the pause is over
		}
	}
	if got := strings.Count(logs.String(), failing); got != 1 {
		t.Fatalf("%q logged %d times for two openings, want once:\n%s", failing, got, logs.String())
	}
	if got := strings.Count(logs.String(), again); got != 0 {
		t.Fatalf("%q logged while L2 fails", again)
	}
	ft.Heal()
	miss()
	if got := strings.Count(logs.String(), again); got != 1 {
		t.Fatalf("%q logged %d times after L2 answered, want once:\n%s", again, got, logs.String())
	}
	miss()
	if got := strings.Count(logs.String(), again) + strings.Count(logs.String(), failing); got != 2 {
		t.Errorf("more lines while L2 answers: %d in all, want 2", got)
	}
}
