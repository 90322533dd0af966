package cachekit_test

import (
	"fmt"
	"log"
	"time"

	"github.com/cachekit/cachekit"
)

// A store smaller than what the site caches keeps its popular pages with
// EvictTinyLFU; the default, EvictFIFO, drops the oldest whatever their use.
func ExampleNewMemory_tinyLFU() {
	store, err := cachekit.NewMemory(cachekit.MemoryConfig{
		MaxBytes: 64 << 20,
		Eviction: cachekit.EvictTinyLFU,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	cache := cachekit.New(cachekit.Config{Storage: store, Prefix: "shop"})

	cache.Set("page:/", []byte("<h1>Shop</h1>"), time.Hour, "pages")
	html, ok, _ := cache.Get("page:/")
	fmt.Println(string(html), ok, store.Stats().Eviction)
	// Output: <h1>Shop</h1> true TinyLFU
}
