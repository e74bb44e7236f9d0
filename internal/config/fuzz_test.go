package config

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

var fuzzSeeds = []string{
	"",
	"listen: 127.0.0.1:8080\n",
	"cache:\n  memroy: 1GiB\n",
	"routes:\n  - match: GET /api/products/{id}\n    ttl: 5m\n  - match: GET /api/products/{name}\n",
	"routes:\n  - match: GET /a/{x}/b\n  - match: GET /a/b/{y}\n  - match: get /x\n  - match: 'GET /{$}'\n",
	"routes:\n  - &r {match: GET /a, ttl: 1d}\n  - <<: *r\n    match: GET /b\n",
	"admin: {listen: ':9090', token: '${MOAT_FUZZ_TOKEN}'}\n",
	"admin: {listen: '127.0.0.1:9090', token: change-me}\nkeys: {tracking_params: ['*']}\nroutes:\n  - {match: GET /a, ttl: 90d, scope: user, cache: false}\n",
	"security: {strip_headers: [X-Host, 'a b'], client_body_timeout: 0s}\nroutes:\n  - {match: GET /a, vary: [Cookie, X_Y]}\n",
	"origin: {url: 'http://u:p@h:99999/x?y#z', timeout: 300}\n",
	"cache: {memory: 1.5GiB, max_object_size: [1], heuristic_max: -1h}\n",
	"listen: [\n",
	"- a\n- b\n",
	"a: &a [*a]\n",
	"listen: :1\n---\nlisten: :2\n",
	"tls: {cert_file: x}\nlog: {level: loud, format: xml}\n",
	"? [a]\n: b\n",
	"routes: {match: x}\n",
}

// FuzzParse checks that Parse never panics, that every failure is an *Error whose problems name
// the source and a line inside the input, that every success has warnings that do the same, and
// that every success survives a marshal round trip.
func FuzzParse(f *testing.F) {
	if ex, err := os.ReadFile("../../examples/moat.yaml"); err == nil {
		f.Add(ex)
	}
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	env := mapEnv(map[string]string{"MOAT_FUZZ_TOKEN": "fuzz-token-0123456789abcdef"})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parse(data, "fuzz.yaml", parseOptions{lookupEnv: env})
		if err != nil {
			if c != nil {
				t.Fatal("config returned with an error")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not *Error: %v", err, err)
			}
			lines := strings.Count(string(data), "\n") + strings.Count(string(data), "\r") + 2 // YAML also breaks lines at \r
			for _, fe := range ce.Errors() {
				if fe.Source != "fuzz.yaml" || fe.Line < 0 || fe.Line > lines || fe.Msg == "" {
					t.Fatalf("bad problem %+v for %d lines", fe, lines)
				}
			}
			return
		}
		lines := strings.Count(string(data), "\n") + strings.Count(string(data), "\r") + 2
		for _, w := range c.Warnings() {
			if !w.Warning || w.Source != "fuzz.yaml" || w.Line < 0 || w.Line > lines || w.Key == "" || w.Msg == "" {
				t.Fatalf("bad warning %+v for %d lines", w, lines)
			}
		}
		out, err := yaml.Marshal(c)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		back, err := parse(out, "fuzz.yaml", parseOptions{lookupEnv: env})
		if err != nil {
			// A token read from the environment is written back literally and may itself look
			// like a reference; nothing else may change meaning.
			if strings.Contains(err.Error(), "admin.token") {
				return
			}
			t.Fatalf("re-parse of\n%s\nfailed: %v", out, err)
		}
		for i := range back.Routes {
			back.Routes[i].Line = c.Routes[i].Line
		}
		if !equalConfigs(back, c) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v\n%s", c, back, out)
		}
	})
}

// FuzzDuration checks that ParseDuration never panics and that a parsed Duration reads back as
// itself from its String form.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{"30s", "5m", "1h30m", "1d", "7d12h", "0", "300", "-1d", "1.5h", "106751d23h47m16.854775807s", "-2562047h47m16.854775808s", "5x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		back, err := ParseDuration(d.String())
		if err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v; String %q reads back as %v, %v", s, time.Duration(d), d.String(), time.Duration(back), err)
		}
	})
}

// FuzzByteSize checks that ParseByteSize never panics, never returns a negative size, and that a
// parsed size reads back as itself from its String form.
func FuzzByteSize(f *testing.F) {
	for _, s := range []string{"256MiB", "8MiB", "512KiB", "1GiB", "100MB", "1024", "64KB", "1.5GiB", "-1", "9223372036854775807", "8388608TiB", "0.001KB", "1 mib"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseByteSize(s)
		if err != nil {
			return
		}
		if b < 0 {
			t.Fatalf("ParseByteSize(%q) = %d, negative", s, int64(b))
		}
		back, err := ParseByteSize(b.String())
		if err != nil || back != b {
			t.Fatalf("ParseByteSize(%q) = %d; String %q reads back as %d, %v", s, int64(b), b.String(), int64(back), err)
		}
	})
}
