package httpcache

import "testing"

func TestAppendCacheStatus(t *testing.T) {
	tests := []struct {
		name      string
		cacheName string
		s         Status
		want      string
	}{
		{"hit", "moat", Status{Hit: true, TTL: 281, HasTTL: true}, "moat; hit; ttl=281"},
		{"miss_stored", "moat", Status{Fwd: "miss", Stored: true}, "moat; fwd=miss; stored"},
		{"stale_revalidated", "moat", Status{Fwd: "stale", FwdStatus: 304, TTL: 30, HasTTL: true},
			"moat; fwd=stale; fwd-status=304; ttl=30"},
		{"negative_ttl", "moat", Status{Hit: true, TTL: -12, HasTTL: true}, "moat; hit; ttl=-12"},
		{"zero_ttl", "moat", Status{Hit: true, HasTTL: true}, "moat; hit; ttl=0"},
		{"ttl_clamped", "moat", Status{Hit: true, TTL: 1 << 62, HasTTL: true}, "moat; hit; ttl=999999999999999"},
		{"collapsed", "moat", Status{Fwd: "miss", FwdStatus: 200, Stored: true, Collapsed: true},
			"moat; fwd=miss; fwd-status=200; stored; collapsed"},
		{"bypass_detail_token", "moat", Status{Fwd: "bypass", Detail: "no-store"}, "moat; fwd=bypass; detail=no-store"},
		{"detail_string", "moat", Status{Fwd: "uri-miss", Detail: `origin said "no"`},
			`moat; fwd=uri-miss; detail="origin said \"no\""`},
		{"detail_starting_with_digit", "moat", Status{Fwd: "miss", Detail: "5xx"}, `moat; fwd=miss; detail="5xx"`},
		{"key", "moat", Status{Hit: true, Key: `GET https://a.example/b?c=d`},
			`moat; hit; key="GET https://a.example/b?c=d"`},
		{"non_ascii_replaced", "moat", Status{Hit: true, Key: "/caf\u00e9\n"}, `moat; hit; key="/caf???"`},
		{"backslash_escaped", "moat", Status{Detail: `a\b`}, `moat; detail="a\\b"`},
		{"invalid_fwd_dropped", "moat", Status{Fwd: "no thanks"}, "moat"},
		{"cache_name_string", "moat edge", Status{Hit: true}, `"moat edge"; hit`},
		{"cache_name_token_chars", "moat-1.eu:node/2", Status{Hit: true}, "moat-1.eu:node/2; hit"},
		{"empty_cache_name", "", Status{Hit: true}, `""; hit`},
		{"everything", "moat", Status{Hit: true, Fwd: "stale", FwdStatus: 503, TTL: -5, HasTTL: true,
			Stored: true, Collapsed: true, Key: "k", Detail: "stale-if-error"},
			`moat; hit; fwd=stale; fwd-status=503; ttl=-5; stored; collapsed; key="k"; detail=stale-if-error`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(AppendCacheStatus(nil, tt.cacheName, tt.s)); got != tt.want {
				t.Errorf("AppendCacheStatus() = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestAppendCacheStatusAppends(t *testing.T) {
	b := AppendCacheStatus([]byte("upstream; hit, "), "moat", Status{Hit: true})
	if got, want := string(b), "upstream; hit, moat; hit"; got != want {
		t.Errorf("AppendCacheStatus() = %s, want %s", got, want)
	}
}
