package fragments_test

import (
	"html/template"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/fragments"
)

// Helpers shared by the package's tests: a real cache, counting funcs,
// template files, and the data the templates render.

// newCache returns a fresh cache on the real embedded bigcache store.
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

// counters counts renders: {{work "name"}} returns how many times it ran
// for name, so a re-render shows in the output.
type counters struct {
	mu sync.Mutex
	n  map[string]int
}

func newCounters() *counters { return &counters{n: map[string]int{}} }

func (c *counters) work(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[name]++
	return c.n[name]
}

func (c *counters) get(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[name]
}

func (c *counters) funcs() template.FuncMap { return template.FuncMap{"work": c.work} }

// parseFiles parses testdata files into one set with the block funcs.
func parseFiles(t testing.TB, funcs template.FuncMap, files ...string) *template.Template {
	t.Helper()
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join("testdata", f)
	}
	tm, err := template.New(filepath.Base(files[0])).Funcs(fragments.Funcs()).Funcs(funcs).ParseFiles(paths...)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// load parses and rewrites testdata files.
func load(t testing.TB, c *cachekit.Cache, funcs template.FuncMap, files ...string) *template.Template {
	t.Helper()
	tm := parseFiles(t, funcs, files...)
	if err := fragments.Rewrite(tm, c); err != nil {
		t.Fatal(err)
	}
	return tm
}

func render(t testing.TB, tm *template.Template, name string, data any) string {
	t.Helper()
	var sb strings.Builder
	if err := tm.ExecuteTemplate(&sb, name, data); err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

// reference parses the same files with cache, endcache and tags printing
// nothing: the page as it would be without the blocks.
func reference(t testing.TB, funcs template.FuncMap, files ...string) *template.Template {
	t.Helper()
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join("testdata", f)
	}
	none := func(...any) string { return "" }
	tm, err := template.New(filepath.Base(files[0])).
		Funcs(template.FuncMap{"cache": none, "endcache": none, "tags": none}).
		Funcs(funcs).ParseFiles(paths...)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

type user struct {
	ID   int
	Name string
}

type page struct {
	Title string
	Body  string
	User  *user
}

func Invalidate(t *testing.T, c *cachekit.Cache, name string, vary ...any) {
	t.Helper()
	if err := fragments.Invalidate(c, name, vary...); err != nil {
		t.Fatal(err)
	}
}

type product struct {
	ID   int
	Name string
}

type row struct {
	ID   int
	Name string
}

// Label has a pointer receiver: it works on an addressable dot only, as
// inside {{range}} over a slice of structs.
func (r *row) Label() string { return "label-" + r.Name }
