package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/moatproxy/moat/cachekey"
	"github.com/moatproxy/moat/internal/auth"
	"github.com/moatproxy/moat/internal/httpcache"
)

// Validate checks the config's meaning: addresses, the origin URL if set, sizes, durations,
// enumerations, route patterns, and settings that would expose credentials or let clients
// claim a tier. It does not fill in defaults and does not require an origin (see
// ValidateServe); settings that are valid but probably unsafe are not errors (see Warnings). It returns nil or an *Error with every problem, each at the line of its
// key when the config came from Parse or Load.
//
// TLS files, when set, are loaded to check that they form a key pair, so Validate reads the
// file system.
func (c *Config) Validate() error {
	errs := &problems{source: c.Source}
	for _, fe := range c.validate() {
		errs.add(fe)
	}
	return errs.err()
}

// ValidateServe is Validate plus what serving needs: an origin URL.
func (c *Config) ValidateServe() error {
	errs := &problems{source: c.Source}
	for _, fe := range c.validate() {
		errs.add(fe)
	}
	c.requireOrigin(errs)
	return errs.err()
}

// requireOrigin records the absence of origin.url, which serving needs.
func (c *Config) requireOrigin(errs *problems) {
	if c.Origin.URL == "" && c.Origin.Upstream == "" {
		errs.addf(c.lineOf("origin"), "origin.url", "required to serve: the base URL of the API to cache, e.g. http://127.0.0.1:9000 (or origin.upstream: the name of an upstream)")
	}
}

// lineOf returns the line of the first of keys that the config's source set, else of the
// nearest enclosing key that it set, else 0.
func (c *Config) lineOf(keys ...string) int {
	for _, k := range keys {
		if l := c.lines[k]; l > 0 {
			return l
		}
	}
	if len(keys) > 0 {
		for k := parentKey(keys[0]); k != ""; k = parentKey(k) {
			if l := c.lines[k]; l > 0 {
				return l
			}
		}
	}
	return 0
}

// checker gathers the problems of one validation, or the warnings of one call to Warnings.
type checker struct {
	c    *Config
	list []*FieldError
}

// errorf records a problem with key, at the line of key (or of the first of also that the
// source set).
func (k *checker) errorf(key string, also []string, format string, args ...any) {
	k.add(false, key, also, format, args...)
}

// warnf records a warning, as errorf records a problem.
func (k *checker) warnf(key string, also []string, format string, args ...any) {
	k.add(true, key, also, format, args...)
}

func (k *checker) add(warning bool, key string, also []string, format string, args ...any) {
	k.list = append(k.list, &FieldError{
		Source:  k.c.Source,
		Line:    k.line(key, also),
		Key:     key,
		Msg:     fmt.Sprintf(format, args...),
		Warning: warning,
	})
}

// line returns the line of key (or of the first of also) that the source set; for a key of a
// route that has none (a config built in code), the route's Line.
func (k *checker) line(key string, also []string) int {
	if l := k.c.lineOf(append([]string{key}, also...)...); l > 0 {
		return l
	}
	var i int
	if _, err := fmt.Sscanf(key, "routes[%d]", &i); err == nil && i >= 0 && i < len(k.c.Routes) {
		return k.c.Routes[i].Line
	}
	return 0
}

func (c *Config) validate() []*FieldError {
	k := &checker{c: c}
	k.hostPort("listen", c.Listen)
	k.tls()
	k.admin()
	k.origin()
	k.upstreams()
	k.cache()
	k.trustedProxies()
	if k.c.ShutdownDelay < 0 {
		k.errorf("shutdown_delay", nil, "must not be negative, got %s", k.c.ShutdownDelay)
	}
	k.redis()
	k.memcached()
	k.events()
	k.log()
	k.routes()
	k.graphql()
	k.freshness()
	k.invalidation()
	k.keys()
	k.varyHeaders()
	k.trustedFrom()
	k.security()
	if err := c.Tracing.Validate(); err != nil {
		k.errorf("tracing", nil, "%v", err)
	}
	return k.list
}

// trustedProxies checks trusted_proxies.
func (k *checker) trustedProxies() {
	for i, s := range k.c.TrustedProxies {
		if _, err := parsePrefix(s); err != nil {
			k.errorf(fmt.Sprintf("trusted_proxies[%d]", i), nil, "want a CIDR (10.0.0.0/8) or an address, got %q", s)
		}
	}
}

// clientCacheControl checks a client_cache_control value.
func (k *checker) clientCacheControl(key, v string) {
	switch v {
	case "", "honor", "ignore":
	default:
		k.errorf(key, nil, "want honor or ignore, got %q", v)
	}
}

// hostPort checks a listen address: host:port with a numeric port; the host may be empty
// (all interfaces).
func (k *checker) hostPort(key, addr string) {
	if addr == "" {
		k.errorf(key, nil, "want host:port, e.g. 127.0.0.1:8080, got an empty value")
		return
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		k.errorf(key, nil, "want host:port, e.g. 127.0.0.1:8080, got %q", addr)
		return
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		k.errorf(key, nil, "port %q in %q is not a number from 0 to 65535", port, addr)
	}
}

func (k *checker) tls() {
	t := k.c.TLS
	switch {
	case t.CertFile == "" && t.KeyFile == "":
	case t.KeyFile == "":
		k.errorf("tls.key_file", []string{"tls.cert_file"}, "required when tls.cert_file is set")
	case t.CertFile == "":
		k.errorf("tls.cert_file", []string{"tls.key_file"}, "required when tls.key_file is set")
	default:
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			k.errorf("tls.cert_file", nil, "cannot load the key pair: %v", err)
		}
	}
}

func (k *checker) admin() {
	a := k.c.Admin
	if a.Listen == "" {
		return
	}
	k.hostPort("admin.listen", a.Listen)
	if a.Listen == k.c.Listen && !strings.HasSuffix(a.Listen, ":0") {
		k.errorf("admin.listen", nil, "%q is also the gateway's listen address; the admin listener needs its own", a.Listen)
	}
	if a.Token == "" {
		k.errorf("admin.token", []string{"admin.listen"},
			`required when admin.listen is set: the bearer token of the admin API ("${NAME}" reads it from the environment variable NAME)`)
	}
	if why, loopback := k.c.weakAdminToken(); why != "" && !loopback {
		k.errorf("admin.token", []string{"admin.listen"}, "the token %s, and admin.listen %s is not a loopback address: "+
			"anyone who can reach it could purge the cache and list its keys; %s", why, a.Listen, fixAdminToken)
	}
}

func (k *checker) origin() {
	o := k.c.Origin
	if o.URL != "" {
		if msg := checkOriginURL(o.URL); msg != "" {
			k.errorf("origin.url", nil, "%s", msg)
		}
	}
	k.positive("origin.timeout", o.Timeout, DefaultOriginTimeout)
	k.positive("origin.dial_timeout", o.DialTimeout, DefaultDialTimeout)
	if o.MaxIdleConns < 0 {
		k.errorf("origin.max_idle_conns", nil, "must not be negative (0 keeps no idle connections)")
	}
	if o.MaxConns < 0 {
		k.errorf("origin.max_conns", nil, "must not be negative (0 is unlimited)")
	}
	if o.HostHeader != HostHeaderOrigin && o.HostHeader != HostHeaderClient {
		k.errorf("origin.host_header", nil, "%s", oneOf(o.HostHeader, []string{HostHeaderOrigin, HostHeaderClient}))
	}
}

// checkOriginURL returns what is wrong with an origin URL, or "".
func checkOriginURL(raw string) string {
	if !strings.Contains(raw, "://") && !strings.HasPrefix(raw, "/") && raw != "" {
		// "127.0.0.1:9000", "api.internal/v1": a host without a scheme.
		return fmt.Sprintf("%q has no scheme: add http:// (or https://), e.g. \"http://%s\"", raw, raw)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Sprintf("invalid URL %q: %v", raw, unwrapURLError(err))
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("want an absolute http or https URL such as http://127.0.0.1:9000, got %q", raw)
	case u.Opaque != "" || u.Hostname() == "":
		return fmt.Sprintf("URL %q has no host", raw)
	case u.User != nil:
		return fmt.Sprintf("URL %q has user info, which is not sent to the origin; remove it", redactUser(u))
	case u.RawQuery != "" || u.ForceQuery:
		return fmt.Sprintf("URL %q has a query; the origin URL may have a path prefix but no query", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Sprintf("URL %q has a fragment; remove it", raw)
	}
	if p := u.Port(); p != "" {
		if _, err := strconv.ParseUint(p, 10, 16); err != nil {
			return fmt.Sprintf("port %q in URL %q is not a number from 0 to 65535", p, raw)
		}
	}
	return ""
}

// unwrapURLError drops url.Error's repetition of the operation and the URL.
func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

func redactUser(u *url.URL) string {
	r := *u
	r.User = url.User("REDACTED")
	return r.String()
}

func (k *checker) positive(key string, d, def Duration) {
	if d <= 0 {
		k.errorf(key, nil, "must be positive (default %s), got %s", def, d)
	}
}

func (k *checker) cache() {
	c := k.c.Cache
	k.clientCacheControl("cache.client_cache_control", c.ClientCacheControl)
	if t := c.TargetedCacheControl; t != nil {
		for i, h := range *t {
			if !httpcache.IsToken(h) || strings.EqualFold(h, "Cache-Control") {
				k.errorf(fmt.Sprintf("cache.targeted_cache_control[%d]", i), nil, "%q is not a targeted field name (e.g. CDN-Cache-Control)", h)
			}
		}
	}
	if c.Name != "" && (!httpcache.IsToken(c.Name) || !isAlphaByte(c.Name[0])) {
		k.errorf("cache.name", nil, "want a name of letters, digits and -._ starting with a letter (a Structured Fields token), got %q", c.Name)
	}
	if v := c.RangeRequests; v != "" && v != "serve" && v != "pass" {
		k.errorf("cache.range_requests", nil, "%s", oneOf(v, []string{"serve", "pass"}))
	}
	for i, r := range k.c.Routes {
		k.clientCacheControl(fmt.Sprintf("routes[%d].client_cache_control", i), r.ClientCacheControl)
	}
	if c.Memory < MinMemory {
		k.errorf("cache.memory", nil, "%s is below the minimum of %s", c.Memory, MinMemory)
	}
	switch {
	case c.MaxObjectSize <= 0:
		k.errorf("cache.max_object_size", nil, "must be positive (default %s), got %s", DefaultMaxObjectSize, c.MaxObjectSize)
	case c.MaxObjectSize > c.Memory && c.Memory >= MinMemory:
		k.errorf("cache.max_object_size", []string{"cache.memory"}, "%s is larger than cache.memory (%s)", c.MaxObjectSize, c.Memory)
	}
	if c.HeuristicMax < 0 {
		k.errorf("cache.heuristic_max", nil, "must not be negative (0s disables heuristic freshness), got %s", c.HeuristicMax)
	}
	if c.HitForMiss < 0 {
		k.errorf("cache.hit_for_miss", nil, "must not be negative (0s turns it off), got %s", c.HitForMiss)
	}
	if c.RefreshConcurrency < 1 {
		k.errorf("cache.refresh_concurrency", nil, "must be at least 1, got %d", c.RefreshConcurrency)
	}
	if c.RefreshBudget < 0 {
		k.errorf("cache.refresh_budget", nil, "must not be negative (0 turns predictive refresh off), got %v", c.RefreshBudget)
	}
	if c.CoalesceTimeout < 0 {
		k.errorf("cache.coalesce_timeout", nil, "must not be negative (0 means origin.timeout), got %s", c.CoalesceTimeout)
	}
}

var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"text", "json"}
)

func (k *checker) log() {
	l := k.c.Log
	if !slices.Contains(logLevels, l.Level) {
		k.errorf("log.level", nil, "%s", oneOf(l.Level, logLevels))
	}
	if l.AccessSample <= 0 || l.AccessSample > 1 {
		k.errorf("log.access_sample", nil, "must be above 0%% and at most 100%%, got %s", l.AccessSample)
	}
	if !slices.Contains(logFormats, l.Format) {
		k.errorf("log.format", nil, "%s", oneOf(l.Format, logFormats))
	}
	switch k.c.Log.AccessFormat {
	case "", "text", "json", "combined":
	default:
		k.errorf("log.access_format", nil, "want text, json or combined, got %q", k.c.Log.AccessFormat)
	}
}

// freshness checks the volatility classes and the routes' freshness
// settings.
func (k *checker) freshness() {
	c := k.c
	o := c.Origin
	if o.MaxConcurrency < 0 {
		k.errorf("origin.max_concurrency", nil, "must not be negative (0: no cap), got %d", o.MaxConcurrency)
	}
	if o.Queue < 0 {
		k.errorf("origin.queue", nil, "must not be negative, got %d", o.Queue)
	}
	if o.QueueTimeout < 0 {
		k.errorf("origin.queue_timeout", nil, "must not be negative, got %s", o.QueueTimeout)
	}
	h := c.Hotkeys
	if h.Top < 1 {
		k.errorf("hotkeys.top", nil, "must be at least 1, got %d", h.Top)
	}
	if h.Interval <= 0 {
		k.errorf("hotkeys.interval", nil, "must be positive, got %s", h.Interval)
	}
	if h.HalfLife <= 0 {
		k.errorf("hotkeys.half_life", nil, "must be positive, got %s", h.HalfLife)
	}
	if h.Capacity < h.Top {
		k.errorf("hotkeys.capacity", nil, "must be at least hotkeys.top (%d), got %d", h.Top, h.Capacity)
	}
	names := make([]string, 0, len(c.Volatility))
	for name := range c.Volatility {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		v := c.Volatility[name]
		base := mapKey("volatility", name)
		k.window(base+".ttl", v.TTL)
		k.freshnessKeys(base, &v.Freshness)
	}
	known := make([]string, 0, len(Presets)+len(names))
	for name := range Presets {
		known = append(known, name)
	}
	known = append(known, names...)
	slices.Sort(known)
	for i := range c.Routes {
		r := &c.Routes[i]
		base := fmt.Sprintf("routes[%d]", i)
		if r.Volatility != "" {
			if _, ok := c.VolatilityClass(r.Volatility); !ok {
				k.errorf(base+".volatility", nil, "%s", oneOf(r.Volatility, known))
			}
		}
		k.freshnessKeys(base, &r.Freshness)
		if r.MaxOriginConcurrency < 0 {
			k.errorf(base+".max_origin_concurrency", nil, "must not be negative, got %d", r.MaxOriginConcurrency)
		}
	}
}

// freshnessKeys checks the freshness settings of a route or class at base.
func (k *checker) freshnessKeys(base string, f *Freshness) {
	k.window(base+".stale_while_revalidate", f.StaleWhileRevalidate)
	k.window(base+".stale_if_error", f.StaleIfError)
	k.jitter(base+".ttl_jitter", f.TTLJitter)
	k.beta(base+".early_refresh", f.EarlyRefresh)
}

func (k *checker) window(key string, d *Duration) {
	if d != nil && *d < 0 {
		k.errorf(key, nil, "must not be negative, got %s", *d)
	}
}

func (k *checker) jitter(key string, p *Percent) {
	if p != nil && (*p < 0 || *p > 0.5) {
		k.errorf(key, nil, "must be between 0%% and 50%%, got %s", *p)
	}
}

func (k *checker) beta(key string, b *float64) {
	if b != nil && (*b < 0 || *b > 10) {
		k.errorf(key, nil, "must be between 0 (off) and 10 (1 is the usual value), got %v", *b)
	}
}

// downstream checks a Cache-Control a route sends on (nil: none).
func (k *checker) downstream(key string, d *Downstream) {
	if d == nil {
		return
	}
	switch {
	case d.Public && d.Private:
		k.errorf(key, nil, "public and private exclude each other")
	case d.NoStore && (d.MaxAge != nil || d.SMaxAge != nil || d.Public):
		k.errorf(key, nil, "no_store with max_age, s_maxage or public says two things")
	case d.CacheControl() == "":
		k.errorf(key, nil, "sets nothing: give max_age, s_maxage, public, private, no_store ...")
	}
	for name, v := range map[string]*Duration{"max_age": d.MaxAge, "s_maxage": d.SMaxAge, "stale_while_revalidate": d.StaleWhileRevalidate, "stale_if_error": d.StaleIfError} {
		if v != nil && *v < 0 {
			k.errorf(key+"."+name, nil, "must not be negative, got %s", *v)
		}
	}
}

// invalidation checks tags, purge targets and the routes' invalidation keys.
func (k *checker) invalidation() {
	c := k.c
	if c.Tags.MaxIndex < 0 {
		k.errorf("tags.max_index", nil, "must not be negative (0: no separate cap, the index is bounded by cache.memory), got %d", c.Tags.MaxIndex)
	}
	for i, h := range c.Tags.Headers {
		if !httpcache.IsToken(h) {
			k.errorf(fmt.Sprintf("tags.headers[%d]", i), nil, "%q is not a header field name", h)
		}
	}
	for i := range c.PurgeTargets {
		k.purgeTarget(i, &c.PurgeTargets[i])
	}
	for i := range c.Routes {
		r := &c.Routes[i]
		base := fmt.Sprintf("routes[%d]", i)
		wild := patternWildcards(r.Match)
		for j, t := range r.Tags {
			k.template(fmt.Sprintf("%s.tags[%d]", base, j), t, r.Match, wild)
		}
		for j, t := range r.Invalidate {
			k.template(fmt.Sprintf("%s.invalidate[%d]", base, j), t, r.Match, wild)
		}
		if method, _, _ := strings.Cut(strings.TrimSpace(r.Match), " "); r.WriteThrough && method != "PUT" && method != "PATCH" {
			k.errorf(base+".write_through", []string{base + ".match"}, "only for PUT or PATCH routes (the answer to the write is stored for the GET of its URI), not %q", method)
		}
		k.downstream(base+".downstream", r.Downstream)
		if e := r.Edge; e != nil {
			k.downstream(base+".edge.cdn_cache_control", e.CDNCacheControl)
			k.downstream(base+".edge.cloudflare_cdn_cache_control", e.CloudflareCDNCacheControl)
			k.downstream(base+".edge.surrogate_control", e.SurrogateControl)
			for j, h := range e.TagHeaders {
				if !httpcache.IsToken(h) {
					k.errorf(fmt.Sprintf("%s.edge.tag_headers[%d]", base, j), nil, "%q is not a header field name", h)
				}
			}
		}
	}
}

// template checks a tag template: non-empty, balanced braces.
func (k *checker) template(key, t, pattern string, wild []string) {
	if strings.TrimSpace(t) == "" || strings.ContainsAny(t, " ,\t") {
		k.errorf(key, nil, "want a tag without spaces or commas, e.g. product:{id}, got %q", t)
		return
	}
	if strings.Count(t, "{") != strings.Count(t, "}") {
		k.errorf(key, nil, "unbalanced braces in %q", t)
		return
	}
	// A {name} the pattern lacks expands to nothing at run time: the tag
	// is dropped and its purges silently do nothing.
	for rest := t; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			return
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return
		}
		name := rest[i+1 : i+j]
		rest = rest[i+j+1:]
		if slices.Contains(wild, name) {
			continue
		}
		switch best, ok := closest(name, wild); {
		case ok:
			k.errorf(key, nil, "{%s} is not a wildcard of %q (did you mean {%s}?)", name, pattern, best)
		case len(wild) > 0:
			k.errorf(key, nil, "{%s} is not a wildcard of %q (it has {%s})", name, pattern, strings.Join(wild, "}, {"))
		default:
			k.errorf(key, nil, "{%s} is not a wildcard of %q, which has none: the tag would never be set", name, pattern)
		}
	}
}

// patternWildcards lists the names of a ServeMux pattern's wildcards
// ("{id}", "{path...}" → id, path).
func patternWildcards(pattern string) []string {
	var out []string
	for _, seg := range strings.Split(pattern, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") && seg != "{$}" {
			out = append(out, strings.TrimSuffix(seg[1:len(seg)-1], "..."))
		}
	}
	return out
}

// Scopes of a route.
var scopes = []string{"public", "tier", "user"}

// keyHost checks keys.host and keys.host_aliases.
func (k *checker) keyHost() {
	switch k.c.Keys.Host {
	case "", "client":
	case "origin":
		if k.c.Origin.HostHeader == HostHeaderClient {
			k.errorf("keys.host", []string{"origin.host_header"}, "keys.host: origin with origin.host_header: client would let the origin answer by a Host the key does not hold, and serve one host's answer for another's; use origin.host_header: origin, or keys.host_aliases")
		}
	default:
		k.errorf("keys.host", nil, "want client or origin, got %q", k.c.Keys.Host)
	}
	seen := map[string]string{}
	for canon, aliases := range k.c.Keys.HostAliases {
		key := "keys.host_aliases." + canon
		if canon == "" || strings.ContainsAny(canon, "/ ") {
			k.errorf(key, nil, "want a host (host or host:port), got %q", canon)
		}
		for _, a := range aliases {
			la := strings.ToLower(a)
			switch {
			case a == "" || strings.ContainsAny(a, "/ "):
				k.errorf(key, nil, "want hosts (host or host:port), got %q", a)
			case la == strings.ToLower(canon):
				k.errorf(key, nil, "%q is the canonical host itself", a)
			case seen[la] != "":
				k.errorf(key, nil, "%q is already an alias of %q", a, seen[la])
			default:
				seen[la] = canon
			}
		}
	}
}

// keys checks normalization, auth and the routes' key settings.
func (k *checker) keys() {
	k.keyHost()
	c := k.c
	norm, err := cachekey.NewNormalizer(c.Keys)
	if err != nil {
		k.errorf("keys", nil, "%v", err)
	}
	authOn := c.Auth.JWT != nil || c.Auth.APIKeys != nil || c.Auth.TrustedHeader != nil
	if _, err := auth.New(c.Auth); err != nil {
		for _, e := range unjoin(err) {
			key := "auth"
			var fe *auth.FieldError
			if errors.As(e, &fe) {
				key = fe.Field
				e = fe.Err
			}
			k.errorf(key, []string{"auth"}, "%v", e)
		}
	}
	for i := range c.Routes {
		r := &c.Routes[i]
		base := fmt.Sprintf("routes[%d]", i)
		if r.Params != nil && norm != nil {
			if _, err := norm.CompileParams(*r.Params); err != nil {
				k.errorf(base+".params", nil, "%v", err)
			}
		}
		if len(r.Languages) > 0 && !containsFold(r.Vary, "Accept-Language") {
			k.errorf(base+".languages", nil, "only used with vary: [Accept-Language]")
		}
		if len(r.MediaTypes) > 0 && !containsFold(r.Vary, "Accept") {
			k.errorf(base+".media_types", nil, "only used with vary: [Accept]")
		}
		switch r.Scope {
		case "", "public":
		case "tier", "user":
			if !authOn {
				k.errorf(base+".scope", nil, "scope %s needs an auth section with jwt, api_keys or trusted_header", r.Scope)
			}
		default:
			k.errorf(base+".scope", nil, "%s", oneOf(r.Scope, scopes))
		}
	}
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// unjoin splits an errors.Join result.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func isAlphaByte(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
