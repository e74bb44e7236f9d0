package aside

import (
	"strings"
	"testing"
)

// FuzzEscapeKey: no two keys share an L2 key, and no L2 key holds "://"
// (which shared tiers would read as an HTTP key's path).
func FuzzEscapeKey(f *testing.F) {
	for _, s := range []string{"", "a", "a:b", "http://x/y", "http%3A//x/y", "%", "%25", "%3A", ":", "://"} {
		f.Add(s, s+"x")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ea, eb := escapeKey(a), escapeKey(b)
		if a != b && ea == eb {
			t.Errorf("%q and %q both escape to %q", a, b, ea)
		}
		if strings.Contains(ea, "://") {
			t.Errorf("escapeKey(%q) = %q holds ://", a, ea)
		}
	})
}
