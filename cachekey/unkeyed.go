package cachekey

// UnkeyedHeaders are request header fields that common web frameworks and
// origin servers honour (to rewrite the URL, the method, the scheme, the
// host or the port they believe they serve) but that no cache key carries.
// A cache that forwards them lets one client's header choose the answer
// stored for everyone (web cache poisoning by unkeyed input), so moat
// removes them from every request before it reaches the origin, unless a
// route varies on one (then it is keyed).
//
// X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto and Forwarded are
// not listed: moat always replaces them with its own values.
var UnkeyedHeaders = []string{
	"X-Forwarded-Scheme",
	"X-Forwarded-Port",
	"X-Forwarded-Prefix",
	"X-Forwarded-Path",
	"X-Forwarded-Ssl",
	"X-Forwarded-Server",
	"X-Original-URL",
	"X-Original-Host",
	"X-Rewrite-URL",
	"X-Host",
	"X-HTTP-Host-Override",
	"X-HTTP-Method-Override",
	"X-HTTP-Method",
	"X-Method-Override",
	"Front-End-Https",
}
