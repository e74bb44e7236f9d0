package fanout

import "net/http"

// moatAdapter speaks moat's own purge API: one POST of the whole purge as JSON (see
// Purge.body), with the purge's ID as Idempotency-Key so that a target can tell a retry from
// a new purge. Every kind of selector is supported.
type moatAdapter struct {
	plain
	url string
}

func (a moatAdapter) requests(p *Purge) ([]request, []string, error) {
	body, err := p.body()
	if err != nil { // not expected: the body holds only strings and booleans
		return nil, nil, err
	}
	h := jsonHeader("Idempotency-Key", p.ID)
	return []request{{method: http.MethodPost, url: a.url, header: h, body: body, kind: "purge", items: 1}}, nil, nil
}
