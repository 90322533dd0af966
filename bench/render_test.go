package main

import (
	"bytes"
	"testing"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/loader"
)

func BenchmarkSamplePage(b *testing.B) {
	for _, tc := range []struct {
		name  string
		cache *cachekit.Cache
	}{{"dummy", cachekit.New(cachekit.Config{Storage: cachekit.NewDummy()})}, {"memory", cachekit.New(cachekit.Config{})}} {
		b.Run(tc.name, func(b *testing.B) {
			e := loader.New("../templates", ".html").Cache(tc.cache)
			if err := e.Load(); err != nil {
				b.Fatal(err)
			}
			data := pageData()
			var buf bytes.Buffer
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				buf.Reset()
				if err := e.Render(&buf, "pages/home", data, "layouts/main"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
