package config

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/moatproxy/moat/internal/httpcache"
)

// routes checks every route and that no two route patterns conflict.
//
// net/http.ServeMux is the authority on pattern syntax and conflicts: policy matching uses the
// same rules, so a pattern is valid exactly when a ServeMux accepts it. ServeMux reports both
// problems by panicking in Handle, hence the recover in register.
func (k *checker) routes() {
	mux := http.NewServeMux()
	type accepted struct {
		index   int
		pattern string
	}
	var registered []accepted
	byNorm := make(map[string]int) // normalized pattern → index of its first route

	for i := range k.c.Routes {
		r := &k.c.Routes[i]
		key := fmt.Sprintf("routes[%d]", i)
		if r.TTL < 0 {
			k.errorf(key+".ttl", nil, "must not be negative (0 means plain RFC 9111), got %s", r.TTL)
		} else if r.OverrideOrigin && r.TTL == 0 {
			k.errorf(key+".ttl", nil, "must be positive when override_origin is true (it is the freshness that replaces the origin's)")
		}

		mkey := key + ".match"
		if r.Match == "" {
			k.errorf(mkey, nil, "required, e.g. GET /api/products/{id}")
			continue
		}
		if msg := checkPatternShape(r.Match); msg != "" {
			k.errorf(mkey, nil, "%s", msg)
			continue
		}
		norm := normalizePattern(r.Match)
		if j, dup := byNorm[norm]; dup {
			k.errorf(mkey, nil, "%q duplicates %s", r.Match, k.routeRef(j))
			continue
		}
		if err := register(mux, r.Match); err != "" {
			if !strings.Contains(err, "conflicts with") {
				k.errorf(mkey, nil, "invalid pattern %q: %s", r.Match, strings.TrimPrefix(err, fmt.Sprintf("parsing %q: ", r.Match)))
				continue
			}
			// Name the earlier route it conflicts with by trying them one at a time.
			for _, a := range registered {
				m := http.NewServeMux()
				register(m, a.pattern)
				if e := register(m, r.Match); e != "" {
					_, why, _ := strings.Cut(e, ":\n")
					why = strings.Join(strings.Fields(why), " ")
					k.errorf(mkey, nil, "%q conflicts with %s %q: %s", r.Match, k.routeRef(a.index), a.pattern, why)
					break
				}
			}
			continue
		}
		byNorm[norm] = i
		registered = append(registered, accepted{i, r.Match})
	}
}

// routeRef names route j for messages: "routes[1] (line 12)".
func (k *checker) routeRef(j int) string {
	ref := fmt.Sprintf("routes[%d]", j)
	line := k.c.lineOf(ref+".match", ref)
	if line == 0 {
		line = k.c.Routes[j].Line
	}
	if line > 0 {
		ref += fmt.Sprintf(" (line %d)", line)
	}
	return ref
}

// register adds pattern to mux and returns ServeMux's complaint, if any.
func register(mux *http.ServeMux, pattern string) (err string) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Sprint(r)
		}
	}()
	mux.Handle(pattern, http.NotFoundHandler())
	return ""
}

// splitPattern splits a pattern as ServeMux does: the method ends at the first space or tab.
func splitPattern(p string) (method, path string) {
	if i := strings.IndexAny(p, " \t"); i >= 0 {
		return p[:i], strings.TrimLeft(p[i+1:], " \t")
	}
	return "", p
}

func normalizePattern(p string) string {
	method, path := splitPattern(p)
	return method + " " + path
}

// checkPatternShape rejects what ServeMux would accept but moat does not mean: host patterns
// (policy matches paths of requests to one origin) and lower-case methods (which ServeMux
// matches case-sensitively, so "get /x" would never match a GET).
func checkPatternShape(p string) string {
	method, path := splitPattern(p)
	if !strings.HasPrefix(path, "/") {
		if strings.Contains(path, "/") {
			return fmt.Sprintf("path must start with \"/\" (host patterns are not supported), got %q", p)
		}
		return fmt.Sprintf(`want "[METHOD ]/path", e.g. GET /api/products/{id}, got %q`, p)
	}
	if method != "" && strings.ToUpper(method) != method && httpcache.IsToken(method) {
		return fmt.Sprintf("method %q must be upper case: HTTP methods are case-sensitive (write %s)", method, strings.ToUpper(method))
	}
	return ""
}
