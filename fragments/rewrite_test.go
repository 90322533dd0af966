package fragments_test

import (
	"fmt"
	"html/template"
	"strings"
	"sync"
	"testing"

	"github.com/cachekit/cachekit/fragments"
)

func TestNested(t *testing.T) {
	c := newCache(t)
	w := newCounters()
	tm := load(t, c, w.funcs(), "nested.html")
	data := map[string]any{"Products": []product{{1, "one"}, {2, "two"}}}
	first := render(t, tm, "nested.html", data)
	for _, s := range []string{"one render 1", "two render 1", "outer render 1"} {
		if !strings.Contains(first, s) {
			t.Fatalf("%q lacks %q", first, s)
		}
	}
	// An outer hit skips the inner blocks.
	if got := render(t, tm, "nested.html", data); got != first {
		t.Fatalf("outer hit: %q", got)
	}
	if w.get("product-1") != 1 || c.Stats().Hits != 1 {
		t.Fatalf("inner blocks ran on an outer hit: %d, %+v", w.get("product-1"), c.Stats())
	}
	// An inner invalidation shows once the outer is invalidated...
	Invalidate(t, c, "product", 1)
	if got := render(t, tm, "nested.html", data); got != first {
		t.Fatalf("outer still cached, yet: %q", got)
	}
	Invalidate(t, c, "outer")
	got := render(t, tm, "nested.html", data)
	for _, s := range []string{"one render 2", "two render 1", "outer render 2"} {
		if !strings.Contains(got, s) {
			t.Fatalf("%q lacks %q", got, s)
		}
	}
	// ...or expires: same with a short-lived outer block.
	ref := reference(t, template.FuncMap{"work": func(string) int { return 0 }}, "nested.html")
	refOut := render(t, ref, "nested.html", data)
	norm := func(s string) string {
		for i := 0; i < 10; i++ {
			s = strings.ReplaceAll(s, fmt.Sprintf("render %d", i), "render N")
		}
		return s
	}
	if norm(got) != norm(refOut) {
		t.Fatalf("nested output\n got %q\nwant %q", got, refOut)
	}
}

func TestDelims(t *testing.T) {
	c := newCache(t)
	w := newCounters()
	tm, err := template.New("delims.html").Delims("<<", ">>").Funcs(fragments.Funcs()).Funcs(w.funcs()).ParseFiles("testdata/delims.html")
	if err != nil {
		t.Fatal(err)
	}
	if err := fragments.Rewrite(tm, c); err != nil {
		t.Fatal(err)
	}
	data := page{Title: "T", User: &user{1, "Ann"}}
	want := "<p>T</p><aside>Ann render 1</aside>\n"
	if got := render(t, tm, "delims.html", data); got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	data.Title = "U"
	if got := render(t, tm, "delims.html", data); got != strings.Replace(want, "T", "U", 1) {
		t.Fatalf("hit: %q", got)
	}
	if w.get("sidebar") != 1 {
		t.Fatal("body ran twice")
	}
}

func TestRewriteTwiceAndAfterExecute(t *testing.T) {
	c := newCache(t)
	w := newCounters()
	tm := load(t, c, w.funcs(), "sidebar.html")
	if err := fragments.Rewrite(tm, c); err != nil {
		t.Fatalf("second Rewrite: %v", err)
	}
	// A template added later gets its own Rewrite.
	template.Must(tm.New("more").Parse(`{{cache "more" 60}}more {{work "more"}}{{endcache}}`))
	if err := fragments.Rewrite(tm, c); err != nil {
		t.Fatal(err)
	}
	data := page{User: &user{1, "Ann"}}
	render(t, tm, "sidebar.html", data)
	if got := render(t, tm, "more", nil); got != "more 1" {
		t.Fatal(got)
	}
}

func TestRewriteAfterExecute(t *testing.T) {
	c := newCache(t)
	tm := template.Must(template.New("a").Funcs(fragments.Funcs()).Parse(`a{{define "b"}}{{cache "b" 60}}b{{endcache}}{{end}}`))
	var sb strings.Builder
	if err := tm.Execute(&sb, nil); err != nil {
		t.Fatal(err)
	}
	before := tm.Lookup("b").Tree.Root.String()
	err := fragments.Rewrite(tm, c)
	if err == nil || !strings.Contains(err.Error(), "Execute") {
		t.Fatalf("Rewrite after Execute: %v", err)
	}
	if tm.Lookup("b").Tree.Root.String() != before {
		t.Fatal("a failed Rewrite changed the set")
	}
}

func TestNoBlocksUnchanged(t *testing.T) {
	c := newCache(t)
	tm := template.Must(template.New("a").Funcs(fragments.Funcs()).Parse(`{{range .}}<b>{{.}}</b>{{end}}`))
	before := tm.Tree.Root.String()
	if err := fragments.Rewrite(tm, c); err != nil {
		t.Fatal(err)
	}
	if tm.Tree.Root.String() != before || len(tm.Templates()) != 1 {
		t.Fatal("a set without blocks was changed")
	}
	if err := fragments.Rewrite(nil, c); err == nil {
		t.Fatal("nil set: no error")
	}
	if err := fragments.Rewrite(tm, nil); err == nil {
		t.Fatal("nil cache: no error")
	}
}

func TestConcurrentRendersShareTemplates(t *testing.T) {
	// Pages, block bodies and the partials both call are escaped and run
	// concurrently from the first render on.
	c := newCache(t)
	tm := template.Must(template.New("page").Funcs(fragments.Funcs()).Parse(
		`{{define "p"}}<b title="{{.}}">{{.}}</b>{{end}}` +
			`{{template "p" .}}{{cache "x" 60 .}}<i>{{template "p" .}}</i>{{cache "y" 0}}{{template "p" .}}{{endcache}}{{endcache}}`))
	if err := fragments.Rewrite(tm, c); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				v := fmt.Sprintf("<%d-%d>", g, i%5)
				var sb strings.Builder
				if err := tm.Execute(&sb, v); err != nil {
					t.Error(err)
					return
				}
				e := template.HTMLEscapeString(v)
				want := fmt.Sprintf(`<b title="%s">%s</b><i><b title="%s">%s</b></i><b title="%s">%s</b>`, e, e, e, e, e, e)
				if sb.String() != want {
					t.Errorf("got %q want %q", sb.String(), want)
					return
				}
			}
		})
	}
	wg.Wait()
}
