// Package flood checks that cache.memory bounds the moat process: it builds
// the moat binary, runs it as a subprocess in front of an origin in the test
// process, floods it, and reads the process's resident set from /proc.
//
// The floods are the ones that used to outgrow the budget: unique-URL GETs
// (every response stored once, never asked for again), distinct-URL POSTs
// (each an invalidation of its URL) and GETs of one tagged resource with a
// junk parameter (each stored answer carrying 64 tags). After each, the
// resident set must be at most 1.5 times cache.memory plus 32 MiB, and after
// the junk a tagged response of another route must still be stored.
//
//	go test -run Flood -v ./security/flood/                 # 32 MiB, about a minute
//	MOAT_FLOOD=full go test -run Flood -v -timeout 30m ./security/flood/   # 256 MiB, make flood
//
// It runs on Linux only (it reads /proc/PID/status) and is skipped with
// -short. It has no non-test code. docs/benchmarks.md ("Memory bound") has
// the figures it measured.
package flood
