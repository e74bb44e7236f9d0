package cachekey

import "fmt"

// defaultTrackingParams are the parameters stripped when
// Options.StripTracking is on: analytics and ad-click identifiers that
// change nothing in a response but make every shared link a new key.
var defaultTrackingParams = [...]string{
	"utm_*", "fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "_ga", "_gl", "igshid", "yclid",
}

// Options configure URL normalization for every route (YAML `keys:`). The
// zero value is the default: query sorted, tracking parameters stripped,
// slashes kept.
type Options struct {
	// SortQuery sorts query parameters by name, then value, so that
	// parameter order never splits a key. Default (nil): true.
	SortQuery *bool `yaml:"sort_query"`

	// KeepValueOrder keeps the values of a repeated parameter in the order
	// the client sent them, sorting by name only. Default: false (values
	// sorted too, so "id=2&id=1" and "id=1&id=2" share a key).
	//
	// WARNING: with the default, an origin that takes the first of several
	// values, or reads them as an ordered list, answers the sorted request,
	// which may differ from what the client sent. Set this for such origins.
	KeepValueOrder bool `yaml:"keep_value_order"`

	// StripTracking strips the usual tracking parameters (utm_*, fbclid, gclid,
	// dclid, msclkid, mc_cid, mc_eid, _ga, _gl, igshid, yclid) from every
	// query. Default (nil): true.
	StripTracking *bool `yaml:"strip_tracking"`

	// TrackingParams are more parameters to strip from every query: glob
	// patterns in path.Match syntax, matched against the decoded name
	// ignoring ASCII case, where '*' also matches '/'. They apply even when
	// StripTracking is false. Default: none.
	TrackingParams []string `yaml:"tracking_params"`

	// CollapseSlashes replaces each run of '/' in the path with one, so
	// "//a//b" is "/a/b". Default: false, since some origins route
	// "/a//b" differently from "/a/b".
	CollapseSlashes bool `yaml:"collapse_slashes"`

	// Host is which host keys hold: "client" (the default: the request's
	// Host, so each name the API answers to has its own entries) or
	// "origin" (the origin URL's host for every request, as nginx keys on
	// $proxy_host: one entry whatever name the client used; only when the
	// origin receives its own host, origin.host_header: origin).
	Host string `yaml:"host"`

	// HostAliases map a canonical host to the other names clients reach it
	// by ({"api.example.com": ["www.api.example.com", "localhost"]}): a
	// request (and a purge by URL) for an alias is keyed, and forwarded,
	// as one for the canonical host.
	HostAliases map[string][]string `yaml:"host_aliases,omitempty"`
}

// Params are the query rules of one route (YAML `routes[].params`). The
// zero value changes nothing.
type Params struct {
	// Defaults maps a parameter name to its default value: a parameter
	// given exactly once with its default value is removed, since the
	// origin answers the same without it. Names and values are compared
	// decoded and case-sensitively, so {page: "1"} removes "page=1" and
	// "page=%31", and {q: "a b"} removes "q=a+b" and "q=a%20b". A
	// parameter without '=' ("?page") has no value and is never removed.
	// Default: none.
	Defaults map[string]string `yaml:"defaults"`

	// Allow, when not empty, lists the only parameter names kept (exact,
	// decoded, case-sensitive); every other parameter is dropped, so junk
	// parameters cannot multiply keys. A name listed here is kept even if
	// it matches a tracking pattern. Default: none (all kept).
	Allow []string `yaml:"allow"`

	// Strip are glob patterns of parameters to drop on this route, with the
	// syntax and case rules of Options.TrackingParams. Default: none.
	Strip []string `yaml:"strip"`
}

// A Normalizer canonicalizes request URLs. It is immutable and safe for
// concurrent use; make one with NewNormalizer.
type Normalizer struct {
	sortQuery      bool
	keepValueOrder bool
	collapse       bool
	tracking       nameMatcher
}

// NewNormalizer returns a Normalizer for o, or an error wrapping
// ErrInvalidPattern that names the first invalid tracking pattern.
func NewNormalizer(o Options) (*Normalizer, error) {
	n := &Normalizer{
		sortQuery:      o.SortQuery == nil || *o.SortQuery,
		keepValueOrder: o.KeepValueOrder,
		collapse:       o.CollapseSlashes,
	}
	if o.StripTracking == nil || *o.StripTracking {
		if err := compileNames(&n.tracking, "default_tracking_params", defaultTrackingParams[:]); err != nil {
			return nil, err
		}
	}
	if err := compileNames(&n.tracking, "tracking_params", o.TrackingParams); err != nil {
		return nil, err
	}
	return n, nil
}

// ParamRules are the compiled Params of one route, for Normalize. They are
// immutable and safe for concurrent use. A nil *ParamRules applies the
// global rules only.
type ParamRules struct {
	defaultNames  nameSet // decoded names; the index is into defaultValues
	defaultValues []string
	allow         nameSet
	strip         nameMatcher
}

// CompileParams compiles the rules of one route. It returns an error
// wrapping ErrInvalidPattern for an invalid strip pattern, and an error
// for an allowed name that a strip pattern would drop, since such a
// parameter could never reach the origin.
func (n *Normalizer) CompileParams(p Params) (*ParamRules, error) {
	r := &ParamRules{}
	if err := compileNames(&r.strip, "strip", p.Strip); err != nil {
		return nil, err
	}
	for name, v := range p.Defaults {
		r.defaultNames.add(name)
		r.defaultValues = append(r.defaultValues, v)
	}
	if len(p.Allow) > 0 {
		for i, name := range p.Allow {
			if name == "" {
				return nil, fmt.Errorf("cachekey: allow[%d]: empty parameter name", i)
			}
			if r.strip.match([]byte(lowerASCII(name))) {
				return nil, fmt.Errorf("cachekey: allow[%d]: %q is also matched by a strip pattern, so it is always dropped", i, name)
			}
			r.allow.add(name)
		}
	}
	return r, nil
}
