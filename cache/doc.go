// Package cache holds moat's stored responses and the tiers that keep them.
//
// Data flow: the gateway builds a canonical key for a request and asks a Tier
// (usually a Chain of L1 memory over an optional shared L2) for the Entry
// stored under it. A Chain looks each tier up in order and, on a lower-tier
// hit, fills the tiers above it, so the next lookup is answered by memory.
// Concurrent misses on one key are coalesced by a Group: one caller (the
// leader) fetches from the origin and stores; the others wait for it and then
// look the key up again, so every waiter is answered from what was stored
// under its own key (never from the leader's response as such, which may
// vary on headers the waiter does not share).
//
// A tier knows nothing of *http.Request: it maps strings to entries.
package cache
