package loader_test

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
	"testing"

	"github.com/cachekit/cachekit/loader"
	html "github.com/gofiber/template/html/v2"
)

//go:embed testdata/views
var viewsFS embed.FS

func TestEmbedFS(t *testing.T) {
	sub, err := fs.Sub(viewsFS, "testdata/views")
	if err != nil {
		t.Fatal(err)
	}
	eng := loader.NewFileSystem(http.FS(sub), ".html")
	eng.AddFuncMap(funcs())
	peer := html.NewFileSystem(http.FS(sub), ".html")
	peer.AddFuncMap(funcs())
	for _, c := range parityCases[:4] {
		want := render(t, peer, c.page, pageData(), c.layouts...)
		if got := render(t, eng, c.page, pageData(), c.layouts...); got != want {
			t.Errorf("%s %v: differs from html/v2\n--- html/v2\n%s\n--- loader\n%s", c.page, c.layouts, want, got)
		}
	}
	// Whole embed.FS: names keep the directories, as with html/v2.
	eng = loader.NewFileSystem(http.FS(viewsFS), ".html")
	eng.AddFuncMap(funcs())
	if out := render(t, eng, "testdata/views/errors/404", map[string]interface{}{"Error": "x"}); !strings.Contains(out, "<h1>x</h1>") {
		t.Errorf("got %q", out)
	}
	// Reload mode works on a file system too.
	eng.Reload(true)
	if out := render(t, eng, "testdata/views/errors/404", map[string]interface{}{"Error": "y"}); !strings.Contains(out, "<h1>y</h1>") {
		t.Errorf("got %q", out)
	}
}
