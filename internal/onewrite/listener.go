package onewrite

import (
	"net"
	"time"
)

// Listener wraps a listener, normally a *net.TCPListener, so that its
// connections coalesce writes (see [Conn]). For TLS, give the Listener to
// tls.NewListener: the TLS records of one response are then coalesced too.
type Listener struct {
	net.Listener

	// FlushTimeout bounds a flush that runs while no write deadline is set:
	// net/http clears its deadline before StateIdle, Hijack and Close, and
	// sets none without http.Server.WriteTimeout. Set it to the server's
	// WriteTimeout. Zero means 30 seconds; negative means no bound.
	FlushTimeout time.Duration

	countWrite func() // test hook, see Conn.countWrite
}

// Listen wraps ln with the default FlushTimeout.
func Listen(ln net.Listener) *Listener { return &Listener{Listener: ln} }

// Accept waits for the next connection and returns it as a *Conn.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newConn(c, l.FlushTimeout, l.countWrite), nil
}

var _ net.Listener = (*Listener)(nil)
