package fanout

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// DefaultTimeout is Target.Timeout when it is zero.
const DefaultTimeout = 5 * time.Second

// ErrInvalidTarget is wrapped by every error of Target.Validate and New about a target.
var ErrInvalidTarget = errors.New("fanout: invalid purge target")

// Target is one downstream purge endpoint: one entry of purge_targets in moat's config.
type Target struct {
	// URL is the absolute http or https URL that every purge is POSTed to. Required.
	// It may carry a credential in its query; moat logs it without query or user info.
	URL string `yaml:"url"`

	// Headers are added to every request, e.g. Authorization for the CDN's API. Values are
	// sent as given: "${NAME}" references must be expanded before New (by the config layer),
	// and New rejects a value that still looks like one. Header values are never logged.
	// Content-Type, Content-Length, Host and Idempotency-Key are set by moat and may not be
	// configured. Default: none.
	Headers map[string]string `yaml:"headers"`

	// Timeout bounds one attempt, from connecting to reading the answer. Default: 5s
	// (DefaultTimeout).
	Timeout time.Duration `yaml:"timeout"`
}

// reservedHeaders are the request headers fanout owns.
var reservedHeaders = [...]string{"Content-Type", "Content-Length", "Host", "Idempotency-Key"}

// Validate reports the first problem with t, as an error wrapping ErrInvalidTarget whose
// message names the field ("url: ...", "headers.X: ..."), so that a config layer can place
// it at its line. New calls it for every target.
func (t Target) Validate() error {
	if field, reason := t.problem(); field != "" {
		return fmt.Errorf("%w: %s: %s", ErrInvalidTarget, field, reason)
	}
	return nil
}

// problem returns the field of t that is wrong and why, or "" if t is valid. The reason never
// quotes a header value or the URL's query or user info, which may hold credentials.
func (t Target) problem() (field, reason string) {
	u, err := url.Parse(t.URL)
	switch {
	case t.URL == "":
		return "url", "required"
	case err != nil:
		return "url", "not a valid URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "url", "must be an absolute http:// or https:// URL"
	case u.Host == "":
		return "url", "has no host"
	case u.Fragment != "":
		return "url", "must not have a #fragment"
	}
	if t.Timeout < 0 {
		return "timeout", "must not be negative"
	}
	for _, name := range slices.Sorted(maps.Keys(t.Headers)) { // sorted: the same file, the same error
		value, f := t.Headers[name], "headers."+name
		switch {
		case !validHeaderName(name):
			return f, "not a valid header name"
		case isReserved(name):
			return f, "is set by moat and cannot be configured"
		case strings.ContainsAny(value, "\r\n\x00"):
			return f, "value contains a line break or NUL"
		case strings.Contains(value, "${"):
			return f, "value contains an unexpanded ${...} reference"
		}
	}
	return "", ""
}

func isReserved(name string) bool {
	return slices.Contains(reservedHeaders[:], http.CanonicalHeaderKey(name))
}

// validHeaderName reports whether name is an RFC 9110 §5.6.2 token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := range len(name) {
		c := name[i]
		if c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// displayURL is u as it may appear in logs and Stats: scheme, host and path, without user info
// or query, which may hold credentials.
func displayURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid url)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
}
