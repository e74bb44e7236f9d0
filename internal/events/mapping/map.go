package mapping

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds on what an event makes.
const (
	maxTagLen = 256  // as the gateway's tags
	maxURLLen = 4096 // URLs and prefixes
	// maxIDLen bounds the IDs a node remembers (counted at about 100
	// bytes an ID): a longer one is replaced by its SHA-256.
	maxIDLen = 128
)

// Map returns the purges msg asks for. On error, the Result carries only
// the event's ID, if it was worked out, so that an unmapped or invalid
// event can still be counted and a redelivery recognised.
//
// The payload is parsed only when a path needs it, and at most once. A
// payload that cannot be read is ErrParse only if the id template, or a
// when or template of a rule that runs, needs it: rules on $topic, $key
// and $header, and on a binary-mode CloudEvent's attributes, work with any
// payload. (The default ID of an "auto" or "cloudevents" source reads the
// payload to tell a structured CloudEvent; if it cannot, the ID is the
// transport's.) A rule's when is checked before its templates, its
// document paths last, and the rules in order: the first failure ends Map.
func (m *Mapper) Map(msg Message) (Result, error) {
	ev := newEvent(m.format, &msg)
	if m.id != nil {
		id, err := ev.one(m.id)
		if err != nil {
			return Result{}, at(fmt.Sprintf("id %q", m.id.src), err)
		}
		ev.id = id
	} else {
		ev.id = ev.defaultID()
	}
	if len(ev.id) > maxIDLen {
		sum := sha256.Sum256([]byte(ev.id))
		ev.id = "sha256:" + hex.EncodeToString(sum[:])
	}
	res := Result{ID: ev.id}
	b := builder{budget: MaxItems}
	matched := false
	for i := range m.rules {
		r := &m.rules[i]
		ok, err := r.matches(&ev)
		if err != nil {
			return res, err
		}
		if !ok {
			continue
		}
		matched = true
		if err := b.add(r, &ev); err != nil {
			return res, err
		}
	}
	if !matched {
		return res, ErrUnmapped
	}
	res.Purges = b.purges()
	return res, nil
}

// one expands the id template, which must make exactly one value.
func (ev *event) one(t *template) (string, error) {
	budget := MaxItems
	ids, err := t.expand(ev, &budget, nil)
	switch {
	case err != nil:
		return "", err
	case len(ids) != 1:
		return "", invalidf("want one value, got a list of %d", len(ids))
	case ids[0] == "":
		return "", invalidf("the id is empty")
	}
	return ids[0], nil
}

func (r *rule) matches(ev *event) (bool, error) {
	for i := range r.when {
		c := &r.when[i]
		v, ok, err := ev.lookup(&c.path)
		if err != nil {
			return false, at(fmt.Sprintf("rules[%d].when.%s", r.index, c.path.src), err)
		}
		if !ok || !c.equals(v) {
			return false, nil
		}
	}
	return true, nil
}

// equals reports whether v, or an element of v, is one of the wanted
// values.
func (c *cond) equals(v any) bool {
	if list, ok := v.([]any); ok {
		return slices.ContainsFunc(list, c.equalsScalar)
	}
	return c.equalsScalar(v)
}

func (c *cond) equalsScalar(v any) bool {
	s, ok := scalar(v)
	return ok && slices.Contains(c.want, s)
}

// builder gathers the items of the rules that matched.
type builder struct {
	hard, soft Purge
	budget     int // items the event may still make
}

func (b *builder) add(r *rule, ev *event) error {
	p := &b.hard
	if r.soft {
		p = &b.soft
	}
	for i := range r.items {
		it := &r.items[i]
		list := p.list(it.kind)
		start := len(*list)
		var err error
		if *list, err = it.t.expand(ev, &b.budget, *list); err != nil {
			return at(fmt.Sprintf("rules[%d].%s %q", r.index, it.field, it.t.src), err)
		}
		for _, s := range (*list)[start:] {
			if msg := it.kind.check(s); msg != "" {
				return fmt.Errorf("%w: rules[%d].%s %q: %s", ErrInvalid, r.index, it.field, it.t.src, msg)
			}
		}
	}
	b.hard.Routes = append(b.hard.Routes, r.routes...)
	b.hard.All = b.hard.All || r.all
	return nil
}

func (p *Purge) list(k itemKind) *[]string {
	return [...]*[]string{&p.Tags, &p.URLs, &p.Prefixes}[k]
}

// purges deduplicates the items and drops from the soft purge what the
// hard one removes anyway.
func (b *builder) purges() []Purge {
	var out []Purge
	h, s := &b.hard, &b.soft
	for k := range itemKind(3) {
		*h.list(k) = dedupe(*h.list(k))
		*s.list(k) = slices.DeleteFunc(dedupe(*s.list(k)), func(v string) bool {
			return h.All || slices.Contains(*h.list(k), v)
		})
	}
	h.Routes = dedupe(h.Routes)
	for _, l := range [...]*[]string{&h.Tags, &h.URLs, &h.Prefixes, &h.Routes, &s.Tags, &s.URLs, &s.Prefixes} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	if len(h.Tags)+len(h.URLs)+len(h.Prefixes)+len(h.Routes) > 0 || h.All {
		out = append(out, *h)
	}
	if len(s.Tags)+len(s.URLs)+len(s.Prefixes) > 0 {
		s.Soft = true
		out = append(out, *s)
	}
	return out
}

// dedupe drops repeated strings, in place, keeping the first of each.
func dedupe(list []string) []string {
	if len(list) < 16 {
		out := list[:0]
		for _, s := range list {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
		return out
	}
	seen := make(map[string]struct{}, len(list))
	return slices.DeleteFunc(list, func(s string) bool {
		_, dup := seen[s]
		seen[s] = struct{}{}
		return dup
	})
}

// check returns what is wrong with an item the event made, or "".
func (k itemKind) check(s string) string {
	switch {
	case s == "":
		return "empty"
	case len(s) > k.maxLen():
		return fmt.Sprintf("%d bytes, more than %d", len(s), k.maxLen())
	case !utf8.ValidString(s):
		return fmt.Sprintf("%q is not UTF-8", s)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fmt.Sprintf("%q has a control character", s)
	case k != itemPrefix && strings.IndexFunc(s, unicode.IsSpace) >= 0:
		return fmt.Sprintf("%q has a space: %s cannot contain one", s, k.plural())
	}
	switch k {
	case itemURL:
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return fmt.Sprintf("%q is not an absolute http or https URL", s)
		}
	case itemPrefix:
		if !strings.HasPrefix(s, "/") {
			return fmt.Sprintf("%q does not start with /", s)
		}
	}
	return ""
}

func (k itemKind) maxLen() int {
	if k == itemTag {
		return maxTagLen
	}
	return maxURLLen
}

// problem is why a lookup or a template failed, before Map says where.
type problem struct {
	kind error // ErrParse or ErrInvalid
	msg  string
}

func (p *problem) Error() string { return p.kind.Error() + ": " + p.msg }

func parsef(format string, args ...any) error {
	return &problem{ErrParse, fmt.Sprintf(format, args...)}
}

func invalidf(format string, args ...any) error {
	return &problem{ErrInvalid, fmt.Sprintf(format, args...)}
}

// at says where err arose: "mapping: invalid event: rules[0].tags[0]
// "book:{id}": id is missing".
func at(where string, err error) error {
	var p *problem
	if errors.As(err, &p) {
		return fmt.Errorf("%w: %s: %s", p.kind, where, p.msg)
	}
	return err
}
