package mapping

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"strconv"
	"strings"
)

type format uint8

const (
	formatAuto format = iota
	formatJSON
	formatCloudEvents
)

// event is one message seen as a document, read lazily: the payload is
// parsed on the first lookup that needs it, once, and a payload that
// cannot be read is an error only for the lookups that need it. So rules
// on $topic, $key and $header, and a binary-mode CloudEvent's attributes,
// work whatever the payload is.
type event struct {
	msg    *Message
	format format
	// binary: the headers carry a binary-mode CloudEvent (ce_specversion
	// or ce-specversion, any case): attrs come from them, data from the
	// payload.
	binary bool
	attrs  map[string]any

	parsed bool
	root   map[string]any // json and structured mode: the payload's object
	data   any            // binary mode: the payload's value (nil: none)
	cloud  bool           // root is a structured-mode CloudEvent
	err    error          // why the payload could not be read (a *problem)

	id string
}

// newEvent tells the mode as the CloudEvents protocol bindings do (Kafka
// binding section 3, HTTP binding section 3): a structured-mode
// content-type first, then a specversion header for binary mode.
func newEvent(f format, msg *Message) event {
	ev := event{msg: msg, format: f}
	if f == formatJSON {
		return ev
	}
	if ct, _ := header(msg.Headers, "content-type"); isStructuredType(ct) {
		return ev
	}
	for name := range msg.Headers {
		if strings.EqualFold(name, "ce_specversion") || strings.EqualFold(name, "ce-specversion") {
			ev.binary = true
			break
		}
	}
	return ev
}

// lookup returns the value p names, or ok false if there is none. err,
// wrapping ErrParse, says the payload was needed and could not be read.
func (ev *event) lookup(p *path) (v any, ok bool, err error) {
	switch p.kind {
	case pathTopic:
		return ev.msg.Topic, true, nil
	case pathKey:
		return string(ev.msg.Key), ev.msg.Key != nil, nil
	case pathID:
		return ev.id, ev.id != "", nil
	case pathHeader:
		v, ok := header(ev.msg.Headers, p.header)
		return v, ok, nil
	}
	fields := p.fields
	if ev.binary {
		if fields[0] != "data" {
			return walk(ev.attributes(), fields)
		}
		ev.parse()
		if ev.err != nil {
			return nil, false, ev.err
		}
		if ev.data == nil {
			return nil, false, nil
		}
		return walk(ev.data, fields[1:])
	}
	ev.parse()
	if ev.err != nil {
		return nil, false, ev.err
	}
	return walk(ev.root, fields)
}

// walk follows fields down from v; a field indexes a list by number.
func walk(v any, fields []string) (any, bool, error) {
	for _, f := range fields {
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = c[f]; !ok {
				return nil, false, nil
			}
		case []any:
			i, err := strconv.Atoi(f)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false, nil
			}
			v = c[i]
		default:
			return nil, false, nil
		}
	}
	return v, true, nil
}

// parse reads the payload, once: in binary mode any JSON value (data),
// else a JSON object (root), a CloudEvent's if the format, the
// content-type or a string specversion says so.
func (ev *event) parse() {
	if ev.parsed {
		return
	}
	ev.parsed = true
	if ev.binary {
		if len(bytes.TrimSpace(ev.msg.Data)) > 0 { // a CloudEvent may have no data
			ev.data, ev.err = decode(ev.msg.Data)
		}
		return
	}
	v, err := decode(ev.msg.Data)
	if err != nil {
		ev.err = err
		return
	}
	obj, ok := v.(map[string]any)
	if !ok {
		ev.err = parsef("the payload is %s, want a JSON object", describe(v))
		return
	}
	_, spec := obj["specversion"].(string)
	switch ev.format {
	case formatCloudEvents:
		ev.cloud = true
	case formatAuto:
		ct, _ := header(ev.msg.Headers, "content-type")
		ev.cloud = spec || isStructuredType(ct)
	}
	if ev.cloud {
		if !spec {
			ev.err = parsef("a CloudEvent without a string specversion")
			return
		}
		if err := decodeBase64Data(obj); err != nil {
			ev.err = err
			return
		}
	}
	ev.root = obj
}

// decodeBase64Data replaces a structured CloudEvent's data_base64 (JSON
// format section 3.1: binary data, base64) by data: the decoded bytes
// parsed as JSON, or as text if they are not JSON.
func decodeBase64Data(obj map[string]any) error {
	raw, ok := obj["data_base64"]
	if !ok {
		return nil
	}
	s, ok := raw.(string)
	if !ok {
		return parsef("the CloudEvent's data_base64 is %s, want a string", describe(raw))
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return parsef("the CloudEvent's data_base64: %v", err)
	}
	delete(obj, "data_base64")
	if v, err := decode(b); err == nil {
		obj["data"] = v
	} else {
		obj["data"] = string(b)
	}
	return nil
}

// decode parses one JSON value, numbers as written (json.Number).
func decode(data []byte) (any, error) {
	if len(data) > MaxPayload {
		return nil, parsef("the payload is too large: %d bytes, more than %d", len(data), MaxPayload)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if err == io.EOF {
			return nil, parsef("the payload is empty, want JSON")
		}
		return nil, parsef("the payload is not JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, parsef("the payload is not JSON: more after the value")
	}
	return v, nil
}

// attributes are a binary-mode CloudEvent's: each ce_ or ce- header (any
// case) by its lower-case name, and the content-type as datacontenttype.
func (ev *event) attributes() map[string]any {
	if ev.attrs != nil {
		return ev.attrs
	}
	ev.attrs = make(map[string]any, len(ev.msg.Headers))
	for name, v := range ev.msg.Headers {
		if len(name) <= 3 || !strings.EqualFold(name[:2], "ce") || (name[2] != '_' && name[2] != '-') {
			continue
		}
		a := strings.ToLower(name[3:])
		if a == "data" {
			continue // data is the payload
		}
		// Two headers for one attribute (ce_type and Ce-Type): the smaller
		// value, so that the choice does not depend on map order.
		if old, ok := ev.attrs[a].(string); !ok || v < old {
			ev.attrs[a] = v
		}
	}
	if _, ok := ev.attrs["datacontenttype"]; !ok {
		if ct, ok := header(ev.msg.Headers, "content-type"); ok {
			ev.attrs["datacontenttype"] = ct
		}
	}
	return ev.attrs
}

// defaultID is the CloudEvent's source and id when the event is a
// CloudEvent that has an id, else the transport's ID.
func (ev *event) defaultID() string {
	if ev.binary {
		if id := cloudID(ev.attributes()); id != "" {
			return id
		}
	} else if ev.format != formatJSON {
		if ev.parse(); ev.cloud && ev.err == nil {
			if id := cloudID(ev.root); id != "" {
				return id
			}
		}
	}
	return ev.msg.TransportID
}

// cloudID joins source and id with a space, which a source (a URI
// reference) cannot contain, so that two pairs never make one ID.
func cloudID(attrs map[string]any) string {
	id, _ := scalar(attrs["id"])
	if id == "" {
		return ""
	}
	if src, _ := scalar(attrs["source"]); src != "" {
		return src + " " + id
	}
	return id
}

// header looks name up in any case; of two names differing only in case,
// the exact one, else the smaller, wins.
func header(h map[string]string, name string) (string, bool) {
	if v, ok := h[name]; ok {
		return v, true
	}
	var key, val string
	found := false
	for k, v := range h {
		if strings.EqualFold(k, name) && (!found || k < key) {
			key, val, found = k, v, true
		}
	}
	return val, found
}

// isStructuredType reports whether a content-type is a structured-mode
// CloudEvent's in the JSON format (CloudEvents JSON format, section 3).
func isStructuredType(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/cloudevents+json")
}
