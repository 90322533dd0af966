package loader_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cachekit/cachekit/loader"
	"github.com/gofiber/fiber/v2"
	html "github.com/gofiber/template/html/v2"
)

// chains rendered by the parity test: page, layouts.
var parityCases = []struct {
	page    string
	layouts []string
}{
	{"index", nil},
	{"index", []string{"layouts/main"}},
	{"index", []string{"layouts/nested/inner", "layouts/nested/base"}},
	{"index", []string{"layouts/main", ""}},
	{"admin", nil},
	{"admin", []string{"layouts/main"}},
	{"errors/404", []string{"layouts/main"}},
	{"pages/about", nil},
	{"pages/about", []string{"layouts/main"}},
	{"pages/about", []string{"layouts/nested/inner", "layouts/nested/base"}},
	{"pages/empty", []string{"layouts/main"}},
	{"partials/header", nil},
	{"partials/card", nil},
	{"about/team", nil},
	{"partials/footer", []string{"layouts/nested/base"}},
}

func TestParityWithHTMLv2(t *testing.T) {
	peer := html.New("./testdata/views", ".html")
	peer.AddFuncMap(funcs())
	eng := loader.New("./testdata/views", ".html")
	eng.AddFuncMap(funcs())
	if err := peer.Load(); err != nil {
		t.Fatal(err)
	}
	if err := eng.Load(); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ { // the second round renders built chains
		for _, c := range parityCases {
			other := pageData()
			other["User"], other["Items"], other["Links"], other["Dark"], other["Featured"] = user{Name: "bob"}, []item{}, nil, false, card{}
			for _, data := range []interface{}{pageData(), other} {
				want := render(t, peer, c.page, data, c.layouts...)
				got := render(t, eng, c.page, data, c.layouts...)
				if got != want {
					t.Errorf("%s %v: output differs from html/v2\n--- html/v2\n%s\n--- loader\n%s", c.page, c.layouts, want, got)
				}
			}
		}
	}
	// The test is only worth something if the templates did their work.
	out := render(t, eng, "index", pageData(), "layouts/main")
	for _, s := range []string{
		`<title>Tom &amp; &#34;Jerry&#34; &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; | Cache&lt;Kit&gt;</title>`,
		`href="#ZgotmplZ"`, `<b>trusted</b>`, `CACHE&lt;KIT&gt;`, `var n =  2 ;`, `class="active"`,
		`<strong>expensive</strong>`, `&copy; 2024`, `<li id="item-1"`,
	} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
}

func TestParityCustomDelims(t *testing.T) {
	peer := html.New("./testdata/delims", ".html")
	peer.Delims("[[", "]]")
	peer.AddFuncMap(funcs())
	eng := loader.New("./testdata/delims", ".html")
	eng.Delims("[[", "]]").AddFuncMap(funcs())
	for _, layouts := range [][]string{nil, {"layouts/main"}} {
		want := render(t, peer, "index", pageData(), layouts...)
		got := render(t, eng, "index", pageData(), layouts...)
		if got != want {
			t.Errorf("%v: output differs from html/v2\n--- html/v2\n%s\n--- loader\n%s", layouts, want, got)
		}
		if !strings.Contains(got, "{{ not an action }}") || !strings.Contains(got, "CACHE&lt;KIT&gt;") {
			t.Errorf("delimiters not applied:\n%s", got)
		}
	}
}

func TestFiber(t *testing.T) {
	engine := loader.New("./testdata/views", ".html")
	engine.AddFuncMap(funcs())
	app := fiber.New(fiber.Config{Views: engine})
	app.Get("/", func(c *fiber.Ctx) error {
		return c.Render("index", fiber.Map(pageData()), "layouts/main")
	})
	app.Get("/nested", func(c *fiber.Ctx) error {
		return c.Render("pages/about", fiber.Map(pageData()), "layouts/nested/inner", "layouts/nested/base")
	})
	app.Get("/missing", func(c *fiber.Ctx) error {
		return c.Render("indx", nil)
	})
	peer := html.New("./testdata/views", ".html")
	peer.AddFuncMap(funcs())

	for _, tc := range []struct {
		path, page string
		layouts    []string
	}{
		{"/", "index", []string{"layouts/main"}},
		{"/nested", "pages/about", []string{"layouts/nested/inner", "layouts/nested/base"}},
	} {
		resp, err := app.Test(httptest.NewRequest(http.MethodGet, tc.path, nil))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Fatalf("%s: status %d, type %q: %s", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		if want := render(t, peer, tc.page, pageData(), tc.layouts...); string(body) != want {
			t.Errorf("%s: body differs from html/v2\n--- html/v2\n%s\n--- loader\n%s", tc.path, want, body)
		}
	}
	resp, err := app.Test(httptest.NewRequest(http.MethodGet, "/missing", nil))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 500 || !strings.Contains(string(body), `did you mean "index"`) {
		t.Errorf("missing template: status %d: %s", resp.StatusCode, body)
	}
}

func TestFiberViewsLayout(t *testing.T) {
	engine := loader.New("./testdata/views", ".html")
	engine.AddFuncMap(funcs())
	app := fiber.New(fiber.Config{Views: engine, ViewsLayout: "layouts/main", PassLocalsToViews: true})
	app.Get("/", func(c *fiber.Ctx) error {
		c.Locals("Title", "from locals")
		return c.Render("errors/404", fiber.Map{"Error": "gone", "Site": "s"})
	})
	resp, err := app.Test(httptest.NewRequest(http.MethodGet, "/", nil))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	for _, s := range []string{"<!DOCTYPE html>", "<h1>gone</h1>", "<title>from locals |"} {
		if !strings.Contains(string(body), s) {
			t.Errorf("body lacks %q:\n%s", s, body)
		}
	}
}

func TestAddFuncAndFuncMap(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"func_map.html": `<h2>{{lower .Var1}}</h2><p>{{upper .Var2}}</p>{{greet "x"}}`,
	})
	eng := loader.New(dir, ".html")
	eng.AddFuncMap(map[string]interface{}{"lower": strings.ToLower, "upper": strings.ToUpper}).
		AddFunc("greet", func(s string) string { return "hi " + s })
	got := render(t, eng, "func_map", map[string]string{"Var1": "LOwEr", "Var2": "upPEr"})
	if want := "<h2>lower</h2><p>UPPER</p>hi x"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	fm := eng.FuncMap()
	for _, name := range []string{"lower", "upper", "greet", "embed"} {
		if _, ok := fm[name]; !ok {
			t.Errorf("FuncMap lacks %q", name)
		}
	}
	// A value that is not a usable function: an error, not a panic.
	bad := loader.New(dir, ".html")
	bad.AddFunc("bad", 42)
	if err := bad.Load(); err == nil || !strings.Contains(err.Error(), `function "bad"`) {
		t.Errorf("Load with a bad function: %v", err)
	}
	// A function the templates call must exist at Load: the error names file and line.
	eng = loader.New(dir, ".html")
	err := eng.Load()
	var le *loader.Error
	if !errors.As(err, &le) || le.Line != 1 || !strings.HasSuffix(le.File, "func_map.html") || !strings.Contains(err.Error(), `function "lower" not defined`) {
		t.Errorf("Load: %v", err)
	}
}

func TestLoadErrorKeepsPreviousSet(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.html":          `<p>a {{.}}</p>`,
		"b.html":          "<p>b</p>\n{{template \"partials/x\" .}}",
		"partials/x.html": `<i>x</i>`,
	})
	eng := loader.New(dir, ".html")
	if err := eng.Load(); err != nil {
		t.Fatal(err)
	}
	if got := render(t, eng, "b", nil); got != "<p>b</p>\n<i>x</i>" {
		t.Fatalf("got %q", got)
	}
	writeFile(t, filepath.Join(dir, "partials/x.html"), "<i>x2</i>")
	writeFile(t, filepath.Join(dir, "b.html"), "<p>b2</p>\n\n{{if .}}\n{{template \"partials/x\" .}\n{{end}}")
	err := eng.Load()
	var le *loader.Error
	if !errors.As(err, &le) {
		t.Fatalf("Load: %v", err)
	}
	wantFile := filepath.Join(dir, "b.html")
	if le.File != wantFile || le.Line != 4 || le.Name != "b" {
		t.Errorf("error %+v, want file %s line 4", le, wantFile)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "loader: "+wantFile+":4: ") {
		t.Errorf("message %q", msg)
	}
	// Nothing of the failed Load shows: not even the partial that did parse.
	if got := render(t, eng, "b", nil); got != "<p>b</p>\n<i>x</i>" {
		t.Errorf("after failed Load got %q", got)
	}
	writeFile(t, filepath.Join(dir, "b.html"), "<p>b3</p>{{template \"partials/x\" .}}")
	if err := eng.Load(); err != nil {
		t.Fatal(err)
	}
	if got := render(t, eng, "b", nil); got != "<p>b3</p><i>x2</i>" {
		t.Errorf("after Load got %q", got)
	}
}

func TestLazyLoadAndErrors(t *testing.T) {
	var buf bytes.Buffer
	eng := loader.New("./testdata/does-not-exist", ".html")
	if err := eng.Render(&buf, "index", nil); err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v", err)
	}
	if !eng.PreRenderCheck() {
		t.Error("PreRenderCheck before Load")
	}
	eng = loader.New("./testdata/views", ".html")
	eng.AddFuncMap(funcs())
	if got := render(t, eng, "admin", map[string]interface{}{"User": user{"admin"}}); !strings.Contains(got, "Hello, Admin!") {
		t.Errorf("got %q", got)
	}
	if eng.PreRenderCheck() {
		t.Error("PreRenderCheck after Load in production mode")
	}
	// An execution error comes from html/template, with its template and line.
	err := eng.Render(&buf, "index", map[string]interface{}{"Items": 3})
	if err == nil || !strings.Contains(err.Error(), "index:") {
		t.Errorf("got %v", err)
	}
	// Also when the page is inside a layout (html/v2 prints it into the page).
	err = eng.Render(&buf, "index", map[string]interface{}{"Items": 3, "Site": "s"}, "layouts/main")
	if err == nil || !strings.Contains(err.Error(), "index:") {
		t.Errorf("got %v", err)
	}
	// The layout function outside a layout.
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"p.html": `x{{embed}}`})
	err = loader.New(dir, ".html").Render(&buf, "p", nil)
	if err == nil || !strings.Contains(err.Error(), "embed called outside a layout") {
		t.Errorf("got %v", err)
	}
}

func TestConcurrentRenders(t *testing.T) {
	eng := loader.New("./testdata/views", ".html")
	eng.AddFuncMap(funcs())
	peer := html.New("./testdata/views", ".html")
	peer.AddFuncMap(funcs())
	want := map[int]string{}
	for i, c := range parityCases {
		want[i] = render(t, peer, c.page, pageData(), c.layouts...)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			var buf bytes.Buffer
			for n := 0; n < 30; n++ {
				i := (g + n) % len(parityCases)
				c := parityCases[i]
				buf.Reset()
				if err := eng.Render(&buf, c.page, pageData(), c.layouts...); err != nil {
					errs <- err
					return
				}
				if buf.String() != want[i] {
					errs <- fmt.Errorf("%s %v: wrong output", c.page, c.layouts)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
