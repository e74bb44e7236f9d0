package mapping

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// bookRules are the rules of the package's examples.
var bookRules = []Rule{{
	When: map[string][]string{"type": {"book"}},
	Tags: []string{"book:{id}", "books"},
}}

func jsonMsg(data string) Message {
	return Message{Data: []byte(data), Topic: "catalog", TransportID: "catalog/0/42"}
}

func hard(tags ...string) Purge { return Purge{Tags: tags} }

func TestMap(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		msg  Message
		want Result
	}{
		{"json", Config{Rules: bookRules}, jsonMsg(`{"type":"book","id":1}`),
			Result{ID: "catalog/0/42", Purges: []Purge{hard("book:1", "books")}}},
		{"string_value", Config{Rules: bookRules}, jsonMsg(`{"type":"book","id":"dune"}`),
			Result{ID: "catalog/0/42", Purges: []Purge{hard("book:dune", "books")}}},
		{"numbers_as_written", Config{Rules: []Rule{{Tags: []string{"{a}", "{b}", "{c}", "{d}", "{e}"}}}},
			jsonMsg(`{"a":1.50,"b":1e3,"c":12345678901234567890,"d":-0.000001,"e":1}`),
			Result{ID: "catalog/0/42", Purges: []Purge{hard("1.50", "1e3", "12345678901234567890", "-0.000001", "1")}}},
		{"booleans", Config{Rules: []Rule{{Tags: []string{"x:{a}:{b}"}}}}, jsonMsg(`{"a":true,"b":false}`),
			Result{ID: "catalog/0/42", Purges: []Purge{hard("x:true:false")}}},
		{"nested_and_index", Config{Rules: []Rule{{Tags: []string{"{book.author.id}", "{items.1.id}"}}}},
			jsonMsg(`{"book":{"author":{"id":7}},"items":[{"id":"a"},{"id":"b"}]}`),
			Result{ID: "catalog/0/42", Purges: []Purge{hard("7", "b")}}},
		{"list_expands", Config{Rules: []Rule{{Tags: []string{"book:{ids}"}}}}, jsonMsg(`{"ids":[1,"2",true]}`),
			Result{ID: "catalog/0/42", Purges: []Purge{hard("book:1", "book:2", "book:true")}}},
		{"cartesian_product", Config{Rules: []Rule{{Tags: []string{"{a}-{b}"}}}}, jsonMsg(`{"a":["x","y"],"b":[1,2]}`),
			Result{ID: "catalog/0/42", Purges: []Purge{hard("x-1", "x-2", "y-1", "y-2")}}},
		{"empty_list_makes_nothing", Config{Rules: []Rule{{Tags: []string{"book:{ids}"}}}}, jsonMsg(`{"ids":[]}`),
			Result{ID: "catalog/0/42"}},
		{"literal_braces", Config{Rules: []Rule{{Tags: []string{"{{{id}}}"}}}}, jsonMsg(`{"id":1}`),
			Result{ID: "catalog/0/42", Purges: []Purge{hard("{1}")}}},
		{"dedupe", Config{Rules: []Rule{{Tags: []string{"book:{id}", "book:{id}", "books", "book:{ids}"}}, {Tags: []string{"books"}}}},
			jsonMsg(`{"id":1,"ids":[1,2,2]}`),
			Result{ID: "catalog/0/42", Purges: []Purge{hard("book:1", "books", "book:2")}}},
		{"dedupe_many", Config{Rules: []Rule{{Tags: []string{"t:{ids}", "t:{ids}"}}}},
			jsonMsg(`{"ids":[1,2,3,4,5,6,7,8,9,10,1,2,3,4,5,6,7,8,9,10]}`),
			Result{ID: "catalog/0/42", Purges: []Purge{hard("t:1", "t:2", "t:3", "t:4", "t:5", "t:6", "t:7", "t:8", "t:9", "t:10")}}},
		{"every_kind", Config{Rules: []Rule{{
			Tags: []string{"book:{id}"}, URLs: []string{"https://api.example.com/books/{id}"},
			Prefixes: []string{"/books/{id}/"}, Routes: []string{"GET /books/{id}", "GET /books/{id}"}, All: true,
		}}}, jsonMsg(`{"id":1}`),
			Result{ID: "catalog/0/42", Purges: []Purge{{Tags: []string{"book:1"}, URLs: []string{"https://api.example.com/books/1"},
				Prefixes: []string{"/books/1/"}, Routes: []string{"GET /books/{id}"}, All: true}}}},
		{"templated_host", Config{Rules: []Rule{{URLs: []string{"https://{tenant}.example.com/books/{id}"}}}},
			jsonMsg(`{"tenant":"acme","id":1}`),
			Result{ID: "catalog/0/42", Purges: []Purge{{URLs: []string{"https://acme.example.com/books/1"}}}}},
		{"soft_and_hard", Config{Rules: []Rule{
			{Tags: []string{"book:{id}", "books"}, Prefixes: []string{"/books/{id}/"}, Routes: []string{"GET /books"}, Soft: true},
			{Tags: []string{"books"}},
		}}, jsonMsg(`{"id":1}`),
			Result{ID: "catalog/0/42", Purges: []Purge{
				{Tags: []string{"books"}, Routes: []string{"GET /books"}},
				{Tags: []string{"book:1"}, Prefixes: []string{"/books/1/"}, Soft: true},
			}}},
		{"soft_only", Config{Rules: []Rule{{Tags: []string{"book:{id}"}, Soft: true}}}, jsonMsg(`{"id":1}`),
			Result{ID: "catalog/0/42", Purges: []Purge{{Tags: []string{"book:1"}, Soft: true}}}},
		{"hard_all_drops_soft", Config{Rules: []Rule{{Tags: []string{"book:{id}"}, Soft: true}, {All: true}}}, jsonMsg(`{"id":1}`),
			Result{ID: "catalog/0/42", Purges: []Purge{{All: true}}}},
		{"when_one_of", Config{Rules: []Rule{{When: map[string][]string{"type": {"a", "b"}}, Tags: []string{"x"}}}},
			jsonMsg(`{"type":"b"}`), Result{ID: "catalog/0/42", Purges: []Purge{hard("x")}}},
		{"when_list_field", Config{Rules: []Rule{{When: map[string][]string{"kinds": {"book"}}, Tags: []string{"x"}}}},
			jsonMsg(`{"kinds":["author","book"]}`), Result{ID: "catalog/0/42", Purges: []Purge{hard("x")}}},
		{"when_number_and_bool", Config{Rules: []Rule{{When: map[string][]string{"v": {"2"}, "deleted": {"true"}}, Tags: []string{"x"}}}},
			jsonMsg(`{"v":2,"deleted":true}`), Result{ID: "catalog/0/42", Purges: []Purge{hard("x")}}},
		{"when_all_paths", Config{Rules: []Rule{
			{When: map[string][]string{"type": {"book"}, "$topic": {"other"}}, Tags: []string{"a"}},
			{When: map[string][]string{"type": {"book"}, "$topic": {"catalog"}}, Tags: []string{"b"}},
		}}, jsonMsg(`{"type":"book"}`), Result{ID: "catalog/0/42", Purges: []Purge{hard("b")}}},
		{"when_skips_rule_with_missing_field", Config{Rules: []Rule{
			{When: map[string][]string{"type": {"book"}}, Tags: []string{"book:{id}"}},
			{When: map[string][]string{"type": {"author"}}, Tags: []string{"author:{author_id}"}},
		}}, jsonMsg(`{"type":"author","author_id":3}`), Result{ID: "catalog/0/42", Purges: []Purge{hard("author:3")}}},
		{"variables", Config{Rules: []Rule{{
			When: map[string][]string{"$header.x-tenant": {"acme"}, "$key": {"k1"}},
			Tags: []string{"{$topic}:{$key}:{$header.X-TENANT}:{$id}"},
		}}}, Message{Data: []byte("not json"), Topic: "t", Key: []byte("k1"), Headers: map[string]string{"X-Tenant": "acme"}, TransportID: "t/0/1"},
			Result{ID: "t/0/1", Purges: []Purge{hard("t:k1:acme:t/0/1")}}},
		{"id_template", Config{ID: "{event_id}", Rules: []Rule{{Tags: []string{"e:{$id}"}}}}, jsonMsg(`{"event_id":"ev-9"}`),
			Result{ID: "ev-9", Purges: []Purge{hard("e:ev-9")}}},
		{"id_none", Config{Format: "json", Rules: []Rule{{Tags: []string{"x"}}}}, Message{Data: []byte(`{}`)},
			Result{Purges: []Purge{hard("x")}}},
		{"id_too_long_hashed", Config{ID: "{event_id}", Rules: []Rule{{Tags: []string{"x"}}}},
			jsonMsg(`{"event_id":"` + strings.Repeat("a", 200) + `"}`),
			Result{ID: sha256ID(strings.Repeat("a", 200)), Purges: []Purge{hard("x")}}},
		{"data_base64_text", Config{Rules: []Rule{{Tags: []string{"{data}"}}}},
			jsonMsg(`{"specversion":"1.0","id":"e1","data_base64":"` + base64.StdEncoding.EncodeToString([]byte("hello")) + `"}`),
			Result{ID: "e1", Purges: []Purge{hard("hello")}}},
		{"exactly_max_items", Config{Rules: []Rule{{Tags: []string{"{a}-{b}"}}}},
			jsonMsg(`{"a":[` + strings.Repeat(`1,`, 999) + `1],"b":"x"}`),
			Result{ID: "catalog/0/42", Purges: []Purge{hard("1-x")}}},
		{"json_format_ignores_specversion", Config{Format: "json", Rules: []Rule{{Tags: []string{"{type}"}}}},
			jsonMsg(`{"specversion":"1.0","type":"t","source":"/s","id":"e1"}`),
			Result{ID: "catalog/0/42", Purges: []Purge{hard("t")}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := compile(t, tc.cfg).Map(tc.msg)
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Map:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestMapCloudEvents(t *testing.T) {
	ceRules := []Rule{{
		When: map[string][]string{"type": {"com.example.book.updated", "com.example.book.created"}},
		Tags: []string{"book:{subject}", "author:{data.author}"},
	}}
	structured := `{"specversion":"1.0","type":"com.example.book.updated","source":"/catalog","id":"e1",` +
		`"subject":"42","data":{"author":7}}`
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name   string
		format string
		msg    Message
		want   Result
	}{
		{"structured_auto", "", jsonMsg(structured),
			Result{ID: "/catalog e1", Purges: []Purge{hard("book:42", "author:7")}}},
		{"structured_explicit", "cloudevents", jsonMsg(structured),
			Result{ID: "/catalog e1", Purges: []Purge{hard("book:42", "author:7")}}},
		{"structured_data_base64_json", "", jsonMsg(`{"specversion":"1.0","type":"com.example.book.created","id":"e2",` +
			`"subject":"1","data_base64":"` + b64(`{"author":"ann"}`) + `"}`),
			Result{ID: "e2", Purges: []Purge{hard("book:1", "author:ann")}}},
		{"structured_by_content_type", "", Message{Data: []byte(`{"specversion":"1.0","type":"com.example.book.created",` +
			`"id":"e3","source":"s","subject":"1","data":{"author":2}}`),
			Headers: map[string]string{"Content-Type": "application/cloudevents+json; charset=utf-8"}},
			Result{ID: "s e3", Purges: []Purge{hard("book:1", "author:2")}}},
		{"content_type_beats_binary_headers", "", Message{Data: []byte(structured), Headers: map[string]string{
			"content-type": "application/cloudevents+json", "ce_specversion": "1.0", "ce_type": "other", "ce_id": "h1",
		}}, Result{ID: "/catalog e1", Purges: []Purge{hard("book:42", "author:7")}}},
		{"binary_kafka", "", Message{Data: []byte(`{"author":5}`), TransportID: "catalog/1/9", Headers: map[string]string{
			"ce_specversion": "1.0", "ce_type": "com.example.book.updated", "ce_source": "/catalog", "ce_id": "e4", "ce_subject": "9",
		}}, Result{ID: "/catalog e4", Purges: []Purge{hard("book:9", "author:5")}}},
		{"binary_nats", "cloudevents", Message{Data: []byte(`{"author":5}`), Headers: map[string]string{
			"Ce-Specversion": "1.0", "Ce-Type": "com.example.book.updated", "Ce-Id": "e5", "Ce-Subject": "9",
		}}, Result{ID: "e5", Purges: []Purge{hard("book:9", "author:5")}}},
		{"binary_without_id", "", Message{Data: []byte(`{"author":5}`), TransportID: "7", Headers: map[string]string{
			"CE_SPECVERSION": "1.0", "CE_TYPE": "com.example.book.updated", "ce-subject": "9",
		}}, Result{ID: "7", Purges: []Purge{hard("book:9", "author:5")}}},
		{"not_a_cloudevent", "", jsonMsg(`{"type":"com.example.book.updated","subject":"3","data":{"author":1}}`),
			Result{ID: "catalog/0/42", Purges: []Purge{hard("book:3", "author:1")}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := compile(t, Config{Format: tc.format, Rules: ceRules}).Map(tc.msg)
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Map:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestMapLazyPayload: a payload that cannot be read fails only the
// events whose rules read it.
func TestMapLazyPayload(t *testing.T) {
	binary := map[string]string{"ce_specversion": "1.0", "ce_type": "book", "ce_id": "e1", "content-type": "application/x-protobuf"}
	tests := []struct {
		name string
		cfg  Config
		msg  Message
		want Result
	}{
		{"topic_only", Config{Rules: []Rule{{When: map[string][]string{"$topic": {"catalog"}}, Tags: []string{"{$topic}"}}}},
			jsonMsg("\x00\x01 protobuf"), Result{ID: "catalog/0/42", Purges: []Purge{hard("catalog")}}},
		{"binary_attributes", Config{Rules: []Rule{{When: map[string][]string{"type": {"book"}}, Tags: []string{"{id}", "{datacontenttype}"}}}},
			Message{Data: []byte("\x00\x01"), Headers: binary}, Result{ID: "e1", Purges: []Purge{hard("e1", "application/x-protobuf")}}},
		{"binary_empty_payload", Config{Rules: []Rule{{Tags: []string{"{type}"}}}},
			Message{Headers: binary}, Result{ID: "e1", Purges: []Purge{hard("book")}}},
		{"earlier_condition_fails", Config{Rules: []Rule{{When: map[string][]string{"$topic": {"other"}, "type": {"x"}}, Tags: []string{"a"}},
			{When: map[string][]string{"$topic": {"catalog"}}, Tags: []string{"b"}}}},
			jsonMsg("not json"), Result{ID: "catalog/0/42", Purges: []Purge{hard("b")}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := compile(t, tc.cfg).Map(tc.msg)
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Map:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestMapErrors(t *testing.T) {
	tag := func(tags ...string) Config { return Config{Rules: []Rule{{Tags: tags}}} }
	many := `{"a":[` + strings.Repeat(`1,`, 99) + `1],"b":[` + strings.Repeat(`1,`, 10) + `1]}`
	tests := []struct {
		name   string
		cfg    Config
		msg    Message
		want   error
		wantID string
		has    []string // substrings of the error
	}{
		{"missing", Config{Rules: bookRules}, jsonMsg(`{"type":"book"}`), ErrInvalid, "catalog/0/42",
			[]string{`rules[0].tags[0] "book:{id}"`, "id is missing"}},
		{"missing_nested", tag("x", "{data.book.id}"), jsonMsg(`{"data":{"book":{}}}`), ErrInvalid, "catalog/0/42",
			[]string{"rules[0].tags[1]", "data.book.id is missing"}},
		{"index_out_of_range", tag("{items.2}"), jsonMsg(`{"items":[1]}`), ErrInvalid, "catalog/0/42", []string{"items.2 is missing"}},
		{"null", tag("{id}"), jsonMsg(`{"id":null}`), ErrInvalid, "catalog/0/42", []string{"id is null"}},
		{"object", tag("{id}"), jsonMsg(`{"id":{}}`), ErrInvalid, "catalog/0/42", []string{"id is an object"}},
		{"list_of_objects", tag("{ids}"), jsonMsg(`{"ids":[1,{}]}`), ErrInvalid, "catalog/0/42", []string{"ids.1 is an object"}},
		{"nested_list", tag("{ids}"), jsonMsg(`{"ids":[[1]]}`), ErrInvalid, "catalog/0/42", []string{"ids.0 is a list"}},
		{"too_many", tag("{a}-{b}"), jsonMsg(many), ErrInvalid, "catalog/0/42", []string{"too many purge items"}},
		{"too_many_over_rules", Config{Rules: []Rule{{Tags: []string{"a{a}"}}, {Tags: []string{"b{a}"}}}},
			jsonMsg(`{"a":[` + strings.Repeat(`1,`, 600) + `1]}`), ErrInvalid, "catalog/0/42", []string{"rules[1]", "too many purge items"}},
		{"tag_with_space", tag("book:{id}"), jsonMsg(`{"id":"1 books"}`), ErrInvalid, "catalog/0/42", []string{"has a space"}},
		{"tag_with_control", tag("book:{id}"), jsonMsg(`{"id":"1\u0000"}`), ErrInvalid, "catalog/0/42", []string{"control character"}},
		{"empty_tag", tag("{id}"), jsonMsg(`{"id":""}`), ErrInvalid, "catalog/0/42", []string{"empty"}},
		{"tag_too_long", tag("{id}"), jsonMsg(`{"id":"` + strings.Repeat("x", 257) + `"}`), ErrInvalid, "catalog/0/42", []string{"more than 256"}},
		{"url_without_host", Config{Rules: []Rule{{URLs: []string{"https://{host}/books"}}}}, jsonMsg(`{"host":""}`),
			ErrInvalid, "catalog/0/42", []string{"rules[0].urls[0]", "not an absolute"}},
		{"url_value_changes_host", Config{Rules: []Rule{{URLs: []string{"https://{host}/books"}}}}, jsonMsg(`{"host":"/x"}`),
			ErrInvalid, "catalog/0/42", []string{"not an absolute"}},
		{"unmapped", Config{Rules: bookRules}, jsonMsg(`{"type":"author","id":1}`), ErrUnmapped, "catalog/0/42", nil},
		{"unmapped_missing_when", Config{Rules: bookRules}, jsonMsg(`{"id":1}`), ErrUnmapped, "catalog/0/42", nil},
		{"unmapped_cloudevent", Config{Rules: bookRules}, jsonMsg(`{"specversion":"1.0","type":"x","source":"s","id":"1"}`),
			ErrUnmapped, "s 1", nil},
		{"not_json", Config{Rules: bookRules}, jsonMsg(`type=book`), ErrParse, "catalog/0/42",
			[]string{"rules[0].when.type", "not JSON"}},
		{"trailing_data", Config{Rules: bookRules}, jsonMsg(`{"type":"book","id":1} x`), ErrParse, "catalog/0/42", []string{"more after the value"}},
		{"empty_payload", Config{Rules: bookRules}, jsonMsg(``), ErrParse, "catalog/0/42", []string{"empty"}},
		{"not_an_object", Config{Rules: bookRules}, jsonMsg(`[{"type":"book"}]`), ErrParse, "catalog/0/42", []string{"a list, want a JSON object"}},
		{"too_large", Config{Rules: bookRules}, jsonMsg(`{"type":"book","pad":"` + strings.Repeat("x", MaxPayload) + `"}`),
			ErrParse, "catalog/0/42", []string{"too large"}},
		{"template_needs_payload", tag("{$topic}", "{id}"), jsonMsg(`nope`), ErrParse, "catalog/0/42", []string{`rules[0].tags[1] "{id}"`}},
		{"cloudevent_without_specversion", Config{Format: "cloudevents", Rules: bookRules}, jsonMsg(`{"type":"book","id":1}`),
			ErrParse, "catalog/0/42", []string{"specversion"}},
		{"bad_data_base64", Config{Rules: []Rule{{Tags: []string{"{data}"}}}},
			jsonMsg(`{"specversion":"1.0","id":"1","data_base64":"%%%"}`), ErrParse, "catalog/0/42", []string{"data_base64"}},
		{"binary_data_not_json", Config{Rules: []Rule{{Tags: []string{"{data.id}"}}}},
			Message{Data: []byte("\x00"), Headers: map[string]string{"ce_specversion": "1.0", "ce_id": "e1"}}, ErrParse, "e1",
			[]string{"not JSON"}},
		{"id_missing", Config{ID: "{event_id}", Rules: bookRules}, jsonMsg(`{"type":"book","id":1}`), ErrInvalid, "",
			[]string{`id "{event_id}"`, "event_id is missing"}},
		{"id_list", Config{ID: "{event_id}", Rules: bookRules}, jsonMsg(`{"event_id":[1,2],"type":"book","id":1}`), ErrInvalid, "",
			[]string{"want one value"}},
		{"id_empty", Config{ID: "{event_id}", Rules: bookRules}, jsonMsg(`{"event_id":"","type":"book","id":1}`), ErrInvalid, "",
			[]string{"empty"}},
		{"id_not_json", Config{ID: "{event_id}", Rules: bookRules}, jsonMsg(`x`), ErrParse, "", []string{"id", "not JSON"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := compile(t, tc.cfg).Map(tc.msg)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Map: got error %v, want %v", err, tc.want)
			}
			for _, s := range tc.has {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Map: got error %q, want it to contain %q", err, s)
				}
			}
			if got.ID != tc.wantID || got.Purges != nil {
				t.Errorf("Map: got %+v, want ID %q and no purges", got, tc.wantID)
			}
		})
	}
}

// TestMapConcurrent: a Mapper is shared by a source's goroutines.
func TestMapConcurrent(t *testing.T) {
	m := compile(t, Config{Rules: bookRules})
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 100 {
				if _, err := m.Map(jsonMsg(`{"type":"book","id":1}`)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
}

func sha256ID(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func compile(tb testing.TB, c Config) *Mapper {
	tb.Helper()
	m, errs := Compile(c)
	if len(errs) > 0 {
		tb.Fatalf("Compile: %v", errs)
	}
	return m
}

func BenchmarkMap(b *testing.B) {
	benches := []struct {
		name string
		cfg  Config
		msg  Message
	}{
		{"json", Config{Rules: []Rule{
			{When: map[string][]string{"type": {"book"}}, Tags: []string{"book:{id}", "books"}, URLs: []string{"https://api.example.com/books/{id}"}},
			{When: map[string][]string{"type": {"author"}}, Tags: []string{"author:{id}"}},
		}}, jsonMsg(`{"type":"book","id":12345,"title":"Dune","author":{"id":7,"name":"Frank Herbert"},"tags":["sf","classic"]}`)},
		{"cloudevents_binary", Config{Rules: []Rule{
			{When: map[string][]string{"type": {"com.example.book.updated"}}, Tags: []string{"book:{subject}"}, Soft: true},
		}}, Message{Data: []byte(`{"id":1}`), Headers: map[string]string{
			"ce_specversion": "1.0", "ce_type": "com.example.book.updated", "ce_source": "/catalog", "ce_id": "e1", "ce_subject": "1",
		}}},
		{"list", Config{Rules: []Rule{{Tags: []string{"book:{ids}"}}}},
			jsonMsg(`{"ids":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]}`)},
	}
	for _, bc := range benches {
		b.Run(bc.name, func(b *testing.B) {
			m := compile(b, bc.cfg)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Map(bc.msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
