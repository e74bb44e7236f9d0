// Package security is moat's own security suite: end-to-end tests that attack
// a real moat (internal/server, built from YAML through the same path as
// `moat serve`) in front of a real origin that records exactly what it
// receives. It has no non-test code; run it with
//
//	make security        # go test -race -count=1 ./security/...
//
// One file per class of attack, each case a named subtest that states the
// rule it checks:
//
//	poisoning_test.go    poisoning by unkeyed input (headers, host, body, hop-by-hop)
//	paths_test.go        path and parameter confusion (dot segments, escapes, queries)
//	deception_test.go    web cache deception (private pages under static-looking URLs)
//	credentials_test.go  credentials, tiers and scopes
//	framing_test.go      request smuggling and message framing (raw TCP)
//	origin_test.go       origin faults (truncation, errors, storms, slow clients)
//	resources_test.go    bounded floods (indexes, memory, queues, body timeouts)
//	admin_test.go        the admin surface and client-side invalidation
//	configs_test.go      dangerous configurations
//
// The big memory flood lives in security/flood (make flood). The threat model
// and the guarantees these tests hold moat to are in docs/security.md.
package security
