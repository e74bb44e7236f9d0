package httpcache

import (
	"net/http"
	"strconv"
	"strings"
)

// TargetedView returns the response header h as a cache that honours the
// targeted cache-control fields (RFC 9213) sees it: the first of fields
// (canonical names, in priority order) that h holds and that parses as a
// Structured Fields Dictionary replaces Cache-Control, and Expires is
// ignored (§2.2). With none of them present and valid it returns h itself
// and "". The view is a shallow copy: do not modify it, and keep storing
// and sending h.
func TargetedView(h http.Header, fields []string) (http.Header, string) {
	for _, name := range fields {
		lines := h[name]
		if len(lines) == 0 {
			continue
		}
		cc, ok := targetedDirectives(strings.Join(lines, ", "))
		if !ok {
			continue // invalid: as if absent (§2.2)
		}
		view := make(http.Header, len(h))
		for k, v := range h {
			view[k] = v
		}
		delete(view, "Expires")
		if cc == "" {
			delete(view, "Cache-Control")
		} else {
			view["Cache-Control"] = []string{cc}
		}
		return view, name
	}
	return h, ""
}

// targetedDirectives parses a targeted field's value, an sf-dictionary
// (RFC 8941 §3.2), into Cache-Control syntax: a true boolean is the bare
// directive, false leaves it out, integers, tokens and strings are its
// argument; parameters are ignored (RFC 9213 §2.1). A value that is not a
// dictionary, or holds an inner list, decimal or byte sequence, is invalid.
func targetedDirectives(s string) (string, bool) {
	var out []string
	p := sfParser{s: s}
	p.ows()
	if p.done() {
		return "", true
	}
	for {
		key, ok := p.key()
		if !ok {
			return "", false
		}
		val, present := "", true
		if p.peek('=') {
			p.i++
			switch {
			case p.peek('?'):
				if p.i+1 >= len(p.s) || (p.s[p.i+1] != '0' && p.s[p.i+1] != '1') {
					return "", false
				}
				present = p.s[p.i+1] == '1'
				p.i += 2
			case p.peek('"'):
				str, ok := p.str()
				if !ok {
					return "", false
				}
				val = strconv.Quote(str)
			case p.i < len(p.s) && (p.s[p.i] == '-' || isDigit(p.s[p.i])):
				n, ok := p.integer()
				if !ok {
					return "", false
				}
				val = n
			case p.i < len(p.s) && (isAlpha(p.s[p.i]) || p.s[p.i] == '*'):
				val = p.token()
			default:
				return "", false
			}
		}
		if !p.params() {
			return "", false
		}
		if present {
			if val != "" {
				out = append(out, key+"="+val)
			} else {
				out = append(out, key)
			}
		}
		p.ows()
		if p.done() {
			return strings.Join(out, ", "), true
		}
		if !p.peek(',') {
			return "", false
		}
		p.i++
		p.ows()
		if p.done() {
			return "", false // a trailing comma
		}
	}
}

type sfParser struct {
	s string
	i int
}

func (p *sfParser) done() bool       { return p.i >= len(p.s) }
func (p *sfParser) peek(c byte) bool { return p.i < len(p.s) && p.s[p.i] == c }
func (p *sfParser) ows() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

// key is an sf key: lcalpha or "*", then lcalpha, digits, "_-.*".
func (p *sfParser) key() (string, bool) {
	start := p.i
	if p.done() || !(p.s[p.i] >= 'a' && p.s[p.i] <= 'z' || p.s[p.i] == '*') {
		return "", false
	}
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c >= 'a' && c <= 'z' || isDigit(c) || c == '_' || c == '-' || c == '.' || c == '*' {
			p.i++
			continue
		}
		break
	}
	return p.s[start:p.i], true
}

func (p *sfParser) integer() (string, bool) {
	start := p.i
	if p.peek('-') {
		p.i++
	}
	digits := 0
	for p.i < len(p.s) && isDigit(p.s[p.i]) {
		p.i++
		digits++
	}
	if digits == 0 || digits > 15 || p.peek('.') {
		return "", false
	}
	return p.s[start:p.i], true
}

func (p *sfParser) token() string {
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if isAlpha(c) || isDigit(c) || strings.IndexByte("!#$%&'*+-.^_`|~:/", c) >= 0 {
			p.i++
			continue
		}
		break
	}
	return p.s[start:p.i]
}

func (p *sfParser) str() (string, bool) {
	p.i++ // the opening quote
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '\\':
			if p.i >= len(p.s) || (p.s[p.i] != '"' && p.s[p.i] != '\\') {
				return "", false
			}
			b.WriteByte(p.s[p.i])
			p.i++
		case c == '"':
			return b.String(), true
		case c < 0x20 || c > 0x7e:
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return "", false
}

// params skips a member's parameters (";key[=value]"), checking their
// syntax.
func (p *sfParser) params() bool {
	for p.peek(';') {
		p.i++
		p.ows()
		if _, ok := p.key(); !ok {
			return false
		}
		if p.peek('=') {
			p.i++
			switch {
			case p.peek('"'):
				if _, ok := p.str(); !ok {
					return false
				}
			case p.peek('?'):
				p.i += 2
			case p.i < len(p.s) && (p.s[p.i] == '-' || isDigit(p.s[p.i])):
				if _, ok := p.integer(); !ok {
					return false
				}
			case p.i < len(p.s) && (isAlpha(p.s[p.i]) || p.s[p.i] == '*'):
				p.token()
			default:
				return false
			}
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
