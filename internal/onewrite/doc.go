// Package onewrite sends a whole HTTP/1.1 response (status line, headers and
// body) in one write(2) while keeping net/http for everything else: HTTP/2,
// TLS, timeouts, Hijack and middleware. It is the "bigbuf" technique measured
// in notes/perf-one-write.md: at 16 KiB net/http needs two writes per
// response (its 4 KiB connection bufio fills and spills), and the second write
// costs a syscall, a segment and a client wake-up.
//
// Data flow. A [Listener] wraps the TCP listener; each accepted connection is
// a [Conn]. net/http writes the response into Conn, which copies the bytes
// into a pooled 32 KiB buffer, taken on the first write and returned when
// flushed, so idle keep-alive connections hold no extra memory. A write that
// does not fit goes out at once together with the buffered bytes, in one
// writev. The buffer is flushed:
//
//   - when the write deadline changes: net/http clears it right after the
//     handler's response is complete, so the response leaves in one write
//     while WriteTimeout still applies;
//   - before every Read (keep-alive, pipelining, Expect: 100-continue, the TLS
//     handshake): the peer may be waiting for what is buffered;
//   - by [ConnState] at StateIdle and before StateHijacked;
//   - by Flush on the ResponseWriter given by [Handler] (streaming), and by
//     [Flush];
//   - on Close and CloseWrite.
//
// Pass-through. A Conn stops buffering for good after Hijack, and for
// HTTP/2 (ALPN "h2", or the cleartext "PRI * HTTP/2.0" preface): HTTP/2
// reads and writes on different goroutines, so a buffered frame could wait
// for a read that waits for it. TLS connections (first byte 0x16) start in
// pass-through and buffer from their first HTTP/1.x request on, when
// [ConnState] sees StateActive with a negotiated protocol other than "h2".
//
// Wiring (see [Configure], which does the last three steps):
//
//	ln = &onewrite.Listener{Listener: ln, FlushTimeout: srv.WriteTimeout}
//	onewrite.Configure(srv) // ConnState, ConnContext, Handler
//	srv.Serve(ln)           // or srv.Serve(tls.NewListener(ln, cfg))
//
// WARNING: this package depends on how net/http drives its connection: the
// ConnState hook receives the net.Conn the listener returned, Flush reaches
// only net/http's buffers, the write deadline is cleared after each response.
// A Go upgrade can change any of these; the probe tests in this package
// (keep-alive, pipelining, HTTP/1.0, request bodies, 100-continue, streaming,
// Hijack, HTTP/2 and HTTP/1.1 over TLS) exist to catch it.
package onewrite
