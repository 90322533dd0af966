package loader_test

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/loader"
	html "github.com/gofiber/template/html/v2"
)

// BenchmarkRender renders a page with a layout and three partials from all
// goroutines (go test -bench Render -cpu 1,2): the loader, html/v2, and a
// hand-built html/template set executed directly (the ceiling).
func BenchmarkRender(b *testing.B) {
	data := pageData()
	eng := loader.New("./testdata/views", ".html")
	eng.AddFuncMap(funcs())
	peer := html.New("./testdata/views", ".html")
	peer.AddFuncMap(funcs())
	direct := directSet(b)
	for _, e := range []renderer{eng, peer} {
		if err := e.(interface{ Load() error }).Load(); err != nil {
			b.Fatal(err)
		}
	}
	want := render(b, peer, "index", data, "layouts/main")
	if got := render(b, eng, "index", data, "layouts/main"); got != want {
		b.Fatal("loader output differs from html/v2")
	}
	var buf bytes.Buffer
	if err := direct.Execute(&buf, data); err != nil || buf.String() != want {
		b.Fatalf("direct output differs from html/v2: %v", err)
	}
	run := func(b *testing.B, fn func(*bytes.Buffer) error) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var buf bytes.Buffer
			buf.Grow(16 << 10)
			for pb.Next() {
				buf.Reset()
				if err := fn(&buf); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("engine=loader", func(b *testing.B) {
		run(b, func(w *bytes.Buffer) error { return eng.Render(w, "index", data, "layouts/main") })
	})
	b.Run("engine=htmlv2", func(b *testing.B) {
		run(b, func(w *bytes.Buffer) error { return peer.Render(w, "index", data, "layouts/main") })
	})
	b.Run("engine=direct", func(b *testing.B) {
		run(b, func(w *bytes.Buffer) error { return direct.Execute(w, data) })
	})
}

// directSet is the hand-built html/template set: the same files, the layout
// calling the page with {{template}}.
func directSet(b *testing.B) *template.Template {
	read := func(name string) string {
		buf, err := os.ReadFile(filepath.Join("testdata/views", name+".html"))
		if err != nil {
			b.Fatal(err)
		}
		return string(buf)
	}
	layout := strings.Replace(read("layouts/main"), "{{embed}}", `{{template "index" .}}`, 1)
	set := template.Must(template.New("layouts/main").Funcs(funcs()).Parse(layout))
	for _, name := range []string{"index", "partials/header", "partials/footer", "partials/card"} {
		template.Must(set.New(name).Parse(read(name)))
	}
	return set
}

// BenchmarkReload renders one page with a layout and two partials out of a
// tree of 500 templates where nothing changes: the loader in production and
// in Reload mode, and html/v2 in both modes.
func BenchmarkReload(b *testing.B) {
	dir := b.TempDir()
	writeTree(b, dir, 500)
	data := map[string]interface{}{"Title": "t", "N": 3, "Items": []string{"a", "b<", "c&"}}
	newLoader := func(reload bool) renderer {
		e := loader.New(dir, ".html")
		e.Reload(reload)
		return e
	}
	newPeer := func(reload bool) renderer {
		e := html.New(dir, ".html")
		e.Reload(reload)
		return e
	}
	for _, c := range []struct {
		name string
		eng  renderer
	}{
		{"engine=loader/mode=production", newLoader(false)},
		{"engine=loader/mode=reload", newLoader(true)},
		{"engine=htmlv2/mode=production", newPeer(false)},
		{"engine=htmlv2/mode=reload", newPeer(true)},
	} {
		if got := render(b, c.eng, "pages/page007", data, "layouts/main"); !strings.Contains(got, "page 7") {
			b.Fatalf("%s: %q", c.name, got)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				var buf bytes.Buffer
				for pb.Next() {
					buf.Reset()
					if err := c.eng.Render(&buf, "pages/page007", data, "layouts/main"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// writeTree writes n templates: one layout, 20 partials, the rest pages that
// call two partials each.
func writeTree(b *testing.B, dir string, n int) {
	files := map[string]string{
		"layouts/main.html": `<!DOCTYPE html><html><head><title>{{.Title}}</title></head><body>{{template "partials/p00" .}}<main>{{embed}}</main>{{template "partials/p01" .}}</body></html>`,
	}
	for i := 0; i < 20; i++ {
		files[fmt.Sprintf("partials/p%02d.html", i)] = fmt.Sprintf(`<div class="p%d">{{range .Items}}<span title="{{.}}">{{.}}</span>{{end}}</div>`, i)
	}
	for i := 0; len(files) < n; i++ {
		files[fmt.Sprintf("pages/page%03d.html", i)] = fmt.Sprintf(`<h1>{{.Title}} page %d</h1>{{if gt .N 2}}<p>many</p>{{end}}{{template "partials/p%02d" .}}{{template "partials/p%02d" .}}`, i, 2+i%18, 3+i%17)
	}
	writeFiles(b, dir, files)
	// Modified well before they are read, as a tree nobody is editing:
	// files read within racyWindow of their modification time have their
	// content compared at each check.
	old := time.Now().Add(-time.Hour)
	for name := range files {
		if err := os.Chtimes(filepath.Join(dir, name), old, old); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReloadTagged is what Reload mode costs a page a cache renders
// (its template tags read under the fill's context) and what Watch costs
// each request (Check: a stat of every file of a 500-template tree), beside
// a Reload-mode render without a cache and html/v2's Reload-mode render.
func BenchmarkReloadTagged(b *testing.B) {
	dir := b.TempDir()
	writeTree(b, dir, 500)
	m, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 8 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	cache := cachekit.New(cachekit.Config{Storage: m})
	eng := loader.New(dir, ".html").Cache(cache)
	eng.Reload(true)
	peer := html.New(dir, ".html")
	peer.Reload(true)
	plain := map[string]interface{}{"Title": "t", "N": 3, "Items": []string{"a", "b<", "c&"}}
	tagged := func() map[string]interface{} {
		d := map[string]interface{}{cachekit.BindKey: cache.Collect(context.Background())}
		for k, v := range plain {
			d[k] = v
		}
		return d
	}
	renderWith := func(r renderer, data func() map[string]interface{}) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			var buf bytes.Buffer
			for i := 0; i < b.N; i++ {
				buf.Reset()
				if err := r.Render(&buf, "pages/page007", data(), "layouts/main"); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("op=render/engine=loader/cache=none", renderWith(eng, func() map[string]interface{} { return plain }))
	b.Run("op=render/engine=loader/cache=tagged", renderWith(eng, tagged))
	b.Run("op=render/engine=htmlv2", renderWith(peer, func() map[string]interface{} { return plain }))
	b.Run("op=check/files=500", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if err := eng.Check(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
