package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/moatproxy/moat/cachekey"
	"go.yaml.in/yaml/v3"
)

func TestDefault(t *testing.T) {
	t.Parallel()
	c := Default()
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", c.Listen, "127.0.0.1:8080"},
		{"admin.listen", c.Admin.Listen, ""},
		{"origin.url", c.Origin.URL, ""},
		{"origin.timeout", c.Origin.Timeout.D(), 10 * time.Second},
		{"origin.dial_timeout", c.Origin.DialTimeout.D(), 2 * time.Second},
		{"origin.max_idle_conns", c.Origin.MaxIdleConns, 256},
		{"origin.max_conns", c.Origin.MaxConns, 0},
		{"origin.host_header", c.Origin.HostHeader, "origin"},
		{"cache.memory", c.Cache.Memory, 256 * MiB},
		{"cache.max_object_size", c.Cache.MaxObjectSize, 8 * MiB},
		{"cache.heuristic_max", c.Cache.HeuristicMax.D(), 24 * time.Hour},
		{"cache.coalesce_timeout", c.Cache.CoalesceTimeout.D(), time.Duration(0)},
		{"effective coalesce timeout", c.CoalesceTimeout(), 13 * time.Second},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "text"},
		{"routes", len(c.Routes), 0},
		{"tags.max_index", c.Tags.MaxIndex, 0},
		{"security.strip_headers", strings.Join(c.Security.StripHeaders, " "), strings.Join(cachekey.UnkeyedHeaders, " ")},
		{"security.allow_underscore_headers", c.Security.AllowUnderscoreHeaders, false},
		{"security.client_body_timeout", c.Security.ClientBodyTimeout.D(), 30 * time.Second},
	}
	for _, tt := range checks {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v, want nil", err)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("Default().Warnings() = %v, want none", w)
	}
	c.Security.StripHeaders[0] = "X-Changed"
	if got := Default().Security.StripHeaders[0]; got != cachekey.UnkeyedHeaders[0] || cachekey.UnkeyedHeaders[0] == "X-Changed" {
		t.Errorf("changing Default().Security.StripHeaders changed the next Default (%q) or cachekey.UnkeyedHeaders", got)
	}
	err := c.ValidateServe()
	if want := "config: origin.url: required to serve"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Default().ValidateServe() = %v, want %q", err, want)
	}
}

func TestParseEmptyIsDefault(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "\n", "# only a comment\n", "---\n", "~\n", "cache:\nlog: ~\n"} {
		c, err := Parse([]byte(in), "empty.yaml")
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		want := Default()
		want.Source = "empty.yaml"
		if !equalConfigs(c, want) {
			t.Errorf("Parse(%q) = %+v, want the defaults %+v", in, c, want)
		}
	}
}

// equalConfigs compares the exported content of two configs.
func equalConfigs(a, b *Config) bool {
	x, y := *a, *b
	x.lines, y.lines = nil, nil
	if len(x.Routes) == 0 && len(y.Routes) == 0 { // `routes: []` is no routes
		x.Routes, y.Routes = nil, nil
	}
	if x.Source != y.Source || len(x.Routes) != len(y.Routes) {
		return false
	}
	for i := range x.Routes {
		if x.Routes[i].Line != y.Routes[i].Line {
			return false
		}
	}
	// Compare what the config says, not how Go holds it: a nil and an
	// empty list (or map) are the same setting.
	mx, errx := yaml.Marshal(&x)
	my, erry := yaml.Marshal(&y)
	return errx == nil && erry == nil && string(mx) == string(my)
}

func TestParseAllKeys(t *testing.T) {
	t.Parallel()
	in := `listen: ":8443"
admin:
  listen: 127.0.0.1:9090
  token: s3cret
origin:
  url: https://api.internal:8443/v2
  timeout: 30s
  dial_timeout: 500ms
  max_idle_conns: 0
  max_conns: 64
  host_header: client
cache:
  memory: 1.5GiB
  max_object_size: 100MB
  heuristic_max: 0s
  coalesce_timeout: 2s
log: {level: debug, format: json}
routes:
  - match: GET /api/products/{id}
    ttl: 1d12h
  - match: /api/health
    cache: false
  - match: GET /static/{path...}
    ttl: 7d
    override_origin: true
    allow_set_cookie: true
    cache: true
`
	c, err := Parse([]byte(in), "all.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	want := &Config{
		Listen: ":8443",
		Admin:  Admin{Listen: "127.0.0.1:9090", Token: "s3cret"},
		Origin: Origin{
			URL: "https://api.internal:8443/v2", Timeout: Duration(30 * time.Second),
			DialTimeout: Duration(500 * time.Millisecond), MaxIdleConns: 0, MaxConns: 64, HostHeader: "client",
			Queue: DefaultOriginQueue,
		},
		Cache: Cache{Memory: 3 * GiB / 2, MaxObjectSize: 100 * MB, HeuristicMax: 0, CoalesceTimeout: Duration(2 * time.Second),
			HitForMiss: DefaultHitForMiss, Compression: true, RefreshConcurrency: DefaultRefreshConcurrency, RefreshBudget: DefaultRefreshBudget},
		Hotkeys:  Hotkeys{Top: 1000, Interval: Duration(time.Minute), Capacity: 10000, HalfLife: Duration(10 * time.Second)},
		Log:      Log{Level: "debug", Format: "json", AccessSample: 1},
		Security: Default().Security,
		Routes: []Route{
			{Match: "GET /api/products/{id}", TTL: Duration(36 * time.Hour), Line: 19},
			{Match: "/api/health", Cache: &no, Line: 21},
			{Match: "GET /static/{path...}", TTL: Duration(7 * 24 * time.Hour), OverrideOrigin: true, AllowSetCookie: true, Cache: &yes, Line: 23},
		},
		Source: "all.yaml",
	}
	if !equalConfigs(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	if got := c.CoalesceTimeout(); got != 2*time.Second {
		t.Errorf("CoalesceTimeout() = %v, want 2s", got)
	}
	if c.Routes[0].Cached() != true || c.Routes[1].Cached() != false || c.Routes[2].Cached() != true {
		t.Errorf("Cached() = %v %v %v, want true false true", c.Routes[0].Cached(), c.Routes[1].Cached(), c.Routes[2].Cached())
	}
}

// The example must load as shipped: it is the documentation people copy.
func TestExampleConfigLoads(t *testing.T) {
	t.Parallel()
	c, err := Load("../../examples/moat.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ValidateServe(); err != nil {
		t.Fatalf("ValidateServe: %v", err)
	}
	if c.Source != "../../examples/moat.yaml" {
		t.Errorf("Source = %q", c.Source)
	}
	if len(c.Routes) != 4 || c.Routes[2].Match != "GET /api/catalog" || !c.Routes[2].OverrideOrigin || c.Routes[3].Cached() ||
		c.Effective(&c.Routes[1]).TTL != Presets["dynamic"].TTL {
		t.Errorf("routes = %+v", c.Routes)
	}
	for i, r := range c.Routes {
		if r.Line == 0 {
			t.Errorf("routes[%d].Line = 0, want its line in the file", i)
		}
	}
}

// Every complete YAML example in docs/config.md must parse.
func TestDocsExamplesParse(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(doc, -1)
	if len(blocks) == 0 {
		t.Fatal("no yaml blocks in docs/config.md")
	}
	env := mapEnv(map[string]string{"MOAT_ADMIN_TOKEN": "from-env", "MOAT_REDIS_PASSWORD": "from-env", "MOAT_EU_PURGE_AUTH": "Bearer x", "CLOUDFLARE_API_TOKEN": "x", "FASTLY_API_TOKEN": "x", "AKAMAI_CLIENT_TOKEN": "x", "AKAMAI_CLIENT_SECRET": "x", "AKAMAI_ACCESS_TOKEN": "x"})
	for i, b := range blocks {
		if _, err := parse(b[1], "config.md block", parseOptions{lookupEnv: env}); err != nil {
			t.Errorf("block %d:\n%s\n%v", i, b[1], err)
		}
	}
}

func TestEnvExpansion(t *testing.T) {
	t.Parallel()
	env := mapEnv(map[string]string{"MOAT_ADMIN_TOKEN": "from-env", "OTHER": "x"})
	tests := []struct {
		name, token, want string
	}{
		{"whole_value", `"${MOAT_ADMIN_TOKEN}"`, "from-env"},
		{"plain_block_scalar", `${MOAT_ADMIN_TOKEN}`, "from-env"},
		{"literal", `abc`, "abc"},
		{"embedded_is_literal", `"abc${OTHER}"`, "abc${OTHER}"},
		{"dollar_name_is_literal", `$OTHER`, "$OTHER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := "admin:\n  listen: 127.0.0.1:9090\n  token: " + tt.token + "\n"
			c, err := parse([]byte(in), "env.yaml", parseOptions{lookupEnv: env})
			if err != nil {
				t.Fatal(err)
			}
			if c.Admin.Token != tt.want {
				t.Errorf("token = %q, want %q", c.Admin.Token, tt.want)
			}
		})
	}
	t.Run("only_admin_token_expands", func(t *testing.T) {
		t.Parallel()
		c, err := parse([]byte("origin:\n  url: http://h/${OTHER}\nlog:\n  level: info\n"), "env.yaml", parseOptions{lookupEnv: env})
		if err != nil {
			t.Fatal(err)
		}
		if c.Origin.URL != "http://h/${OTHER}" {
			t.Errorf("origin.url = %q, want it unexpanded", c.Origin.URL)
		}
	})
}

// Parse uses the process environment.
func TestParseReadsEnvironment(t *testing.T) {
	t.Setenv("MOAT_CONFIG_TEST_TOKEN", "hunter2hunter2hunter2")
	c, err := Parse([]byte("admin: {listen: ':9090', token: '${MOAT_CONFIG_TEST_TOKEN}'}\n"), "env.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Admin.Token != "hunter2hunter2hunter2" {
		t.Errorf("token = %q", c.Admin.Token)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	t.Run("missing_file", func(t *testing.T) {
		_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("err = %v, want fs.ErrNotExist", err)
		}
		var ce *Error
		if errors.As(err, &ce) {
			t.Errorf("a read error is not a config *Error")
		}
	})
	t.Run("names_the_file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "moat.yaml")
		if err := os.WriteFile(path, []byte("listen: 127.0.0.1:8080\ncache:\n  memroy: 1GiB\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		want := path + `:3: cache.memroy: unknown key (did you mean "memory"?)`
		if err == nil || err.Error() != want {
			t.Errorf("err = %v, want %q", err, want)
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Line != 3 || fe.Key != "cache.memroy" || fe.Source != path {
			t.Errorf("errors.As FieldError = %+v", fe)
		}
	})
}

func TestTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeKeyPair(t, dir)
	t.Run("load_resolves_relative_paths", func(t *testing.T) {
		path := filepath.Join(dir, "moat.yaml")
		if err := os.WriteFile(path, []byte("tls:\n  cert_file: cert.pem\n  key_file: key.pem\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(dir, "cert.pem"); c.TLS.CertFile != want {
			t.Errorf("cert_file = %q, want %q", c.TLS.CertFile, want)
		}
	})
	t.Run("parse_keeps_paths", func(t *testing.T) {
		in := "tls:\n  cert_file: " + filepath.Join(dir, "cert.pem") + "\n  key_file: " + filepath.Join(dir, "key.pem") + "\n"
		if _, err := Parse([]byte(in), "tls.yaml"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("mismatched_pair", func(t *testing.T) {
		in := "tls:\n  cert_file: " + filepath.Join(dir, "cert.pem") + "\n  key_file: " + filepath.Join(dir, "cert.pem") + "\n"
		got := parseErrors(t, in, nil)
		if len(got) != 1 || !strings.HasPrefix(got[0], "moat.yaml:2: tls.cert_file: cannot load the key pair: ") {
			t.Errorf("got %q", got)
		}
	})
}

func writeKeyPair(t *testing.T, dir string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "moat-test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("cert.pem", "CERTIFICATE", der)
	write("key.pem", "EC PRIVATE KEY", kder)
}

func TestMergeKeysAndAliases(t *testing.T) {
	t.Parallel()
	in := `x-cached: &cached
  ttl: 5m
  override_origin: true
routes:
  - <<: *cached
    match: GET /a
  - <<: *cached
    match: GET /b
    ttl: 1h
`
	c, err := Parse([]byte(in), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Routes) != 2 || c.Routes[0].TTL.D() != 5*time.Minute || c.Routes[1].TTL.D() != time.Hour || !c.Routes[1].OverrideOrigin {
		t.Errorf("routes from x- anchor = %+v", c.Routes)
	}
	if _, err := Parse([]byte("cache:\n  x-note: 1\n"), "m.yaml"); err == nil || !strings.Contains(err.Error(), "m.yaml:2: cache.x-note: unknown key") {
		t.Errorf("x- key below the top level: err = %v, want unknown key", err)
	}
	in = `routes:
  - &cached
    match: GET /a
    ttl: 5m
    override_origin: true
  - <<: *cached
    match: GET /b
    ttl: 1h
  - <<: [*cached]
    match: GET /c
`
	c, err = Parse([]byte(in), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []Route{
		{Match: "GET /a", TTL: Duration(5 * time.Minute), OverrideOrigin: true, Line: 2},
		{Match: "GET /b", TTL: Duration(time.Hour), OverrideOrigin: true, Line: 6},
		{Match: "GET /c", TTL: Duration(5 * time.Minute), OverrideOrigin: true, Line: 9},
	}
	if !reflect.DeepEqual(c.Routes, want) {
		t.Errorf("routes = %+v\nwant %+v", c.Routes, want)
	}
}

// A billion-laughs document must fail fast, not expand: here each route merges ten copies of
// the one before.
func TestAliasBomb(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("routes:\n  - &a0 {match: GET /x}\n")
	for i := 1; i < 30; i++ {
		b.WriteString("  - &a" + itoa(i) + " {<<: [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + itoa(i-1))
		}
		b.WriteString("]}\n")
	}
	start := time.Now()
	_, err := Parse([]byte(b.String()), "bomb.yaml")
	if err == nil || !strings.Contains(err.Error(), "document too complex") {
		t.Fatalf("err = %v, want document too complex", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Parse took %v", d)
	}
}

func itoa(i int) string { return big.NewInt(int64(i)).String() }

func TestValidateBuiltInConfig(t *testing.T) {
	t.Parallel()
	c := Default()
	c.Origin.URL = "http://127.0.0.1:9000"
	c.Routes = []Route{
		{Match: "GET /a/{id}", TTL: Duration(time.Minute)},
		{Match: "GET /a/{name}", Line: 7},
	}
	err := c.ValidateServe()
	want := `config:7: routes[1].match: "GET /a/{name}" conflicts with routes[0] "GET /a/{id}": GET /a/{name} matches the same requests as GET /a/{id}`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}

	var zero Config
	err = zero.Validate()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("zero Config: err = %v, want *Error", err)
	}
	var keys []string
	for _, fe := range ce.Errors() {
		keys = append(keys, fe.Key)
	}
	wantKeys := "listen origin.timeout origin.dial_timeout origin.host_header cache.memory cache.max_object_size cache.refresh_concurrency log.level log.access_sample log.format hotkeys.top hotkeys.interval hotkeys.half_life security.client_body_timeout security.max_header_bytes"
	if strings.Join(keys, " ") != wantKeys {
		t.Errorf("zero Config errors at %q, want %q", strings.Join(keys, " "), wantKeys)
	}
}

// Marshalling a parsed config and parsing it again gives the same config, so `moat validate`
// can print the effective config and tests can build YAML from structs.
func TestMarshalRoundTrip(t *testing.T) {
	t.Parallel()
	c, err := Load("../../examples/moat.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "memory: 256MiB") || !strings.Contains(string(out), "ttl: 5m") {
		t.Errorf("marshalled config does not use the unit syntax:\n%s", out)
	}
	back, err := Parse(out, c.Source)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for i := range back.Routes {
		back.Routes[i].Line = c.Routes[i].Line
	}
	if !equalConfigs(back, c) {
		t.Errorf("round trip:\ngot  %+v\nwant %+v", back, c)
	}
}

func TestSlogLevel(t *testing.T) {
	t.Parallel()
	for _, lv := range []string{"debug", "info", "warn", "error", ""} {
		var want string
		switch lv {
		case "", "info":
			want = "INFO"
		default:
			want = strings.ToUpper(lv)
		}
		if got := (Log{Level: lv}).SlogLevel().String(); got != want {
			t.Errorf("SlogLevel(%q) = %s, want %s", lv, got, want)
		}
	}
}
