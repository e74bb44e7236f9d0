package fanout

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// Cloudflare batch sizes (Cloudflare.BatchSize).
//
// Cloudflare's purge_cache documentation has long said 30 URLs (and 30 tags) per request, and
// now says 100 operations per request on every plan (500 URLs on Enterprise). The default keeps
// to 30, which every account accepts; a target may raise it to 100 where its plan allows.
const (
	DefaultCloudflareBatch = 30
	MaxCloudflareBatch     = 100
)

// DefaultCloudflareAPI is the base of Cloudflare's API when Target.URL is empty.
const DefaultCloudflareAPI = "https://api.cloudflare.com/client/v4"

// cloudflareAdapter speaks Cloudflare's purge API:
//
//	POST {base}/zones/{zone_id}/purge_cache
//	Authorization: Bearer {api_token}
//	Content-Type: application/json
//
//	{"tags":[...]} | {"files":[absolute URLs]} | {"prefixes":["host/path", ...]} |
//	{"hosts":[...]} | {"purge_everything":true}
//
// "All" purges the configured Hosts (by hostname: the zone's other sites keep their cache), or
// the whole zone without them.
// One kind per request, at most BatchSize items. Routes cannot be expressed, nor prefixes
// without Cloudflare.Hosts. Cloudflare has no soft purge for these kinds: a soft purge is sent
// as a hard one. Success is 2xx with "success": true; a 200 with "success": false failed, and is
// retried only if its errors say the request was rate limited.
type cloudflareAdapter struct {
	endpoint string
	token    string
	hosts    []string
	batch    int
}

func newCloudflare(t Target) *cloudflareAdapter {
	c := t.Cloudflare
	a := &cloudflareAdapter{
		endpoint: baseURL(t, DefaultCloudflareAPI) + "/zones/" + url.PathEscape(c.ZoneID) + "/purge_cache",
		token:    c.APIToken,
		hosts:    c.Hosts,
		batch:    c.BatchSize,
	}
	if a.batch == 0 {
		a.batch = DefaultCloudflareBatch
	}
	return a
}

func (a *cloudflareAdapter) requests(p *Purge) (reqs []request, unsupported []string, err error) {
	add := func(kind, field string, items []string) {
		for _, c := range chunks(items, a.batch) {
			body, e := jsonBody(map[string][]string{field: c})
			err = errors.Join(err, e)
			reqs = append(reqs, a.request(kind, body, len(c)))
		}
	}
	if p.All {
		if len(a.hosts) > 0 {
			add(kindAll, "hosts", a.hosts)
			return reqs, nil, err
		}
		body := []byte(`{"purge_everything":true}`)
		return []request{a.request(kindAll, body, 1)}, nil, nil
	}
	add(kindTags, "tags", p.Tags)
	add(kindURLs, "files", p.URLs)
	if len(p.Prefixes) > 0 {
		if len(a.hosts) == 0 {
			unsupported = append(unsupported, kindPrefixes)
		} else {
			var prefixes []string
			for _, pre := range p.Prefixes {
				for _, h := range a.hosts {
					prefixes = append(prefixes, h+pre) // "shop.example.com" + "/api/"
				}
			}
			add(kindPrefixes, "prefixes", prefixes)
		}
	}
	if len(p.Routes) > 0 {
		unsupported = append(unsupported, kindRoutes)
	}
	return reqs, unsupported, err
}

func (a *cloudflareAdapter) request(kind string, body []byte, n int) request {
	return request{
		method: http.MethodPost, url: a.endpoint, body: body, kind: kind, items: n,
		header: jsonHeader("Authorization", "Bearer "+a.token),
	}
}

func (a *cloudflareAdapter) authorize(*http.Request, []byte) error { return nil }

// cloudflareAnswer is the envelope of every Cloudflare API answer.
type cloudflareAnswer struct {
	Success *bool `json:"success"`
	Errors  []struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
}

// errCloudflareRefused is the error of a 2xx answer without "success": true.
var errCloudflareRefused = errors.New(`cloudflare answered "success": false`)

func (a *cloudflareAdapter) judge(o outcome, _ *http.Response, body []byte) outcome {
	if !o.ok {
		return o
	}
	var ans cloudflareAnswer
	if json.Unmarshal(body, &ans) == nil && ans.Success != nil && *ans.Success {
		return o
	}
	o.ok = false
	o.err = errCloudflareRefused
	for _, e := range ans.Errors {
		// 971 and 10429 are Cloudflare's throttling codes; the message says so in any case.
		m := strings.ToLower(e.Message)
		if e.Code == 971 || e.Code == 10429 || strings.Contains(m, "rate limit") || strings.Contains(m, "throttl") {
			o.retry = true
		}
	}
	return o
}
