package gateway

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/moatproxy/moat/policy"
)

// Bounds on tags, so one response cannot blow up the tag index.
const (
	maxTagsPerEntry = 64
	maxTagLen       = 256
)

// ExtensionTagsHeader is the response field in which an Extension's
// RoundTrip lists the tags of the entry it answers for (space separated),
// whatever tag fields the origin's responses use; it is never stored or
// sent on.
const ExtensionTagsHeader = "Moat-Extension-Tags"

func (h *Handler) isTagHeader(k string) bool {
	for _, t := range h.tagHeaders {
		if k == t {
			return true
		}
	}
	return false
}

// entryTags collects an entry's tags: those the origin lists in the tag
// header fields, and the route's templates expanded with the request's
// path values. Duplicates are dropped; the count and length are bounded.
func (h *Handler) entryTags(hdr http.Header, pol *policy.Policy, path string) []string {
	var tags []string
	add := func(t string) {
		if t == "" || len(t) > maxTagLen || len(tags) >= maxTagsPerEntry || slices.Contains(tags, t) {
			return
		}
		tags = append(tags, t)
	}
	for _, line := range hdr[ExtensionTagsHeader] {
		for _, t := range splitTags(line) {
			add(t)
		}
	}
	for _, name := range h.tagHeaders {
		for _, line := range hdr[name] {
			for _, t := range splitTags(line) {
				add(t)
			}
		}
	}
	if pol != nil {
		for _, t := range pol.Expand(pol.Tags, path) {
			add(t)
		}
	}
	return tags
}

// splitTags splits a tag field value on spaces and commas.
func splitTags(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' })
}

// originInvalidation applies an origin's X-Moat-Invalidate (tags to purge,
// space or comma separated) and removes the field from the response.
func (h *Handler) originInvalidation(ctx context.Context, resp *http.Response) {
	lines, ok := resp.Header["X-Moat-Invalidate"]
	if !ok {
		return
	}
	resp.Header.Del("X-Moat-Invalidate")
	var tags []string
	for _, l := range lines {
		tags = append(tags, splitTags(l)...)
	}
	if len(tags) == 0 {
		return
	}
	if _, err := h.purge(ctx, Purge{Tags: tags}, PurgeHeader); err != nil {
		h.log.Warn("X-Moat-Invalidate failed", "err", err)
	}
}

// downstreamHeaders sets what clients see of a response of route pol: the
// route's downstream Cache-Control, and no tag fields unless configured.
func (h *Handler) downstreamHeaders(hdr http.Header, pol *policy.Policy) {
	if !h.tagsDown {
		for _, name := range h.tagHeaders {
			if pol == nil || !slices.Contains(pol.TagFields, name) {
				delete(hdr, name)
			}
		}
	}
	for _, name := range h.targetedOwn {
		delete(hdr, name) // aimed at moat: it stops here
	}
	h.downstreamCacheControl(hdr, pol)
}

// downstreamCacheControl sets the route's downstream Cache-Control, if it
// has one. Stored headers never hold tag fields unless they go
// downstream, so hits need only this half of downstreamHeaders.
func (h *Handler) downstreamCacheControl(hdr http.Header, pol *policy.Policy) {
	if pol != nil && pol.Downstream != "" {
		hdr["Cache-Control"] = h.downstream[pol]
	}
	if h.downstreamFields != nil {
		for k, v := range h.downstreamFields[pol] {
			hdr[k] = v
		}
	}
}

// setTagFields writes tags into the route's tag fields of hdr (see
// policy.Policy.TagFields).
func setTagFields(hdr http.Header, pol *policy.Policy, tags []string) {
	if pol == nil || len(pol.TagFields) == 0 {
		return
	}
	tags = visibleTags(tags)
	if len(tags) == 0 {
		return
	}
	for _, name := range pol.TagFields {
		sep := ","
		if name == "Surrogate-Key" || name == "Xkey" {
			sep = " "
		}
		hdr[name] = []string{strings.Join(tags, sep)}
	}
}

// urlTagPrefix starts the tag that indexes a scoped or dimensioned entry
// (a tier's, a user's, a variant's) under the key of its URL alone, so that
// invalidating a URL (RFC 9111 §4.4 after every successful write, a purge
// by URL) finds all of them in the tag index instead of scanning the tier:
// a flood of writes would otherwise cost a walk of every entry each. The
// NUL keeps it apart from every tag an origin or a route can name.
const urlTagPrefix = "\x00url "

func urlTag(base string) string { return urlTagPrefix + base }

// visibleTags returns tags without the internal URL tag, for display.
func visibleTags(tags []string) []string {
	if !slices.ContainsFunc(tags, isURLTag) {
		return tags
	}
	return slices.DeleteFunc(slices.Clone(tags), isURLTag)
}

func isURLTag(t string) bool { return strings.HasPrefix(t, urlTagPrefix) }
