package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// A FieldError is one problem at one place in a config. Its text is
// "FILE:LINE: KEY: MESSAGE", dropping the parts that are unknown, with "warning: " before the
// message of a warning:
//
//	moat.yaml:14: routes[2].ttl: invalid duration "5x" (use e.g. 30s, 5m, 1h)
//	moat.yaml: origin.url: required to serve (...)
//	config: cache.memory: 512KiB is below the minimum of 1MiB
//	moat.yaml:12: routes[0].ttl: warning: 90 days is more than 30 days (...)
type FieldError struct {
	Source string // file name given to Load or Parse; "" for configs built in code ("config")
	Line   int    // 1-based line in Source; 0 when unknown
	Key    string // key path such as "routes[2].ttl"; "" for whole-document problems
	Msg    string // what is wrong and, where possible, how to fix it

	// Warning marks a setting that is valid but probably unsafe or without effect; see
	// [Config.Warnings]. Errors (from Load, Parse, Validate, ValidateServe) never set it.
	Warning bool
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(cmp.Or(e.Source, "config"))
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	if e.Warning {
		b.WriteString("warning: ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Error is every problem found in one config, sorted by line (problems without a line first).
// Load, Parse, Validate and ValidateServe return it; use errors.As to get at it. Its text is one
// FieldError per line.
type Error struct {
	errs []*FieldError
}

// Errors returns the individual problems, sorted by line.
func (e *Error) Errors() []*FieldError { return slices.Clone(e.errs) }

func (e *Error) Error() string {
	var b strings.Builder
	for i, fe := range e.errs {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(fe.Error())
	}
	return b.String()
}

// Unwrap returns the individual problems, for errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	out := make([]error, len(e.errs))
	for i, fe := range e.errs {
		out[i] = fe
	}
	return out
}

// maxErrors bounds what one config can report, so that aliases in a hostile file cannot turn
// one bad key into millions of errors.
const maxErrors = 100

// problems collects FieldErrors for one source, dropping exact repeats (an anchored mapping
// that is merged into several places reports a bad key once).
type problems struct {
	source  string
	list    []*FieldError
	seen    map[FieldError]bool
	dropped int
}

func (p *problems) addf(line int, key, format string, args ...any) {
	p.add(&FieldError{Source: p.source, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (p *problems) add(fe *FieldError) {
	if p.seen == nil {
		p.seen = make(map[FieldError]bool)
	}
	if p.seen[*fe] {
		return
	}
	if len(p.list) >= maxErrors {
		p.dropped++
		return
	}
	p.seen[*fe] = true
	p.list = append(p.list, fe)
}

// err returns the collected problems as an *Error sorted by line, or nil if there are none.
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	list := slices.Clone(p.list)
	slices.SortStableFunc(list, func(a, b *FieldError) int { return cmp.Compare(a.Line, b.Line) })
	if p.dropped > 0 {
		list = append(list, &FieldError{Source: p.source, Msg: fmt.Sprintf("too many errors; %d more not shown", p.dropped)})
	}
	return &Error{errs: list}
}
