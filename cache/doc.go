// Package cache holds moat's stored responses and the tiers that keep them.
//
// Data flow: the gateway builds a canonical key for a request and asks a Tier
// (the in-memory L1, Memory) for the Entry stored under it. Concurrent misses on one key are coalesced by a Group: one caller (the
// leader) fetches from the origin and stores; the others wait for it and then
// look the key up again, so every waiter is answered from what was stored
// under its own key (never from the leader's response as such, which may
// vary on headers the waiter does not share).
//
// A tier knows nothing of *http.Request: it maps strings to entries.
package cache
