package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// Load reads the config file at path, then parses and validates it like Parse, naming path in
// every error. Relative TLS file paths are resolved against the directory of path.
//
// A file that cannot be read is reported as the os error, wrapped; problems in its content
// are an *Error.
func Load(path string) (*Config, error) { return load(path, false) }

// LoadServe is Load for a config that will serve: it also requires
// origin.url, and reports its absence with every other problem of the file
// in one pass (as ValidateServe does after Load).
func LoadServe(path string) (*Config, error) { return load(path, true) }

func load(path string, serve bool) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parse(data, path, parseOptions{baseDir: filepath.Dir(path), serve: serve})
}

// Parse decodes a YAML config over Default, fills Source and Route.Line, and validates the
// result with Validate. Errors name source as the file. On any problem it returns a nil Config
// and an *Error listing every problem found, sorted by line.
func Parse(data []byte, source string) (*Config, error) {
	return parse(data, source, parseOptions{})
}

type parseOptions struct {
	baseDir   string                      // resolve relative paths against it; "" leaves them
	lookupEnv func(string) (string, bool) // nil means os.LookupEnv
	serve     bool                        // the config will serve: origin.url is required
}

func parse(data []byte, source string, opts parseOptions) (*Config, error) {
	errs := &problems{source: source}
	root, ok := parseYAML(data, errs)
	if !ok {
		return nil, errs.err()
	}

	c := Default()
	c.Source = source
	c.lines = make(map[string]int)
	d := &decoder{
		errs:      errs,
		lines:     c.lines,
		failed:    make(map[string]bool),
		lookupEnv: opts.lookupEnv,
		baseDir:   opts.baseDir,
		budget:    maxNodeVisits,
	}
	if root != nil {
		d.value(root, reflect.ValueOf(c).Elem(), "", root.Line, field{})
	}
	for i := range c.Routes {
		c.Routes[i].Line = c.lines[fmt.Sprintf("routes[%d]", i)]
	}
	if len(c.Volatility) == 0 {
		c.Volatility = nil // "volatility: {}" and no key at all mean the same
	}

	// A key that failed to decode still holds its default (or a zero value inside a list),
	// so Validate's opinion of it would only repeat the decode error, or be wrong.
	for _, fe := range c.validate() {
		if !d.failedWithin(fe.Key) {
			errs.add(fe)
		}
	}
	if opts.serve && !d.failedWithin("origin.url") {
		c.requireOrigin(errs)
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// failedWithin reports whether key or one of the keys containing it failed to decode.
func (d *decoder) failedWithin(key string) bool {
	for k := key; k != ""; k = parentKey(k) {
		if d.failed[k] {
			return true
		}
	}
	return false
}

// parentKey strips the last element of a key path: "routes[2].ttl" → "routes[2]" → "routes".
func parentKey(k string) string {
	for i := len(k) - 1; i >= 0; i-- {
		switch k[i] {
		case '.':
			return k[:i]
		case '[':
			return k[:i]
		}
	}
	return ""
}

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML parses data into a node tree and returns its top-level value: nil for an empty
// document. ok is false after a syntax error, which is recorded in errs.
func parseYAML(data []byte, errs *problems) (root *yaml.Node, ok bool) {
	defer func() {
		// yaml.v3 has panicked on malformed input before; a config loader must not.
		if r := recover(); r != nil {
			errs.addf(0, "", "malformed YAML: %v", r)
			root, ok = nil, false
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, true
		}
		errs.add(yamlError(errs.source, err))
		return nil, false
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		errs.add(yamlError(errs.source, err))
		return nil, false
	default:
		errs.addf(next.Line, "", "a config is one YAML document; remove the second one (and its ---)")
		return nil, false
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, true
	}
	return doc.Content[0], true
}

// yamlParserProblems are the problems yaml.v3's parser (as opposed to its scanner) reports. It
// gives their line 0-based, unlike everything else, and they are the most common syntax errors.
var yamlParserProblems = []string{
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected '-' indicator",
	"did not find expected <document start>",
	"did not find expected key",
	"did not find expected node content",
	"found duplicate %YAML directive",
	"found duplicate %TAG directive",
	"found incompatible YAML document",
	"found undefined tag handle",
}

// yamlError turns a yaml.v3 syntax error ("yaml: line 3: did not find expected key") into a
// FieldError at that line.
func yamlError(source string, err error) *FieldError {
	msg := err.Error()
	if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if slices.Contains(yamlParserProblems, m[2]) {
			line++
		}
		return &FieldError{Source: source, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	if len(msg) > 6 && msg[:6] == "yaml: " {
		msg = msg[6:]
	}
	return &FieldError{Source: source, Msg: "invalid YAML: " + msg}
}
