package fanout

import (
	"net/http"
	"time"
)

// MaxAkamaiBody is the largest Fast Purge request body Akamai accepts (50,000 bytes; a larger
// one is refused with 413).
const MaxAkamaiBody = 50000

// akamaiRateLimitWait is the wait after a 429 without Retry-After: Akamai's documentation says
// to wait five seconds before retrying.
const akamaiRateLimitWait = 5 * time.Second

// akamaiAdapter speaks Akamai's Fast Purge API (CCU v3), every request EdgeGrid-signed:
//
//	POST https://{host}/ccu/v3/{action}/{url|tag}/{network}
//	Content-Type: application/json
//
//	{"objects":[...]}
//
// action is "invalidate" for a soft purge and "delete" for a hard one, unless Akamai.Action
// fixes it; network is "production" unless Akamai.Network says "staging". Tags and URLs are
// batched so that each body stays within 50,000 bytes. Prefixes, routes and all cannot be
// expressed (Fast Purge has no purge of everything by API). Success is 2xx (Akamai answers
// 201); a 429 without Retry-After is retried after 5 seconds, as Akamai documents.
type akamaiAdapter struct {
	base    string // https://{host}, or Target.URL
	action  string
	network string
	creds   edgeGrid
	now     func() time.Time
}

func newAkamai(t Target, now func() time.Time) *akamaiAdapter {
	a := t.Akamai
	ad := &akamaiAdapter{
		base:    baseURL(t, "https://"+a.Host),
		action:  a.Action,
		network: a.Network,
		creds:   edgeGrid{clientToken: a.ClientToken, clientSecret: a.ClientSecret, accessToken: a.AccessToken},
		now:     now,
	}
	if ad.network == "" {
		ad.network = "production"
	}
	return ad
}

func (a *akamaiAdapter) requests(p *Purge) (reqs []request, unsupported []string, err error) {
	action := a.action
	if action == "" {
		action = "delete"
		if p.Soft {
			action = "invalidate"
		}
	}
	add := func(kind, object string, items []string) {
		for _, objs := range akamaiBatches(items) {
			body, e := jsonBody(map[string][]string{"objects": objs})
			if e != nil {
				err = e
				continue
			}
			reqs = append(reqs, request{
				method: http.MethodPost, url: a.base + "/ccu/v3/" + action + "/" + object + "/" + a.network,
				header: jsonHeader(), body: body, kind: kind, items: len(objs),
			})
		}
	}
	add(kindTags, "tag", p.Tags)
	add(kindURLs, "url", p.URLs)
	for _, k := range []struct {
		kind string
		has  bool
	}{{kindPrefixes, len(p.Prefixes) > 0}, {kindRoutes, len(p.Routes) > 0}, {kindAll, p.All}} {
		if k.has {
			unsupported = append(unsupported, k.kind)
		}
	}
	return reqs, unsupported, err
}

// akamaiBatches splits objects into runs whose body {"objects":[...]} stays within
// MaxAkamaiBody bytes. An object too large alone makes a run of its own (Akamai will refuse
// it with 413, and the other runs still go).
func akamaiBatches(objects []string) [][]string {
	const envelope = len(`{"objects":[]}`)
	var out [][]string
	start, size := 0, envelope
	for i, o := range objects {
		n := encodedLen(o)
		if i > start {
			n++ // the comma
		}
		if i > start && size+n > MaxAkamaiBody {
			out = append(out, objects[start:i:i])
			start, size, n = i, envelope, encodedLen(o)
		}
		size += n
	}
	if start < len(objects) {
		out = append(out, objects[start:len(objects):len(objects)])
	}
	return out
}

// encodedLen is the length of s as a JSON string in a body from jsonBody.
func encodedLen(s string) int {
	b, _ := jsonBody(s)
	return len(b)
}

func (a *akamaiAdapter) authorize(req *http.Request, body []byte) error {
	now := time.Now
	if a.now != nil {
		now = a.now
	}
	req.Header.Set("Authorization", a.creds.authorization(req.Method, req.URL, body, now(), newNonce()))
	return nil
}

func (a *akamaiAdapter) judge(o outcome, resp *http.Response, _ []byte) outcome {
	if resp.StatusCode == http.StatusTooManyRequests && !o.hasAfter {
		o.retryAfter, o.hasAfter = akamaiRateLimitWait, true
	}
	return o
}
