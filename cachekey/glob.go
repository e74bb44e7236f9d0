package cachekey

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode/utf8"
)

// ErrInvalidPattern reports a parameter pattern that is not valid path.Match
// syntax. Errors wrapping it name the pattern and the list it came from.
var ErrInvalidPattern = errors.New("cachekey: invalid glob pattern")

// nameMatcher matches decoded parameter names against glob patterns in
// path.Match syntax, ignoring ASCII case. Unlike path.Match, '*' and '?'
// also match '/', since a parameter name is not a path, and '*' consumes
// whole UTF-8 characters.
//
// Most patterns are a plain name or a name followed by '*', so those are
// looked up in a set or compared as prefixes; only the rest run the
// general matcher. Most names match nothing, and the first-byte filter
// says so at once.
type nameMatcher struct {
	first    byteSet // first bytes a match can start with
	exact    nameSet
	prefixes []string
	globs    []string
}

// compileNames compiles patterns, naming list (the YAML key) in errors.
func compileNames(m *nameMatcher, list string, patterns []string) error {
	for i, p := range patterns {
		lp := lowerASCII(p)
		if _, err := path.Match(lp, ""); err != nil || p == "" {
			return fmt.Errorf("%w %q at %s[%d]", ErrInvalidPattern, p, list, i)
		}
		meta := strings.IndexAny(lp, `*?[\`)
		switch {
		case meta < 0:
			m.exact.add(lp)
		case meta == len(lp)-1 && lp[meta] == '*':
			m.prefixes = append(m.prefixes, lp[:meta])
		default:
			m.globs = append(m.globs, lp)
		}
		switch {
		case meta == 0 && lp[0] == '\\' && len(lp) > 1:
			m.first.add(lp[1])
		case meta == 0:
			m.first.addAll() // a wildcard or class first: any byte may start a match
		default:
			m.first.add(lp[0])
		}
	}
	return nil
}

func (m *nameMatcher) empty() bool {
	return m.exact.len() == 0 && len(m.prefixes) == 0 && len(m.globs) == 0
}

// match reports whether the lower-cased name matches a pattern.
func (m *nameMatcher) match(name []byte) bool {
	if len(name) == 0 {
		return slices.Contains(m.prefixes, "") || m.matchGlobs(name)
	}
	if !m.first.has(name[0]) {
		return false
	}
	if m.exact.find(name) >= 0 {
		return true
	}
	for _, p := range m.prefixes {
		if len(name) >= len(p) && string(name[:len(p)]) == p {
			return true
		}
	}
	return m.matchGlobs(name)
}

func (m *nameMatcher) matchGlobs(name []byte) bool {
	for _, g := range m.globs {
		if globMatch(g, name) {
			return true
		}
	}
	return false
}

// byteSet is a set of bytes.
type byteSet [4]uint64

func (s *byteSet) add(c byte)      { s[c>>6] |= 1 << (c & 63) }
func (s *byteSet) has(c byte) bool { return s[c>>6]&(1<<(c&63)) != 0 }
func (s *byteSet) addAll()         { *s = byteSet{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)} }

// nameSet is a set of names, each with an index (its order of addition),
// found without hashing while it is small: a dozen names compared by
// length and bytes beat a map lookup on the hit path.
type nameSet struct {
	names []string
	index map[string]int // once there are more than smallSet names
}

const smallSet = 16

func (s *nameSet) len() int { return len(s.names) }

// add adds name, if new, and returns its index.
func (s *nameSet) add(name string) int {
	if i := s.find([]byte(name)); i >= 0 {
		return i
	}
	s.names = append(s.names, name)
	if len(s.names) > smallSet {
		if s.index == nil {
			s.index = make(map[string]int, len(s.names))
			for i, n := range s.names {
				s.index[n] = i
			}
		}
		s.index[name] = len(s.names) - 1
	}
	return len(s.names) - 1
}

// find returns the index of name, or -1.
func (s *nameSet) find(name []byte) int {
	if s.index != nil {
		if i, ok := s.index[string(name)]; ok {
			return i
		}
		return -1
	}
	for i, n := range s.names {
		if len(n) == len(name) && n == string(name) {
			return i
		}
	}
	return -1
}

// globMatch matches name against a valid path.Match pattern in which '*'
// and '?' match any character, '/' included. It backtracks only to the last
// '*', so it runs in O(len(pattern) × len(name)).
func globMatch(pat string, name []byte) bool {
	px, nx := 0, 0
	starPx, starNx := -1, 0
	for px < len(pat) || nx < len(name) {
		if px < len(pat) {
			switch pat[px] {
			case '*':
				starPx, starNx = px, nx
				px++
				continue
			case '?':
				if nx < len(name) {
					_, w := utf8.DecodeRune(name[nx:])
					px++
					nx += w
					continue
				}
			case '[':
				if nx < len(name) {
					r, w := utf8.DecodeRune(name[nx:])
					if n, ok := matchClass(pat[px:], r); ok {
						px += n
						nx += w
						continue
					}
				}
			case '\\':
				if px+1 < len(pat) && nx < len(name) && pat[px+1] == name[nx] {
					px += 2
					nx++
					continue
				}
			default:
				if nx < len(name) && pat[px] == name[nx] {
					px++
					nx++
					continue
				}
			}
		}
		if starPx < 0 || starNx >= len(name) {
			return false
		}
		_, w := utf8.DecodeRune(name[starNx:])
		starNx += w
		px, nx = starPx+1, starNx
	}
	return true
}

// matchClass matches r against the character class that starts pat
// ("[...]"), returning the length of the class and whether r is in it.
func matchClass(pat string, r rune) (n int, ok bool) {
	i := 1
	negate := i < len(pat) && pat[i] == '^'
	if negate {
		i++
	}
	in := false
	for first := true; i < len(pat); first = false {
		if pat[i] == ']' && !first {
			return i + 1, in != negate
		}
		lo, w := classChar(pat[i:])
		i += w
		hi := lo
		if i+1 < len(pat) && pat[i] == '-' {
			hi, w = classChar(pat[i+1:])
			i += 1 + w
		}
		if lo <= r && r <= hi {
			in = true
		}
		if w == 0 {
			break
		}
	}
	return len(pat), false // unterminated: compileNames rejects it
}

func classChar(s string) (rune, int) {
	if s == "" {
		return utf8.RuneError, 0
	}
	if s[0] == '\\' && len(s) > 1 {
		r, w := utf8.DecodeRuneInString(s[1:])
		return r, w + 1
	}
	return utf8.DecodeRuneInString(s)
}

// lowerASCII returns s with ASCII letters lower-cased; other bytes, valid
// UTF-8 or not, are kept so that distinct names stay distinct.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
