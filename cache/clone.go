package cache

import "net/http"

// Clone returns a shallow copy of e whose Header map may be changed without
// affecting e (values are shared; they are never modified in place).
func (e *Entry) Clone() *Entry {
	c := *e
	c.Header = make(http.Header, len(e.Header))
	for k, v := range e.Header {
		c.Header[k] = v
	}
	return &c
}
