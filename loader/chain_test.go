package loader_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cachekit/cachekit/loader"
	html "github.com/gofiber/template/html/v2"
)

func TestPerPageDefines(t *testing.T) {
	eng := loader.New("./testdata/defines", ".html")
	for page, want := range map[string][]string{
		"pages/a": {"<title>Page A</title>", "<aside>sidebar A</aside>", "<p>content A</p>"},
		"pages/b": {"<title>Page B</title>", "<aside>default sidebar</aside>", "<p>content B</p>"},
		"pages/c": {"<title>Default title</title>", "<aside>default sidebar</aside>", "<h1>C</h1>"},
	} {
		for i := 0; i < 2; i++ {
			out := render(t, eng, page, nil, "layouts/base")
			for _, s := range want {
				if !strings.Contains(out, s) {
					t.Errorf("%s: lacks %q:\n%s", page, s, out)
				}
			}
		}
	}
	// html/v2 shares defines between pages: b's title and a's sidebar everywhere.
	peer := html.New("./testdata/defines", ".html")
	if out := render(t, peer, "pages/a", nil, "layouts/base"); !strings.Contains(out, "Page B") {
		t.Logf("html/v2 no longer mixes defines up:\n%s", out)
	}
}

func TestNestedLayoutsAndEmbedInPartial(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"page.html":          `<p>{{.}}</p>`,
		"layouts/outer.html": `<html>{{template "partials/shell" .}}</html>`,
		"layouts/inner.html": `<div>{{embed}}</div>{{define "unused"}}{{embed}}{{end}}`,
		// A partial of the outer layout shows the inner one, as html/v2 allows.
		"partials/shell.html": `<body>{{embed}}</body>`,
		"twice.html":          `[{{embed}}|{{embed}}]`,
	})
	peer := html.New(dir, ".html")
	eng := loader.New(dir, ".html")
	for _, layouts := range [][]string{
		{"layouts/inner", "layouts/outer"},
		{"layouts/outer"},
		{"layouts/inner"},
		{"layouts/inner", "layouts/inner"},
	} {
		want := render(t, peer, "page", "x", layouts...)
		if got := render(t, eng, "page", "x", layouts...); got != want {
			t.Errorf("%v: got %q, html/v2 %q", layouts, got, want)
		}
	}
	if got, want := render(t, eng, "page", "x", "twice"), "[<p>x</p>|<p>x</p>]"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLayoutRename(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"page.html":        `<p>{{.}}</p>`,
		"layouts/l.html":   `<main>{{content}}</main>`,
		"layouts/old.html": `<main>{{embed}}</main>`,
	})
	eng := loader.New(dir, ".html")
	eng.Layout("content")
	if got, want := render(t, eng, "page", "x", "layouts/l"), "<main><p>x</p></main>"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// The old name is only a function now.
	var buf bytes.Buffer
	if err := eng.Render(&buf, "page", "x", "layouts/old"); err == nil {
		t.Errorf("old layout name still compiled: %q", buf.String())
	}
	eng.Layout("embed")
	if got, want := render(t, eng, "page", "x", "layouts/old"), "<main><p>x</p></main>"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
