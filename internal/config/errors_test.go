package config

import (
	"errors"
	"strings"
	"testing"
)

// parseErrors parses in as moat.yaml and returns the text of each problem.
func parseErrors(t *testing.T, in string, env map[string]string) []string {
	t.Helper()
	c, err := parse([]byte(in), "moat.yaml", parseOptions{lookupEnv: mapEnv(env)})
	if err == nil {
		t.Fatalf("Parse succeeded, want errors; config: %+v", c)
	}
	if c != nil {
		t.Errorf("Parse returned a config with an error")
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error is %T, want *config.Error: %v", err, err)
	}
	var out []string
	for _, fe := range ce.Errors() {
		out = append(out, fe.Error())
	}
	if got := strings.Join(out, "\n"); got != err.Error() {
		t.Errorf("Error() = %q, want the problems one per line: %q", err.Error(), got)
	}
	return out
}

func mapEnv(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		env  map[string]string
		want []string // each must be a substring of one problem, in this order
	}{
		{
			name: "unknown_key_with_suggestion",
			in:   "listen: 127.0.0.1:8080\ncache:\n  memroy: 1GiB\n",
			want: []string{`moat.yaml:3: cache.memroy: unknown key (did you mean "memory"?)`},
		},
		{
			name: "unknown_key_lists_known_keys",
			in:   "log:\n  colour: true\n",
			want: []string{`moat.yaml:2: log.colour: unknown key (want one of access, access_sample, access_file, access_format, level, format)`},
		},
		{
			name: "unknown_top_level_key",
			in:   "origns: {}\n",
			want: []string{`moat.yaml:1: origns: unknown key (did you mean "origin"?)`},
		},
		{
			name: "unknown_key_dash_for_underscore",
			in:   "cache:\n  max-object-size: 1MiB\n",
			want: []string{`moat.yaml:2: cache.max-object-size: unknown key (did you mean "max_object_size"?)`},
		},
		{
			name: "unknown_key_in_route",
			in:   "routes:\n  - match: GET /a\n    tll: 5m\n",
			want: []string{`moat.yaml:3: routes[0].tll: unknown key (did you mean "ttl"?)`},
		},
		{
			name: "duplicate_key",
			in:   "listen: :1\nlisten: :2\n",
			want: []string{`moat.yaml:2: listen: duplicate key (first set at line 1)`},
		},
		{
			name: "invalid_duration",
			in:   "routes:\n  - match: GET /a\n  - match: GET /b\n  - match: GET /c\n    ttl: 5x\n",
			want: []string{`moat.yaml:5: routes[2].ttl: invalid duration "5x" (use e.g. 30s, 5m, 1h)`},
		},
		{
			name: "bare_number_duration",
			in:   "origin:\n  timeout: 30\n",
			want: []string{`moat.yaml:2: origin.timeout: ambiguous duration 30: add a unit, e.g. 30s or 30ms`},
		},
		{
			name: "duration_got_list",
			in:   "cache:\n  heuristic_max: [1h]\n",
			want: []string{`moat.yaml:2: cache.heuristic_max: want a duration like 30s, got a list`},
		},
		{
			name: "size_got_list",
			in:   "cache:\n  memory:\n    - 1\n",
			want: []string{`moat.yaml:2: cache.memory: want a size like 256MiB, got a list`},
		},
		{
			name: "size_bad_unit",
			in:   "cache:\n  memory: 256MiBs\n",
			want: []string{`moat.yaml:2: cache.memory: unknown size unit "MiBs" in "256MiBs"`},
		},
		{
			name: "size_negative",
			in:   "cache:\n  memory: -1MiB\n",
			want: []string{`moat.yaml:2: cache.memory: size "-1MiB" must not be negative`},
		},
		{
			name: "size_overflow",
			in:   "cache:\n  memory: 9000000TiB\n",
			want: []string{`moat.yaml:2: cache.memory: size "9000000TiB" is too large`},
		},
		{
			name: "string_got_mapping",
			in:   "listen: {host: x}\n",
			want: []string{`moat.yaml:1: listen: want a string, got a mapping`},
		},
		{
			name: "struct_got_scalar",
			in:   "cache: big\n",
			want: []string{`moat.yaml:1: cache: want a mapping with keys memory, max_object_size, heuristic_max, coalesce_timeout, hit_for_miss, client_cache_control, range_requests, name, targeted_cache_control, compression, refresh_concurrency, refresh_budget, redis, memcached, nats_bus, got "big"`},
		},
		{
			name: "list_got_mapping",
			in:   "routes:\n  match: GET /a\n",
			want: []string{`moat.yaml:1: routes: want a list, got a mapping`},
		},
		{
			name: "route_not_mapping",
			in:   "routes:\n  - GET /a\n",
			want: []string{`moat.yaml:2: routes[0]: want a mapping with keys match, ttl,`},
		},
		{
			name: "bool_got_yes",
			in:   "routes:\n  - match: GET /a\n    cache: yes\n",
			want: []string{`moat.yaml:3: routes[0].cache: want true or false, got "yes"`},
		},
		{
			name: "int_got_string",
			in:   "origin:\n  max_conns: lots\n",
			want: []string{`moat.yaml:2: origin.max_conns: want an integer, got "lots"`},
		},
		{
			name: "int_overflow",
			in:   "origin:\n  max_conns: 99999999999999999999999\n",
			want: []string{`moat.yaml:2: origin.max_conns: want an integer`},
		},
		{
			name: "top_level_not_mapping",
			in:   "- listen\n",
			want: []string{`moat.yaml:1: want a mapping with keys listen, tls, admin, origin, upstreams, cache, log, routes`},
		},
		{
			name: "yaml_syntax",
			in:   "listen: 127.0.0.1:8080\ncache:\n  memory: [1\n",
			want: []string{`moat.yaml:3: invalid YAML: did not find expected ',' or ']'`},
		},
		{
			name: "yaml_syntax_block",
			in:   "a: 1\nb: 2\n- c\n",
			want: []string{`moat.yaml:3: invalid YAML: did not find expected key`},
		},
		{
			name: "yaml_scanner",
			in:   "listen: :1\norigin:\n url: x\n  timeout: 1s\n",
			want: []string{`moat.yaml:4: invalid YAML: mapping values are not allowed in this context`},
		},
		{
			name: "yaml_unknown_anchor",
			in:   "listen: *x\n",
			want: []string{`moat.yaml: invalid YAML: unknown anchor 'x' referenced`},
		},
		{
			name: "two_documents",
			in:   "listen: :1\n---\nlisten: :2\n",
			want: []string{`moat.yaml:2: a config is one YAML document; remove the second one (and its ---)`},
		},
		{
			name: "listen_not_host_port",
			in:   "listen: 8080\n",
			want: []string{`moat.yaml:1: listen: want host:port, e.g. 127.0.0.1:8080, got "8080"`},
		},
		{
			name: "listen_bad_port",
			in:   "listen: localhost:http\n",
			want: []string{`moat.yaml:1: listen: port "http" in "localhost:http" is not a number from 0 to 65535`},
		},
		{
			name: "admin_token_required",
			in:   "admin:\n  listen: 127.0.0.1:9090\n",
			want: []string{`moat.yaml:2: admin.token: required when admin.listen is set`},
		},
		{
			name: "admin_listen_same_as_listen",
			in:   "listen: 127.0.0.1:8080\nadmin: {listen: 127.0.0.1:8080, token: t}\n",
			want: []string{`moat.yaml:2: admin.listen: "127.0.0.1:8080" is also the gateway's listen address`},
		},
		{
			name: "admin_bad_listen",
			in:   "admin: {listen: nope, token: t}\n",
			want: []string{`moat.yaml:1: admin.listen: want host:port`},
		},
		{
			name: "env_unset",
			in:   "admin:\n  listen: :9090\n  token: ${MOAT_TEST_TOKEN}\n",
			want: []string{`moat.yaml:3: admin.token: environment variable MOAT_TEST_TOKEN is not set`},
		},
		{
			name: "env_empty",
			in:   "admin:\n  listen: :9090\n  token: ${MOAT_TEST_TOKEN}\n",
			env:  map[string]string{"MOAT_TEST_TOKEN": ""},
			want: []string{`moat.yaml:3: admin.token: environment variable MOAT_TEST_TOKEN is empty`},
		},
		{
			name: "env_malformed",
			in:   "admin:\n  listen: :9090\n  token: ${MOAT TOKEN}\n",
			want: []string{`moat.yaml:3: admin.token: malformed environment reference "${MOAT TOKEN}"`},
		},
		{
			name: "origin_url_scheme",
			in:   "origin:\n  url: ftp://example.com\n",
			want: []string{`moat.yaml:2: origin.url: want an absolute http or https URL such as http://127.0.0.1:9000, got "ftp://example.com"`},
		},
		{
			name: "origin_url_relative",
			in:   "origin:\n  url: /api\n",
			want: []string{`moat.yaml:2: origin.url: want an absolute http or https URL`},
		},
		{
			name: "origin_url_no_host",
			in:   "origin:\n  url: 'http://:9000'\n",
			want: []string{`moat.yaml:2: origin.url: URL "http://:9000" has no host`},
		},
		{
			name: "origin_url_query",
			in:   "origin:\n  url: http://a/x?y=1\n",
			want: []string{`moat.yaml:2: origin.url: URL "http://a/x?y=1" has a query`},
		},
		{
			name: "origin_url_fragment",
			in:   "origin:\n  url: 'http://a/x#top'\n",
			want: []string{`moat.yaml:2: origin.url: URL "http://a/x#top" has a fragment`},
		},
		{
			name: "origin_url_userinfo_redacted",
			in:   "origin:\n  url: http://bob:secret@a/\n",
			want: []string{`moat.yaml:2: origin.url: URL "http://REDACTED@a/" has user info`},
		},
		{
			name: "origin_url_unparsable",
			in:   "origin:\n  url: 'http://a b/'\n",
			want: []string{`moat.yaml:2: origin.url: invalid URL "http://a b/": invalid character " " in host name`},
		},
		{
			name: "origin_timeout_zero",
			in:   "origin:\n  timeout: 0s\n",
			want: []string{`moat.yaml:2: origin.timeout: must be positive (default 10s), got 0s`},
		},
		{
			name: "origin_negative_conns",
			in:   "origin:\n  max_idle_conns: -1\n  max_conns: -1\n",
			want: []string{
				`moat.yaml:2: origin.max_idle_conns: must not be negative`,
				`moat.yaml:3: origin.max_conns: must not be negative`,
			},
		},
		{
			name: "origin_host_header",
			in:   "origin:\n  host_header: clent\n",
			want: []string{`moat.yaml:2: origin.host_header: "clent" is not one of origin, client (did you mean "client"?)`},
		},
		{
			name: "memory_below_minimum",
			in:   "cache:\n  memory: 512KiB\n  max_object_size: 1KiB\n",
			want: []string{`moat.yaml:2: cache.memory: 512KiB is below the minimum of 1MiB`},
		},
		{
			name: "max_object_size_over_memory",
			in:   "cache:\n  memory: 4MiB\n  max_object_size: 5MiB\n",
			want: []string{`moat.yaml:3: cache.max_object_size: 5MiB is larger than cache.memory (4MiB)`},
		},
		{
			name: "default_max_object_size_over_memory_points_at_memory",
			in:   "listen: :1\ncache:\n  memory: 4MiB\n",
			want: []string{`moat.yaml:3: cache.max_object_size: 8MiB is larger than cache.memory (4MiB)`},
		},
		{
			name: "negative_durations",
			in:   "cache:\n  heuristic_max: -1h\n  coalesce_timeout: -1s\nroutes:\n  - match: GET /a\n    ttl: -5m\n",
			want: []string{
				`moat.yaml:2: cache.heuristic_max: must not be negative`,
				`moat.yaml:3: cache.coalesce_timeout: must not be negative`,
				`moat.yaml:6: routes[0].ttl: must not be negative`,
			},
		},
		{
			name: "log_level",
			in:   "log:\n  level: warning\n  format: JSON\n",
			want: []string{
				`moat.yaml:2: log.level: "warning" is not one of debug, info, warn, error (did you mean "warn"?)`,
				`moat.yaml:3: log.format: "JSON" is not one of text, json (did you mean "json"?)`,
			},
		},
		{
			name: "tls_key_without_cert",
			in:   "tls:\n  key_file: key.pem\n",
			want: []string{`moat.yaml:2: tls.cert_file: required when tls.key_file is set`},
		},
		{
			name: "tls_cert_without_key",
			in:   "tls:\n  cert_file: cert.pem\n",
			want: []string{`moat.yaml:2: tls.key_file: required when tls.cert_file is set`},
		},
		{
			name: "tls_missing_files",
			in:   "tls:\n  cert_file: /nonexistent/cert.pem\n  key_file: /nonexistent/key.pem\n",
			want: []string{`moat.yaml:2: tls.cert_file: cannot load the key pair: open /nonexistent/cert.pem`},
		},
		{
			name: "route_match_required",
			in:   "routes:\n  - ttl: 5m\n",
			want: []string{`moat.yaml:2: routes[0].match: required, e.g. GET /api/products/{id}`},
		},
		{
			name: "route_invalid_pattern",
			in:   "routes:\n  - match: GET /x/{a}{b}\n",
			want: []string{`moat.yaml:2: routes[0].match: invalid pattern "GET /x/{a}{b}": at offset 7: bad wildcard name "a}{b"`},
		},
		{
			name: "route_invalid_method",
			in:   "routes:\n  - match: 'G(T /x'\n",
			want: []string{`moat.yaml:2: routes[0].match: invalid pattern "G(T /x": at offset 0: invalid method "G(T"`},
		},
		{
			name: "route_lower_case_method",
			in:   "routes:\n  - match: get /x\n",
			want: []string{`moat.yaml:2: routes[0].match: method "get" must be upper case: HTTP methods are case-sensitive (write GET)`},
		},
		{
			name: "route_host_pattern",
			in:   "routes:\n  - match: GET api/x\n",
			want: []string{`moat.yaml:2: routes[0].match: path must start with "/" (host patterns are not supported), got "GET api/x"`},
		},
		{
			name: "route_no_path",
			in:   "routes:\n  - match: GET\n",
			want: []string{`moat.yaml:2: routes[0].match: want "[METHOD ]/path", e.g. GET /api/products/{id}, got "GET"`},
		},
		{
			name: "route_unclean_path",
			in:   "routes:\n  - match: GET /a/../b\n",
			want: []string{`moat.yaml:2: routes[0].match: invalid pattern "GET /a/../b": at offset 4: non-CONNECT pattern with unclean path can never match`},
		},
		{
			name: "route_duplicate",
			in:   "routes:\n  - match: GET /a\n  - match: GET /b\n  - match: GET   /a\n",
			want: []string{`moat.yaml:4: routes[2].match: "GET   /a" duplicates routes[0] (line 2)`},
		},
		{
			name: "route_equivalent_conflict",
			in:   "routes:\n  - match: GET /p/{id}\n  - match: GET /p/{name}\n",
			want: []string{`moat.yaml:3: routes[1].match: "GET /p/{name}" conflicts with routes[0] (line 2) "GET /p/{id}": GET /p/{name} matches the same requests as GET /p/{id}`},
		},
		{
			name: "route_overlap_conflict",
			in:   "routes:\n  - match: GET /z\n  - match: GET /a/{x}/b\n  - match: GET /a/b/{y}\n",
			want: []string{`moat.yaml:4: routes[2].match: "GET /a/b/{y}" conflicts with routes[1] (line 3) "GET /a/{x}/b": GET /a/b/{y} and GET /a/{x}/b both match some paths, like "/a/b/b". But neither is more specific than the other.`},
		},
		{
			name: "route_override_without_ttl",
			in:   "routes:\n  - match: GET /a\n    override_origin: true\n",
			want: []string{`moat.yaml:2: routes[0].ttl: must be positive when override_origin is true`},
		},
		{
			name: "merge_key_not_mapping",
			in:   "routes:\n  - <<: 5\n    match: GET /a\n",
			want: []string{`moat.yaml:2: routes[0].<<: want a mapping or a list of mappings to merge, got "5"`},
		},
		{
			name: "non_scalar_key",
			in:   "cache:\n  ? [a]\n  : 1\n",
			want: []string{`moat.yaml:2: cache: keys must be plain names, got a list`},
		},
		{
			name: "all_errors_sorted_by_line",
			in: "log:\n  level: loud\n" + // 2
				"cache:\n  memroy: 1GiB\n" + // 4
				"routes:\n  - match: GET /a\n    ttl: 5x\n" + // 7
				"listen: nowhere\n", // 8
			want: []string{
				`moat.yaml:2: log.level:`,
				`moat.yaml:4: cache.memroy: unknown key`,
				`moat.yaml:7: routes[0].ttl: invalid duration "5x"`,
				`moat.yaml:8: listen: want host:port`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := parseErrors(t, tt.in, tt.env)
			if len(got) != len(tt.want) {
				t.Errorf("got %d problems, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i, w := range tt.want {
				if i >= len(got) || !strings.Contains(got[i], w) {
					t.Errorf("problem %d: want it to contain\n\t%s\ngot:\n\t%s", i, w, strings.Join(got, "\n\t"))
				}
			}
		})
	}
}

// A value that failed to decode keeps its default, and Validate must not complain about it a
// second time (or about the default it holds).
func TestDecodeErrorsAreNotRepeatedByValidate(t *testing.T) {
	t.Parallel()
	got := parseErrors(t, "routes:\n  - match: GET /a\n    ttl: 5x\n    override_origin: true\n  - 7\n", nil)
	want := []string{
		`moat.yaml:3: routes[0].ttl: invalid duration "5x" (use e.g. 30s, 5m, 1h)`,
		`moat.yaml:5: routes[1]: want a mapping with keys match, ttl, override_origin, cache, allow_set_cookie, `,
	}
	if len(got) != 2 || got[0] != want[0] || !strings.HasPrefix(got[1], want[1]) || !strings.HasSuffix(got[1], `, got "7"`) {
		t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

func TestTooManyErrorsAreCapped(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("cache:\n")
	for i := range 150 {
		b.WriteString("  k" + strings.Repeat("x", i) + ": 1\n")
	}
	got := parseErrors(t, b.String(), nil)
	if len(got) != maxErrors+1 {
		t.Fatalf("got %d problems, want %d", len(got), maxErrors+1)
	}
	if last := got[len(got)-1]; last != "moat.yaml: too many errors; 50 more not shown" {
		t.Errorf("last problem = %q", last)
	}
}

func TestFieldErrorText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		fe   FieldError
		want string
	}{
		{"full", FieldError{Source: "moat.yaml", Line: 14, Key: "routes[2].ttl", Msg: "bad"}, "moat.yaml:14: routes[2].ttl: bad"},
		{"no_line", FieldError{Source: "moat.yaml", Key: "origin.url", Msg: "required"}, "moat.yaml: origin.url: required"},
		{"no_key", FieldError{Source: "moat.yaml", Line: 3, Msg: "invalid YAML"}, "moat.yaml:3: invalid YAML"},
		{"built_in", FieldError{Key: "cache.memory", Msg: "small"}, "config: cache.memory: small"},
		{"warning", FieldError{Source: "moat.yaml", Line: 12, Key: "routes[0].ttl", Msg: "long", Warning: true}, "moat.yaml:12: routes[0].ttl: warning: long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.fe.Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
