package mapping

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
)

// Mapper maps messages to purges. It is immutable and safe for concurrent
// use.
type Mapper struct {
	format format
	id     *template // nil: the default ID
	rules  []rule
}

type rule struct {
	index  int
	when   []cond // document paths last: only they need the payload
	items  []item // tags, URLs and prefixes, in config order
	routes []string
	all    bool
	soft   bool
}

// cond is one path of a rule's when and the values it may equal.
type cond struct {
	path path
	want []string
}

// item is one tag, URL or prefix template.
type item struct {
	kind  itemKind
	field string // "tags[1]", for errors
	t     template
}

type itemKind uint8

const (
	itemTag itemKind = iota
	itemURL
	itemPrefix
)

// Compile checks c and returns its Mapper, or nil and every problem.
func Compile(c Config) (*Mapper, []Error) {
	var errs []Error
	fail := func(rule int, field, msg string, args ...any) {
		errs = append(errs, Error{Rule: rule, Field: field, Msg: fmt.Sprintf(msg, args...)})
	}
	m := &Mapper{}
	switch c.Format {
	case "", "auto":
	case "json":
		m.format = formatJSON
	case "cloudevents":
		m.format = formatCloudEvents
	default:
		fail(-1, "format", "want auto, json or cloudevents, got %q", c.Format)
	}
	if c.ID != "" {
		t, err := parseTemplate(c.ID)
		switch {
		case err != nil:
			fail(-1, "id", "%v", err)
		case t.uses(pathID):
			fail(-1, "id", "the id cannot use $id, which it defines")
		default:
			m.id = &t
		}
	}
	for i, r := range c.Rules {
		m.rules = append(m.rules, compileRule(i, r, fail))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return m, nil
}

func compileRule(i int, r Rule, fail func(rule int, field, msg string, args ...any)) rule {
	out := rule{index: i, routes: r.Routes, all: r.All, soft: r.Soft}
	for _, key := range slices.Sorted(maps.Keys(r.When)) {
		want := r.When[key]
		p, err := parsePath(key)
		if err != nil {
			fail(i, "when."+key, "%v", err)
			continue
		}
		if len(want) == 0 {
			fail(i, "when."+key, "want a value or a list of values")
		}
		out.when = append(out.when, cond{path: p, want: want})
	}
	slices.SortFunc(out.when, func(a, b cond) int {
		return cmp.Or(cmp.Compare(a.path.kind, b.path.kind), cmp.Compare(a.path.src, b.path.src))
	})
	for _, l := range [...]struct {
		kind itemKind
		name string
		srcs []string
	}{{itemTag, "tags", r.Tags}, {itemURL, "urls", r.URLs}, {itemPrefix, "prefixes", r.Prefixes}} {
		for j, src := range l.srcs {
			field := fmt.Sprintf("%s[%d]", l.name, j)
			t, err := parseTemplate(src)
			if err == nil {
				err = l.kind.checkTemplate(&t)
			}
			if err != nil {
				fail(i, field, "%v", err)
				continue
			}
			out.items = append(out.items, item{kind: l.kind, field: field, t: t})
		}
	}
	for j, rt := range r.Routes {
		if msg := checkRoute(rt); msg != "" {
			fail(i, fmt.Sprintf("routes[%d]", j), "%s", msg)
		}
	}
	switch {
	case len(r.Tags)+len(r.URLs)+len(r.Prefixes)+len(r.Routes) == 0 && !r.All:
		fail(i, "", "the rule purges nothing: give it tags, urls, prefixes, routes or all")
	case r.Soft && len(r.Tags)+len(r.URLs)+len(r.Prefixes) == 0:
		fail(i, "soft", "soft applies to tags, urls and prefixes; routes and all are always hard")
	}
	return out
}

// checkTemplate rejects what could never make a valid item: a template
// without placeholders is checked as the item; one with them, by its
// literal text.
func (k itemKind) checkTemplate(t *template) error {
	if t.src == "" {
		return fmt.Errorf("empty: want a template, e.g. %s", k.example())
	}
	if s, ok := t.literal(); ok {
		if msg := k.check(s); msg != "" {
			return fmt.Errorf("%s", msg)
		}
		return nil
	}
	switch {
	case k == itemURL && !hasPrefixFold(t.src, "http://") && !hasPrefixFold(t.src, "https://"):
		return fmt.Errorf("%q does not start with http:// or https://: want an absolute URL, e.g. %s", t.src, k.example())
	case k == itemPrefix && !strings.HasPrefix(t.src, "/"):
		return fmt.Errorf("%q does not start with /: want a path prefix, e.g. %s", t.src, k.example())
	}
	n := 0
	for _, sg := range t.segs {
		n += len(sg.lit)
		if k != itemPrefix && strings.IndexFunc(sg.lit, unicode.IsSpace) >= 0 {
			return fmt.Errorf("%q has a space: %s cannot contain one", t.src, k.plural())
		}
		if strings.IndexFunc(sg.lit, unicode.IsControl) >= 0 {
			return fmt.Errorf("%q has a control character", t.src)
		}
	}
	if limit := k.maxLen(); n > limit {
		return fmt.Errorf("%q is longer than %d bytes without its values", t.src, limit)
	}
	return nil
}

func (k itemKind) example() string {
	return [...]string{"book:{id}", "https://api.example.com/books/{id}", "/books/{id}/"}[k]
}

func (k itemKind) plural() string { return [...]string{"tags", "urls", "prefixes"}[k] }

// checkRoute returns what is wrong with a route pattern, or "". The
// gateway names routes by their pattern; this only checks the shape.
func checkRoute(r string) string {
	method, p, _ := strings.Cut(r, " ")
	switch {
	case method == "" || strings.IndexFunc(method, func(c rune) bool { return c < 'A' || c > 'Z' }) >= 0:
		return fmt.Sprintf("%q: want a route pattern, METHOD /path, e.g. GET /books/{id}", r)
	case !strings.HasPrefix(p, "/"):
		return fmt.Sprintf("%q: the path must start with /, e.g. GET /books/{id}", r)
	case strings.IndexFunc(p, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }) >= 0:
		return fmt.Sprintf("%q: the path has a space or a control character", r)
	}
	return ""
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
