// Package edgetest runs moat behind a real Varnish (varnishd with
// varnish-modules' xkey, deploy/varnish/moat.vcl) on loopback: purges and
// writes made through moat evict Varnish's objects too.
package edgetest
