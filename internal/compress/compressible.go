package compress

import (
	"strings"

	"github.com/moatproxy/moat/internal/httpcache"
)

// MinSize is the smallest body Compressible accepts. Below it the coding's
// framing (18 bytes for gzip) eats most of the gain, and the response fits a
// single TCP segment either way.
const MinSize = 512

// Compressible reports whether a response with this Content-Type and a body
// of size bytes is worth compressing: textual and structured types (text/*,
// JSON, XML, YAML and their +json, +xml and +yaml suffixes, JavaScript, SVG,
// WebAssembly, uncompressed fonts and icons), at least MinSize bytes long.
// Images, audio, video, archives, WOFF fonts, PDFs and
// application/octet-stream are already compressed or unknown; an empty
// Content-Type is unknown. text/event-stream is excluded: a stream is never
// complete enough to compress once. A negative size means unknown, and only
// the type decides.
//
// Compressible does not allocate.
func Compressible(contentType string, size int) bool {
	if size >= 0 && size < MinSize {
		return false
	}
	mediaType, _, _ := strings.Cut(contentType, ";")
	typ, sub, ok := strings.Cut(httpcache.TrimOWS(mediaType), "/")
	if !ok || typ == "" || sub == "" {
		return false
	}
	if hasSuffixFold(sub, "+json") || hasSuffixFold(sub, "+xml") || hasSuffixFold(sub, "+yaml") {
		return true
	}
	switch {
	case strings.EqualFold(typ, "text"):
		return !strings.EqualFold(sub, "event-stream")
	case strings.EqualFold(typ, "application"):
		return anyFold(sub, compressibleApplication...)
	case strings.EqualFold(typ, "font"):
		return anyFold(sub, "ttf", "otf", "sfnt", "collection")
	case strings.EqualFold(typ, "image"):
		return anyFold(sub, "bmp", "x-ms-bmp", "x-icon", "vnd.microsoft.icon")
	}
	return false
}

// compressibleApplication lists the application/ subtypes, other than the
// structured-syntax suffixes, that are text or compress well.
var compressibleApplication = []string{
	"json", "x-ndjson", "ndjson", "jsonl", "json-seq",
	"javascript", "x-javascript", "ecmascript",
	"xml", "yaml", "x-yaml", "toml",
	"graphql", "sql", "x-sh", "x-www-form-urlencoded",
	"wasm", "rtf", "postscript",
	"vnd.ms-fontobject", "x-font-ttf", "x-font-otf", "font-sfnt",
}

func anyFold(s string, candidates ...string) bool {
	for _, c := range candidates {
		if strings.EqualFold(s, c) {
			return true
		}
	}
	return false
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) > len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}
