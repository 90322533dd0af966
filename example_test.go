package cachekit_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cachekit/cachekit"
)

func ExampleCache_GetOrSet() {
	cache := cachekit.New(cachekit.Config{Prefix: "shop"})
	render := func() ([]byte, error) { return []byte("<ul>…</ul>"), nil }

	html, err := cache.GetOrSet("sidebar", 5*time.Minute, render, "categories")
	fmt.Println(string(html), err)
	// Output: <ul>…</ul> <nil>
}

func ExampleFetch() {
	cache := cachekit.New(cachekit.Config{})
	type Product struct{ Name string }
	queries := 0
	load := func() ([]Product, error) {
		queries++ // the expensive query
		return []Product{{"Lamp"}, {"Desk"}}, nil
	}
	for i := 0; i < 3; i++ {
		products, _ := cachekit.Fetch(cache, "products:all", time.Minute, load, "products")
		fmt.Println(products)
	}
	fmt.Println("queries:", queries)
	// Output:
	// [{Lamp} {Desk}]
	// [{Lamp} {Desk}]
	// [{Lamp} {Desk}]
	// queries: 1
}

func ExampleCache_InvalidateTags() {
	cache := cachekit.New(cachekit.Config{})
	cache.Set("product:7:card", []byte("Lamp, $19"), time.Hour, "product:7")

	// The product was edited: every entry tagged with it goes, in O(1).
	cache.InvalidateTags("product:7")
	_, ok, _ := cache.Get("product:7:card")
	fmt.Println("still cached:", ok)
	// Output: still cached: false
}

func ExampleNewMemory() {
	store, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 64 << 20})
	if err != nil {
		panic(err)
	}
	cache := cachekit.New(cachekit.Config{Storage: store, Prefix: "blog", Version: 2})
	cache.Set("greeting", []byte("hello"), time.Minute)
	v, ok, _ := cache.Get("greeting")
	fmt.Println(string(v), ok)
	// Output: hello true
}

func ExampleCache_LookupMany() {
	cache := cachekit.New(cachekit.Config{})
	cache.Set("card:1", []byte("Lamp"), time.Hour, "product:1")
	cache.Set("card:3", []byte("Desk"), time.Hour, "product:3")

	// One read for the whole collection: the hot layer first, then one
	// multi-get for the entries and one for their tags on a shared store.
	results, _ := cache.LookupMany(context.Background(), "card:1", "card:2", "card:3")
	for _, r := range results {
		fmt.Printf("%v %q\n", r.Status, r.Value)
	}
	// Output:
	// HIT "Lamp"
	// MISS ""
	// HIT "Desk"
}

func ExampleCache_IncrVersion() {
	cache := cachekit.New(cachekit.Config{Prefix: "shop", Version: 1})
	cache.Set("report", []byte("Q3 figures"), time.Hour, "reports")

	v, err := cache.IncrVersion("report", 1) // value, tags and remaining TTL move to version 2
	fmt.Println(v, err)
	_, ok, _ := cache.Get("report")
	fmt.Println("version 1 has it:", ok)
	report, ok, _ := cache.WithVersion(v).Get("report") // Django's get("report", version=2)
	fmt.Println("version 2 has it:", ok, string(report))

	_, err = cache.IncrVersion("no-such-key", 1)
	fmt.Println(errors.Is(err, cachekit.ErrNotFound))
	// Output:
	// 2 <nil>
	// version 1 has it: false
	// version 2 has it: true Q3 figures
	// true
}
