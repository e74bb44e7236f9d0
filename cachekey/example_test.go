package cachekey_test

import (
	"fmt"
	"net/url"

	"github.com/moatproxy/moat/cachekey"
)

func ExampleNormalizer_Normalize() {
	n, err := cachekey.NewNormalizer(cachekey.Options{})
	if err != nil {
		panic(err)
	}
	rules, err := n.CompileParams(cachekey.Params{Defaults: map[string]string{"page": "1"}})
	if err != nil {
		panic(err)
	}
	for _, target := range []string{
		"/p?sort=price&page=1",
		"/p?page=1&sort=price&utm_source=x",
		"/p/./%7eitem/a%2fb?q=a+b&flag",
	} {
		u, _ := url.ParseRequestURI(target)
		path, query, changed := n.Normalize(u, rules)
		fmt.Println(cachekey.Key("GET", "https", "Shop.example:443", path, query), changed)
	}
	// Output:
	// GET https://shop.example/p?sort=price true
	// GET https://shop.example/p?sort=price true
	// GET https://shop.example/p/~item/a%2Fb?flag&q=a%20b true
}

func ExampleSetPathQuery() {
	n, _ := cachekey.NewNormalizer(cachekey.Options{})
	in, _ := url.Parse("http://gw/a%2fb?utm_medium=x&b=2&a=1")
	path, query, changed := n.Normalize(in, nil)

	out, _ := url.Parse("http://origin.internal:8080")
	cachekey.SetPathQuery(out, path, query)
	fmt.Println(changed, out)
	// Output: true http://origin.internal:8080/a%2Fb?a=1&b=2
}

func ExampleLanguage() {
	supported := []string{"en", "de", "fr"}
	fmt.Printf("%q\n", cachekey.Language("de-DE,de;q=0.9,en;q=0.8", supported))
	fmt.Printf("%q\n", cachekey.Language("de", supported))
	fmt.Printf("%q\n", cachekey.Language("", supported))
	fmt.Printf("%q\n", cachekey.Language("ja", supported))
	// Output:
	// "de"
	// "de"
	// "en"
	// ""
}

func ExampleMediaType() {
	supported := []string{"application/json", "text/html"}
	fmt.Printf("%q\n", cachekey.MediaType("text/html,application/xhtml+xml,*/*;q=0.8", supported))
	fmt.Printf("%q\n", cachekey.MediaType("*/*", supported))
	fmt.Printf("%q\n", cachekey.MediaType("image/png", supported))
	// Output:
	// "text/html"
	// "application/json"
	// ""
}

// The route of docs/keys.md: three spellings of one search share a key.
func ExampleNormalizer_CompileParams() {
	n, _ := cachekey.NewNormalizer(cachekey.Options{})
	rules, err := n.CompileParams(cachekey.Params{
		Defaults: map[string]string{"page": "1", "sort": "relevance"},
		Allow:    []string{"q", "page", "sort"},
		Strip:    []string{"debug*", "_*"},
	})
	if err != nil {
		panic(err)
	}
	for _, target := range []string{
		"/api/search?q=red+shoes",
		"/api/search?page=1&q=red%20shoes&utm_source=newsletter",
		"/api/search?sort=relevance&q=red+shoes&fbclid=IwAR0x&debug_timing=1&x=junk",
	} {
		u, _ := url.ParseRequestURI(target)
		path, query, _ := n.Normalize(u, rules)
		fmt.Println(cachekey.Key("GET", "http", "shop", path, query))
	}
	// Output:
	// GET http://shop/api/search?q=red%20shoes
	// GET http://shop/api/search?q=red%20shoes
	// GET http://shop/api/search?q=red%20shoes
}
