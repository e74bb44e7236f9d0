package fanout

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// maxVarnishHeader bounds an xkey header's value: Varnish's default http_req_hdr_len is 8 KiB,
// and a purge must not be the request that finds a lower limit.
const maxVarnishHeader = 4<<10 - 1

// varnishAdapter speaks the contract of a Varnish with varnish-modules' xkey and a VCL that
// handles these requests, sent to the target's URL:
//
//	tags:     PURGE /                 xkey-purge: t1 t2 ... (hard) or xkey-softpurge: t1 t2 ... (soft),
//	                                  batched so that each value stays under 4 KiB
//	URLs:     PURGE {path?query}      Host: {the purged URL's host}, one request per URL
//	prefixes: BAN /                   X-Moat-Ban-Path: ^{regexp.QuoteMeta(prefix)}, one per prefix
//	all:      BAN /                   X-Moat-Ban-All: 1
//
// Varnish's purge and ban are hard: a soft URL or prefix purge is sent as a hard one. Routes
// cannot be expressed. Success is 2xx.
type varnishAdapter struct {
	plain
	base string // scheme://host:port of Varnish
}

func newVarnish(t Target) *varnishAdapter {
	u, _ := url.Parse(t.URL)
	return &varnishAdapter{base: u.Scheme + "://" + u.Host}
}

func (a *varnishAdapter) requests(p *Purge) (reqs []request, unsupported []string, err error) {
	if p.All {
		r := a.request("BAN", kindAll, "/", 1)
		r.header.Set("X-Moat-Ban-All", "1")
		return []request{r}, nil, nil
	}
	field := "xkey-purge"
	if p.Soft {
		field = "xkey-softpurge"
	}
	for _, keys := range joinedChunks(p.Tags, " ", maxVarnishHeader) {
		r := a.request("PURGE", kindTags, "/", len(keys))
		r.header.Set(field, strings.Join(keys, " "))
		reqs = append(reqs, r)
	}
	badURL := false
	for _, raw := range p.URLs {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			badURL = true
			continue
		}
		path := u.EscapedPath()
		if path == "" {
			path = "/"
		}
		if u.RawQuery != "" {
			path += "?" + u.RawQuery
		}
		r := a.request("PURGE", kindURLs, path, 1)
		r.host = u.Host
		reqs = append(reqs, r)
	}
	if badURL {
		unsupported = append(unsupported, "relative urls")
	}
	for _, pre := range p.Prefixes {
		r := a.request("BAN", kindPrefixes, "/", 1)
		r.header.Set("X-Moat-Ban-Path", "^"+regexp.QuoteMeta(pre))
		reqs = append(reqs, r)
	}
	if len(p.Routes) > 0 {
		unsupported = append(unsupported, kindRoutes)
	}
	return reqs, unsupported, nil
}

func (a *varnishAdapter) request(method, kind, pathQuery string, n int) request {
	return request{method: method, url: a.base + pathQuery, header: http.Header{}, kind: kind, items: n}
}
