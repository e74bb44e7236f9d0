package httpcache

import (
	"net/http"
	"net/url"
	"strings"
)

// IsSafeMethod reports whether method is safe (RFC 9110 §9.2.1): GET, HEAD,
// OPTIONS or TRACE. Methods are case-sensitive, so "get" is not safe. The
// empty string is GET, as in net/http.
func IsSafeMethod(method string) bool {
	switch method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// InvalidationTargets returns the URIs a cache must invalidate after an
// unsafe request (including methods it does not know) got a non-error (2xx
// or 3xx) response (RFC 9111 §4.4): the target URI, and the URIs in Location
// and Content-Location when they have the same origin (scheme, host and port)
// as the target. References are resolved against target; fragments are
// dropped and duplicates removed. The result is nil for safe methods, other
// statuses or a nil target.
//
// target must be absolute (scheme and host set): a server-side r.URL holds
// only the path, and against it only relative references would match.
func InvalidationTargets(method string, status int, target *url.URL, respHeader http.Header) []*url.URL {
	if IsSafeMethod(method) || status < 200 || status > 399 || target == nil {
		return nil
	}
	base := withoutFragment(target)
	targets := []*url.URL{base}
	for _, name := range [...]string{"Location", "Content-Location"} {
		v := trimOWS(respHeader.Get(name))
		if v == "" {
			continue
		}
		ref, err := url.Parse(v)
		if err != nil {
			continue
		}
		u := withoutFragment(base.ResolveReference(ref))
		if sameOrigin(base, u) && !containsURL(targets, u) {
			targets = append(targets, u)
		}
	}
	return targets
}

func withoutFragment(u *url.URL) *url.URL {
	c := *u // c.User is shared, but *url.Userinfo is immutable
	c.Fragment, c.RawFragment = "", ""
	return &c
}

// sameOrigin compares scheme, host and port (RFC 6454 §5), filling in the
// default port of http and https.
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) &&
		strings.EqualFold(a.Hostname(), b.Hostname()) &&
		port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}

func containsURL(list []*url.URL, u *url.URL) bool {
	s := u.String()
	for _, v := range list {
		if v.String() == s {
			return true
		}
	}
	return false
}
