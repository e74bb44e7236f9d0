// Package compress handles content codings (RFC 9110 §8.4) for a cache that
// stores one representation per entry, whatever its clients accept.
//
// Accept-Encoding never fragments the cache. Each entry is stored once, in
// the coding that the recent client mix warrants, and every client is
// answered from that one copy: with the stored bytes as they are when the
// client accepts their coding, or decoded on the fly when it does not.
//
// The data flow through the gateway:
//
//	request ─▶ AcceptEncoding ─▶ Mix.Observe          (every request, no allocation)
//	origin response ─▶ ParseEncoding(Content-Encoding)
//	    identity, Compressible ─▶ Encode(Mix.Choose()) ─▶ store (coding, bytes)
//	    gzip, br or zstd       ─▶ store as is
//	    stacked or unknown     ─▶ store as is, never transcoded
//	hit ─▶ Accepts(accept, stored)
//	    yes ─▶ the stored bytes, Content-Encoding: stored
//	    no  ─▶ decoded, no Content-Encoding
//	    ─▶ AddVary: Vary: Accept-Encoding on every response of the entry
//
// A gateway built on this package also keeps these rules, which live in the
// packages that own the key, the origin request and the response headers:
//
//   - Accept-Encoding is not part of the cache key, even when the origin
//     sends Vary: Accept-Encoding; its other Vary fields still count. An entry
//     stored in a stacked or unknown coding is the exception: it cannot be
//     decoded, so a client that does not accept its codings goes to the
//     origin.
//   - The origin request carries moat's Accept-Encoding, not the client's,
//     listing only codings this package decodes ("br, zstd, gzip"), so that
//     what is stored does not depend on which client missed first.
//   - Cache-Control: no-transform forbids changing the coding (RFC 9110 §7.7,
//     RFC 9111 §5.2.2.6): such a response is neither encoded nor decoded.
//   - A coded and a decoded copy are different representations: a response in
//     a coding other than the origin's gets a weak ETag (RFC 9110 §8.8.3),
//     no Content-Digest or Repr-Digest, a Content-Length of its own bytes (keep
//     the identity length in the entry), and ignores Range with a 200.
//   - Vary: Accept-Encoding goes on 304s too (RFC 9110 §15.4.5).
//
// Parsing functions are pure and allocation-free; Mix is a single atomic
// word. The codecs reuse their encoder and decoder state through sync.Pool,
// so the package keeps pools but no other state.
package compress
