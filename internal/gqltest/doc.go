// Package gqltest runs a real GraphQL origin for tests: a library of books and
// authors served by github.com/graph-gophers/graphql-go on a loopback
// httptest.Server.
//
// A request flows through [Server] in this order:
//
//  1. The HTTP request is decoded (POST application/json, POST
//     application/graphql, or GET with URL parameters).
//  2. It is recorded as a [Request], with the names of its root fields as
//     github.com/vektah/gqlparser/v2/parser reads them, and one value is sent
//     on [Server.Arrived].
//  3. While [Server.Hold] is in force, it waits for release.
//  4. While [Server.Fail] is in force, it is answered with that status and a
//     plain-text body that is not GraphQL.
//  5. Otherwise the operation runs against the in-memory library and the
//     result of graph-gophers (data, errors with their path, extensions) is
//     answered as application/json.
//
// Status codes: whatever graph-gophers executes is answered 200, errors
// included; a query that does not parse or validate is answered as
// graph-gophers answers it, 200 with {"errors":[...]} and no "data". Requests
// it never sees get a GraphQL error body ({"errors":[{"message":...}]}) with
// 400 (a batch array, malformed JSON, no query, variables that are not
// JSON), 415 (another content type) or 405 (another method, or a mutation
// over GET, with Allow: POST). Only the path /graphql is served and recorded.
//
// Each Server owns its data: tests that mutate books do not disturb others.
// The schema is [SDL], the file schema.graphql that moat also reads as the
// origin's schema, with Apollo's @cacheControl hints.
package gqltest
