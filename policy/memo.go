package policy

import (
	"hash/maphash"
	"sync/atomic"
)

// matchMemo remembers recent route matches: ServeMux's matching is about a
// fifth of a cache hit's cost, and most traffic asks for a few paths. It is
// a fixed array of slots chosen by a seeded hash of what ServeMux matches
// on (method, host, path); a slot holds the last match that hashed to it,
// so clients that send ever-new paths only replace slots: memory stays
// under memoSlots × (memoMaxLen + the slot), whatever they send. A slot is
// used only when everything ServeMux reads is equal (method, host, and the
// URL's Path and RawPath, of which its escaped path is a function), so an
// answer is always the one ServeMux gave for that request. CONNECT, which
// ServeMux matches on the URL's host as well, is never memoized.
type matchMemo struct {
	seed  maphash.Seed
	slots [memoSlots]atomic.Pointer[memoEntry]
}

type memoEntry struct {
	method, host, path, raw string
	p                       *Policy
}

const (
	memoSlots  = 4096
	memoMaxLen = 512 // longer hosts and paths are matched every time
)

func newMatchMemo() *matchMemo { return &matchMemo{seed: maphash.MakeSeed()} }

func (m *matchMemo) slot(method, host, path, raw string) *atomic.Pointer[memoEntry] {
	var h maphash.Hash
	h.SetSeed(m.seed)
	h.WriteString(method)
	h.WriteByte(0)
	h.WriteString(host)
	h.WriteByte(0)
	h.WriteString(path)
	h.WriteByte(0)
	h.WriteString(raw)
	return &m.slots[h.Sum64()&(memoSlots-1)]
}

func memoable(method, host, path, raw string) bool {
	return method != "CONNECT" && len(host)+len(path)+len(raw) <= memoMaxLen
}

func (m *matchMemo) get(method, host, path, raw string) (*Policy, bool) {
	if !memoable(method, host, path, raw) {
		return nil, false
	}
	e := m.slot(method, host, path, raw).Load()
	if e == nil || e.path != path || e.raw != raw || e.host != host || e.method != method {
		return nil, false
	}
	return e.p, true
}

func (m *matchMemo) put(method, host, path, raw string, p *Policy) {
	if memoable(method, host, path, raw) {
		m.slot(method, host, path, raw).Store(&memoEntry{method, host, path, raw, p})
	}
}
