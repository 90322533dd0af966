package loader_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/fragments"
	"github.com/cachekit/cachekit/loader"
)

func newCache(t testing.TB) *cachekit.Cache {
	t.Helper()
	c := cachekit.New(cachekit.Config{})
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if m, ok := c.Storage().(*cachekit.Memory); ok {
			m.Close()
		}
	})
	return c
}

// fragmentTree has {{cache}} blocks in a layout, a partial and a page.
var fragmentTree = map[string]string{
	"layouts/main.html":  `<html>{{cache "menu" 300}}<nav>{{work "menu"}}</nav>{{end` + `cache}}<main>{{embed}}</main></html>`,
	"partials/side.html": `<aside>{{cache "side" 300 .ID}}side {{.ID}} #{{work "side"}}{{endcache}}</aside>`,
	"page.html":          `<p>{{.Title}}</p>{{template "partials/side" .}}{{cache "page" "5m" .ID (tags "pages")}}<b>{{.Title}} #{{work "page"}}</b>{{endcache}}`,
	"other.html":         `<p>other</p>{{template "partials/side" .}}`,
}

func TestFragments(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, fragmentTree)
	var works atomic.Int64
	c := newCache(t)
	eng := loader.New(dir, ".html").Cache(c)
	eng.AddFunc("work", func(string) int64 { return works.Add(1) })

	first := render(t, eng, "page", map[string]interface{}{"ID": 1, "Title": "one"}, "layouts/main")
	want := `<html><nav>1</nav><main><p>one</p><aside>side 1 #2</aside><b>one #3</b></main></html>`
	if first != want {
		t.Fatalf("got  %s\nwant %s", first, want)
	}
	// Same key: every block is a hit, even with other data outside the key.
	if got := render(t, eng, "page", map[string]interface{}{"ID": 1, "Title": "changed"}, "layouts/main"); got != strings.Replace(want, "<p>one</p>", "<p>changed</p>", 1) {
		t.Errorf("second render: %s", got)
	}
	// Another chain shares the blocks of the partial.
	if got := render(t, eng, "other", map[string]interface{}{"ID": 1}); got != `<p>other</p><aside>side 1 #2</aside>` {
		t.Errorf("other page: %s", got)
	}
	// Another vary value renders the block again.
	if got := render(t, eng, "other", map[string]interface{}{"ID": 2}); got != `<p>other</p><aside>side 2 #4</aside>` {
		t.Errorf("other vary: %s", got)
	}
	// Invalidation, through the tag and through the block name.
	if err := c.InvalidateTags("pages"); err != nil {
		t.Fatal(err)
	}
	if err := fragments.Invalidate(c, "menu"); err != nil {
		t.Fatal(err)
	}
	got := render(t, eng, "page", map[string]interface{}{"ID": 1, "Title": "new"}, "layouts/main")
	if want := `<html><nav>5</nav><main><p>new</p><aside>side 1 #2</aside><b>new #6</b></main></html>`; got != want {
		t.Errorf("after invalidation:\ngot  %s\nwant %s", got, want)
	}

	// Cache chooses the store: a fresh cache renders everything again.
	eng.Cache(newCache(t))
	got = render(t, eng, "page", map[string]interface{}{"ID": 1, "Title": "new"}, "layouts/main")
	if want := `<html><nav>7</nav><main><p>new</p><aside>side 1 #8</aside><b>new #9</b></main></html>`; got != want {
		t.Errorf("with another cache:\ngot  %s\nwant %s", got, want)
	}
}

func TestFragmentsCustomDelims(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"page.html": `[[cache "d" 60]]<i>[[.]] {{x}}</i>[[endcache]]`,
	})
	eng := loader.New(dir, ".html").Cache(newCache(t))
	eng.Delims("[[", "]]")
	for _, data := range []string{"a<", "b"} {
		if got := render(t, eng, "page", data); got != `<i>a&lt; {{x}}</i>` {
			t.Errorf("got %q", got)
		}
	}
}

func TestFragmentsReload(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"page.html": `{{cache "r" 60}}v1{{endcache}}`})
	eng := loader.New(dir, ".html").Cache(newCache(t))
	eng.Reload(true)
	if got := render(t, eng, "page", nil); got != "v1" {
		t.Fatalf("got %q", got)
	}
	// The block's key holds a digest of its source: an edit is not served stale.
	writeFile(t, filepath.Join(dir, "page.html"), `{{cache "r" 60}}v2!{{endcache}}`)
	if got := render(t, eng, "page", nil); got != "v2!" {
		t.Errorf("after edit got %q", got)
	}
}

func TestFragmentErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		line      int
		want      string
	}{
		{"no endcache", "<p>\n{{cache \"x\" 60}}\nbody", 2, "endcache"},
		{"no name", "\n\n{{cache}}x{{endcache}}", 3, "name"},
		{"bad ttl", "{{cache \"x\" \"soon\"}}x{{endcache}}", 1, "soon"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"ok.html": "ok", "bad.html": tc.src})
			eng := loader.New(dir, ".html").Cache(newCache(t))
			err := eng.Load()
			var le *loader.Error
			if !errors.As(err, &le) || le.File != filepath.Join(dir, "bad.html") || le.Line != tc.line || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load: %v (%+v)", err, le)
			}
			var fe *fragments.Error
			if !errors.As(err, &fe) {
				t.Errorf("not a *fragments.Error: %T", err)
			}
		})
	}
	// A block in a bad HTML context through another file: found when the
	// chain is built, with the file of the block.
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"page.html":       `<div title="{{template "partials/t" .}}"></div>`,
		"partials/t.html": `{{cache "t" 60}}x{{endcache}}`,
	})
	eng := loader.New(dir, ".html").Cache(newCache(t))
	var buf bytes.Buffer
	err := eng.Render(&buf, "page", nil)
	var le *loader.Error
	if !errors.As(err, &le) || le.File != filepath.Join(dir, "partials/t.html") {
		t.Errorf("Render: %v", err)
	}
}
