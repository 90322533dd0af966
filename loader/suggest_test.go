package loader_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/cachekit/cachekit/loader"
)

func TestMissingSuggestions(t *testing.T) {
	eng := loader.New("./testdata/views", ".html")
	eng.AddFuncMap(funcs())
	var buf bytes.Buffer
	for _, tc := range []struct {
		page    string
		layouts []string
		want    string
	}{
		{"indx", nil, `render: template "indx" does not exist; did you mean "index"?`},
		{"index.html", nil, `did you mean "index"?`},
		{"header", nil, `did you mean "partials/header"?`},
		{"index", []string{"layouts/mian"}, `render: layout "layouts/mian" does not exist; did you mean "layouts/main"?`},
		{"index", []string{"layouts/nested/inner", "layout/nested/bas"}, `did you mean "layouts/nested/base"?`},
		{"nothing-like-it-at-all", nil, `render: template "nothing-like-it-at-all" does not exist`},
	} {
		err := eng.Render(&buf, tc.page, pageData(), tc.layouts...)
		var me *loader.MissingError
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &me) {
			t.Errorf("%s %v: got %v, want %q", tc.page, tc.layouts, err, tc.want)
		}
	}
	// A template that calls one that does not exist.
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"page.html":         `{{template "partials/navbar" .}}`,
		"partials/nav.html": `<nav></nav>`,
	})
	err := loader.New(dir, ".html").Render(&buf, "page", nil)
	if err == nil || err.Error() != `render: template "page" calls template "partials/navbar", which does not exist; did you mean "partials/nav"?` {
		t.Errorf("got %v", err)
	}
}
