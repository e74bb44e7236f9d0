package gqltest

import _ "embed"

//go:embed schema.graphql
var sdl string

// SDL returns the origin's schema, schema.graphql, as moat reads it: with the
// @cacheControl directive, its CacheControlScope enum and its uses.
// graph-gophers accepts them as they are, so the origin serves this very text.
func SDL() string { return sdl }
