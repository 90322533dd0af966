package fragments_test

import (
	"html/template"
	"testing"

	"github.com/cachekit/cachekit/fragments"
)

func TestSourceDigest(t *testing.T) {
	c := newCache(t)
	w := newCounters()
	parse := func(src string) *template.Template {
		tm := template.Must(template.New("p").Funcs(fragments.Funcs()).Funcs(w.funcs()).Parse(src))
		if err := fragments.Rewrite(tm, c); err != nil {
			t.Fatal(err)
		}
		return tm
	}
	v1 := `{{cache "d" 60}}v1 {{work "d"}}{{endcache}}`
	a := parse(v1)
	if got := render(t, a, "p", nil); got != "v1 1" {
		t.Fatal(got)
	}
	// The same source in another set (the loader's case): same key, a hit.
	same := parse(v1)
	if got := render(t, same, "p", nil); got != "v1 1" {
		t.Fatal(got)
	}
	// Copies of the parse trees, as the loader makes them.
	orig := template.Must(template.New("p").Funcs(fragments.Funcs()).Funcs(w.funcs()).Parse(v1))
	cp2 := template.New("p").Funcs(fragments.Funcs()).Funcs(w.funcs())
	if _, err := cp2.AddParseTree("p", orig.Tree.Copy()); err != nil {
		t.Fatal(err)
	}
	if err := fragments.Rewrite(cp2, c); err != nil {
		t.Fatal(err)
	}
	if got := render(t, cp2, "p", nil); got != "v1 1" {
		t.Fatal(got)
	}
	// Editing the block's source changes its digest: the old entry is a miss.
	b := parse(`{{cache "d" 60}}v2 {{work "d"}}{{endcache}}`)
	if got := render(t, b, "p", nil); got != "v2 2" {
		t.Fatalf("edited block served the old fragment: %q", got)
	}
	if got := render(t, b, "p", nil); got != "v2 2" {
		t.Fatal(got)
	}
	// So does editing a template the block calls.
	callsV1 := parse(`{{define "inner"}}i1{{end}}{{cache "e" 60}}{{template "inner"}} {{work "e"}}{{endcache}}`)
	if got := render(t, callsV1, "p", nil); got != "i1 1" {
		t.Fatal(got)
	}
	callsV2 := parse(`{{define "inner"}}i2{{end}}{{cache "e" 60}}{{template "inner"}} {{work "e"}}{{endcache}}`)
	if got := render(t, callsV2, "p", nil); got != "i2 2" {
		t.Fatalf("edited callee served the old fragment: %q", got)
	}
}
