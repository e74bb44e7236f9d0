package mapping_test

import (
	"fmt"

	"github.com/moatproxy/moat/internal/events/mapping"
)

func ExampleMapper_Map() {
	m, errs := mapping.Compile(mapping.Config{Rules: []mapping.Rule{{
		When: map[string][]string{"type": {"book"}},
		Tags: []string{"book:{id}", "books"},
	}}})
	if errs != nil {
		panic(errs)
	}
	res, err := m.Map(mapping.Message{Data: []byte(`{"type":"book","id":1}`), TransportID: "catalog/0/42"})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.ID)
	for _, p := range res.Purges {
		fmt.Println(p.Tags, p.Soft)
	}
	// Output:
	// catalog/0/42
	// [book:1 books] false
}
