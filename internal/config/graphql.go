package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"go.yaml.in/yaml/v3"
)

// GraphQL makes a route a GraphQL endpoint (docs/graphql.md): operations
// are normalized, split into root fields cached apart, and merged back;
// mutations purge the entities they change. The route's match is the
// endpoint's path, without a method (GET and POST are both GraphQL); its
// ttl is the max age of fields no hint covers.
type GraphQL struct {
	// Schema is the path of the API's schema (SDL). Optional; needed to
	// validate operations, read @cacheControl hints, flatten fragments and
	// add entity keys to queries.
	Schema string `yaml:"schema" config:"path"`
	// Keys are the fields that identify an entity, by type: {Book: id,
	// Edition: [isbn, lang]}.
	Keys map[string]Fields `yaml:"keys,omitempty"`
	// Hints are cache hints by type or field ("Query.books"), over the
	// schema's @cacheControl.
	Hints map[string]GraphQLHint `yaml:"hints,omitempty"`
	// PrivateScope is who shares a root field holding a private field:
	// user (default) or tier.
	PrivateScope string `yaml:"private_scope"`
	// Invalidate maps mutation fields ("Mutation.createBook") to tag
	// templates purged when they succeed ("Query.books",
	// "Author:{authorId}").
	Invalidate map[string][]string `yaml:"invalidate,omitempty"`
	// PersistedQueries accepts Apollo's automatic persisted queries.
	// Default true.
	PersistedQueries *bool `yaml:"persisted_queries"`
	// PersistedQueryTTL is how long a registered query is kept. Default 24h.
	PersistedQueryTTL Duration `yaml:"persisted_query_ttl"`
	// Safelist is the path of an Apollo persisted query manifest: when
	// set, only its operations are allowed.
	Safelist string `yaml:"safelist" config:"path"`
	// MaxBody bounds a request body. Default 1MiB.
	MaxBody ByteSize `yaml:"max_body"`

	// Loaded by Validate.
	schema   *ast.Schema
	safelist map[string]string
}

// GraphQLHint is a configured cache hint.
type GraphQLHint struct {
	MaxAge        *Duration `yaml:"max_age"`
	Scope         string    `yaml:"scope"` // public or private
	InheritMaxAge bool      `yaml:"inherit_max_age"`
}

// Fields is a list of field names, written as one name or a list.
type Fields []string

// UnmarshalYAML accepts "id" and [isbn, lang].
func (f *Fields) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*f = Fields{n.Value}
		return nil
	}
	var l []string
	if err := n.Decode(&l); err != nil {
		return errors.New("want a field name or a list of them")
	}
	*f = l
	return nil
}

// LoadedSchema returns the schema Validate loaded (nil without one).
func (g *GraphQL) LoadedSchema() *ast.Schema { return g.schema }

// LoadedSafelist returns the safelist Validate loaded, by SHA-256 (nil
// without one).
func (g *GraphQL) LoadedSafelist() map[string]string { return g.safelist }

// graphql checks the GraphQL routes: their schema, keys, hints, rules and
// safelist, loading the files.
func (k *checker) graphql() {
	for i := range k.c.Routes {
		r := &k.c.Routes[i]
		g := r.GraphQL
		if g == nil {
			continue
		}
		key := fmt.Sprintf("routes[%d].graphql", i)
		if m, _ := splitPattern(r.Match); m != "" {
			k.errorf(fmt.Sprintf("routes[%d].match", i), nil, "a GraphQL route answers GET and POST: write the path alone (%q), without %s", strings.TrimSpace(strings.TrimPrefix(r.Match, m)), m)
		}
		if !r.Cached() {
			k.errorf(key, []string{fmt.Sprintf("routes[%d].cache", i)}, "a GraphQL route with cache: false caches nothing; remove graphql or cache")
		}
		switch g.PrivateScope {
		case "", "user", "tier":
		default:
			k.errorf(key+".private_scope", nil, "want user or tier, got %q", g.PrivateScope)
		}
		if g.PersistedQueryTTL < 0 {
			k.errorf(key+".persisted_query_ttl", nil, "must not be negative")
		}
		if g.MaxBody < 0 {
			k.errorf(key+".max_body", nil, "must not be negative")
		}
		if g.Schema != "" {
			data, err := os.ReadFile(g.Schema)
			if err != nil {
				k.errorf(key+".schema", nil, "%v", err)
			} else if s, err := gqlparser.LoadSchema(&ast.Source{Name: g.Schema, Input: string(data)}); err != nil {
				k.errorf(key+".schema", nil, "%s", schemaError(g.Schema, err))
			} else {
				g.schema = s
			}
		}
		for typ, fs := range g.Keys {
			fkey := key + ".keys." + typ
			if len(fs) == 0 {
				k.errorf(fkey, nil, "name the fields that identify a %s", typ)
				continue
			}
			if g.schema == nil {
				continue
			}
			def := g.schema.Types[typ]
			if def == nil || def.Kind != ast.Object {
				k.errorf(fkey, nil, "%s is not an object type of the schema", typ)
				continue
			}
			for _, f := range fs {
				fd := def.Fields.ForName(f)
				if fd == nil {
					k.errorf(fkey, nil, "%s has no field %q", typ, f)
				} else if t := g.schema.Types[fd.Type.Name()]; t == nil || !t.IsLeafType() || len(fd.Arguments) > 0 {
					k.errorf(fkey, nil, "%s.%s is not a scalar field without arguments", typ, f)
				}
			}
		}
		for name, h := range g.Hints {
			hkey := key + ".hints." + name
			if h.MaxAge != nil && *h.MaxAge < 0 {
				k.errorf(hkey+".max_age", nil, "must not be negative")
			}
			switch h.Scope {
			case "", "public", "private":
			default:
				k.errorf(hkey+".scope", nil, "want public or private, got %q", h.Scope)
			}
			if g.schema != nil && !schemaHas(g.schema, name) {
				k.errorf(hkey, nil, "the schema has no type or field %q", name)
			}
		}
		for name, tags := range g.Invalidate {
			ikey := key + ".invalidate." + name
			typ, fname, ok := strings.Cut(name, ".")
			if !ok || typ != "Mutation" && (g.schema == nil || g.schema.Mutation == nil || typ != g.schema.Mutation.Name) {
				k.errorf(ikey, nil, "name a mutation field, e.g. Mutation.createBook")
				continue
			}
			if g.schema != nil && g.schema.Mutation != nil && g.schema.Mutation.Fields.ForName(fname) == nil {
				k.errorf(ikey, nil, "the schema has no mutation %q", fname)
			}
			for j, t := range tags {
				if t == "" || strings.ContainsAny(t, " ,\t") {
					k.errorf(fmt.Sprintf("%s[%d]", ikey, j), nil, "a tag template is one word, got %q", t)
				}
			}
		}
		if g.Safelist != "" {
			list, err := loadManifest(g.Safelist)
			if err != nil {
				k.errorf(key+".safelist", nil, "%v", err)
			} else {
				g.safelist = list
			}
		}
	}
}

// schemaError is a schema's errors with their lines in the schema file.
func schemaError(file string, err error) string {
	var list gqlerror.List
	var one *gqlerror.Error
	switch {
	case errors.As(err, &list):
	case errors.As(err, &one):
		list = gqlerror.List{one}
	default:
		return err.Error()
	}
	var msgs []string
	for _, e := range list {
		if len(e.Locations) > 0 {
			msgs = append(msgs, fmt.Sprintf("%s:%d: %s", file, e.Locations[0].Line, e.Message))
		} else {
			msgs = append(msgs, fmt.Sprintf("%s: %s", file, e.Message))
		}
	}
	return strings.Join(msgs, "; ")
}

// schemaHas reports whether name is a type ("Book") or a field
// ("Query.books") of s.
func schemaHas(s *ast.Schema, name string) bool {
	typ, field, hasField := strings.Cut(name, ".")
	def := s.Types[typ]
	if def == nil {
		return false
	}
	return !hasField || def.Fields.ForName(field) != nil
}

// loadManifest reads an Apollo persisted query manifest
// ({"format": "apollo-persisted-query-manifest", "version": 1,
// "operations": [{"id", "name", "type", "body"}]}) into a map from the
// SHA-256 of each body to the body, checking each id that is a SHA-256.
func loadManifest(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m struct {
		Format     string `json:"format"`
		Operations []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
			Body string `json:"body"`
		} `json:"operations"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: not a persisted query manifest: %w", path, err)
	}
	if m.Format != "" && m.Format != "apollo-persisted-query-manifest" {
		return nil, fmt.Errorf("%s: format %q, want apollo-persisted-query-manifest", path, m.Format)
	}
	out := make(map[string]string, len(m.Operations))
	for i, op := range m.Operations {
		if op.Body == "" {
			return nil, fmt.Errorf("%s: operations[%d] (%s) has no body", path, i, op.Name)
		}
		sum := sha256.Sum256([]byte(op.Body))
		h := hex.EncodeToString(sum[:])
		if len(op.ID) == 64 && !strings.EqualFold(op.ID, h) {
			return nil, fmt.Errorf("%s: operations[%d] (%s): id is not the SHA-256 of its body", path, i, op.Name)
		}
		out[h] = op.Body
	}
	return out, nil
}
