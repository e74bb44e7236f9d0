package fanout

import (
	"net/http"
	"net/url"
	"strings"
)

// DefaultFastlyAPI is the base of Fastly's API when Target.URL is empty.
const DefaultFastlyAPI = "https://api.fastly.com"

// MaxFastlyKeys is the most surrogate keys Fastly accepts in one purge request.
const MaxFastlyKeys = 256

// fastlyAdapter speaks Fastly's purge API, every request with Fastly-Key: {api_token}:
//
//	tags: POST {base}/service/{service_id}/purge      Surrogate-Key: k1 k2 ... (at most 256)
//	URLs: POST {base}/purge/{host}{path}[?query]      one request per URL
//	all:  POST {base}/service/{service_id}/purge_all
//
// A soft purge adds Fastly-Soft-Purge: 1 (marks content stale) to tag and URL purges; purge_all
// is always hard. Prefixes and routes cannot be expressed. Success is 2xx.
type fastlyAdapter struct {
	plain
	base    string // {base}
	service string // {base}/service/{service_id}
	token   string
}

func newFastly(t Target) *fastlyAdapter {
	base := baseURL(t, DefaultFastlyAPI)
	return &fastlyAdapter{
		base:    base,
		service: base + "/service/" + url.PathEscape(t.Fastly.ServiceID),
		token:   t.Fastly.APIToken,
	}
}

func (a *fastlyAdapter) requests(p *Purge) (reqs []request, unsupported []string, err error) {
	if p.All {
		return []request{a.request(kindAll, a.service+"/purge_all", false, 1)}, nil, nil
	}
	for _, keys := range chunks(p.Tags, MaxFastlyKeys) {
		r := a.request(kindTags, a.service+"/purge", p.Soft, len(keys))
		r.header.Set("Surrogate-Key", strings.Join(keys, " "))
		reqs = append(reqs, r)
	}
	badURL := false
	for _, raw := range p.URLs {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			badURL = true
			continue
		}
		target := a.base + "/purge/" + u.Host + u.EscapedPath()
		if u.RawQuery != "" {
			target += "?" + u.RawQuery
		}
		reqs = append(reqs, a.request(kindURLs, target, p.Soft, 1))
	}
	if badURL {
		unsupported = append(unsupported, "relative urls")
	}
	if len(p.Prefixes) > 0 {
		unsupported = append(unsupported, kindPrefixes)
	}
	if len(p.Routes) > 0 {
		unsupported = append(unsupported, kindRoutes)
	}
	return reqs, unsupported, nil
}

func (a *fastlyAdapter) request(kind, target string, soft bool, n int) request {
	h := http.Header{}
	h.Set("Fastly-Key", a.token)
	h.Set("Accept", "application/json")
	if soft {
		h.Set("Fastly-Soft-Purge", "1")
	}
	return request{method: http.MethodPost, url: target, header: h, kind: kind, items: n}
}
