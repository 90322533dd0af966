package loader_test

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

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

func TestReload(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"page.html":       `<p>page v1</p>{{template "partials/p" .}}`,
		"other.html":      `<p>other</p>{{template "partials/p" .}}`,
		"alone.html":      `<p>alone</p>`,
		"layouts/l.html":  `<main>{{embed}}</main>`,
		"partials/p.html": `<i>p v1</i>`,
	})
	eng := loader.New(dir, ".html")
	eng.Reload(true)
	if !eng.PreRenderCheck() {
		t.Error("PreRenderCheck in Reload mode")
	}
	check := func(page, want string, layouts ...string) {
		t.Helper()
		if got := render(t, eng, page, nil, layouts...); got != want {
			t.Errorf("%s: got %q, want %q", page, got, want)
		}
	}
	check("page", "<main><p>page v1</p><i>p v1</i></main>", "layouts/l")

	// An edit to a file of the chain shows at the next render.
	writeFile(t, filepath.Join(dir, "partials/p.html"), `<i>p v2</i>`)
	writeFile(t, filepath.Join(dir, "layouts/l.html"), `<main class="x">{{embed}}</main>`)
	check("page", `<main class="x"><p>page v1</p><i>p v2</i></main>`, "layouts/l")
	check("other", `<p>other</p><i>p v2</i>`)

	// A syntax error: renders that use the file get the error with file and
	// line; the others keep serving.
	writeFile(t, filepath.Join(dir, "partials/p.html"), "<i>\n{{if}}</i>")
	var buf bytes.Buffer
	for i := 0; i < 2; i++ {
		err := eng.Render(&buf, "page", nil, "layouts/l")
		var le *loader.Error
		if !errors.As(err, &le) || le.File != filepath.Join(dir, "partials/p.html") || le.Line != 2 {
			t.Fatalf("render with broken partial: %v", err)
		}
	}
	check("alone", "<p>alone</p>")
	// Load fails too and changes nothing.
	if err := eng.Load(); err == nil {
		t.Error("Load with a broken file succeeded")
	}
	check("alone", "<p>alone</p>")

	// Fixed: picked up.
	writeFile(t, filepath.Join(dir, "partials/p.html"), `<i>p v3</i>`)
	check("page", `<p>page v1</p><i>p v3</i>`)

	// New and removed files show at once.
	writeFile(t, filepath.Join(dir, "new.html"), `<p>new</p>`)
	if err := os.Remove(filepath.Join(dir, "alone.html")); err != nil {
		t.Fatal(err)
	}
	check("new", "<p>new</p>")
	if err := eng.Render(&buf, "alone", nil); err == nil {
		t.Error("removed template still renders")
	}
	// A new define elsewhere that shadows a template of the chain shows
	// within ScanInterval.
	writeFile(t, filepath.Join(dir, "zz.html"), `{{define "partials/p"}}<i>shadow</i>{{end}}`)
	time.Sleep(loader.ScanInterval + 50*time.Millisecond)
	check("page", `<p>page v1</p><i>shadow</i>`)
	// A new file that does not parse reports its error, not "does not exist".
	writeFile(t, filepath.Join(dir, "newer.html"), `{{end}}`)
	err := eng.Render(&buf, "newer", nil)
	var le *loader.Error
	if !errors.As(err, &le) || le.Name != "newer" {
		t.Errorf("got %v", err)
	}
	// A function added in Reload mode is seen at once, as with html/v2.
	eng.AddFunc("shout", strings.ToUpper)
	writeFile(t, filepath.Join(dir, "newer.html"), `{{shout "x"}}`)
	check("newer", "X")

	// Production mode again: no more checks.
	eng.Reload(false)
	writeFile(t, filepath.Join(dir, "new.html"), `<p>newest</p>`)
	check("new", "<p>new</p>")
}

// TestReloadOnlyChangedFiles: in Reload mode an unchanged tree is not read
// again, and an edit reads only the edited file.
func TestReloadOnlyChangedFiles(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"layouts/l.html": `<main>{{embed}}</main>`}
	for i := 0; i < 50; i++ {
		files[fmt.Sprintf("p%02d.html", i)] = fmt.Sprintf(`<p>%d</p>`, i)
	}
	writeFiles(t, dir, files)
	cfs := &countingFS{FileSystem: http.Dir(dir)}
	eng := loader.NewFileSystem(cfs, ".html")
	eng.Reload(true)
	render(t, eng, "p00", nil, "layouts/l")
	if n := len(cfs.reads()); n != 51 {
		t.Errorf("Load read %d files", n)
	}
	cfs.reset()
	for i := 0; i < 20; i++ {
		render(t, eng, "p00", nil, "layouts/l")
	}
	if r := cfs.reads(); len(r) != 0 {
		t.Errorf("unchanged tree: read %v", r)
	}
	// Each render looked at its chain's two files only (a directory scan
	// every ScanInterval may add one open of each file).
	if opens := cfs.opens(); opens["/p00.html"] < 20 || opens["/layouts/l.html"] < 20 || opens["/p01.html"] > 2 {
		t.Errorf("opens: %v", opens)
	}
	writeFile(t, filepath.Join(dir, "p00.html"), `<p>zero</p>`)
	writeFile(t, filepath.Join(dir, "p01.html"), `<p>one</p>`)
	cfs.reset()
	if got := render(t, eng, "p00", nil, "layouts/l"); got != "<main><p>zero</p></main>" {
		t.Errorf("got %q", got)
	}
	// p00 is read at once; p01, outside the chain, waits for the next scan
	// (which may fall on this render); nothing else is read.
	r := cfs.reads()
	if len(r) == 0 || r[0] != "/p00.html" || len(r) > 2 || len(r) == 2 && r[1] != "/p01.html" {
		t.Errorf("after editing p00 and p01, a render of p00 read %v", r)
	}
}

// countingFS records which files are opened and which are read.
type countingFS struct {
	http.FileSystem
	mu   sync.Mutex
	open map[string]int
	read map[string]bool
}

func (c *countingFS) Open(name string) (http.File, error) {
	c.mu.Lock()
	if c.open == nil {
		c.open, c.read = map[string]int{}, map[string]bool{}
	}
	c.open[name]++
	c.mu.Unlock()
	f, err := c.FileSystem.Open(name)
	if err != nil {
		return nil, err
	}
	return &countingFile{File: f, fs: c, name: name}, nil
}

type countingFile struct {
	http.File
	fs   *countingFS
	name string
}

func (f *countingFile) Read(p []byte) (int, error) {
	f.fs.mu.Lock()
	f.fs.read[f.name] = true
	f.fs.mu.Unlock()
	return f.File.Read(p)
}

func (c *countingFS) reset() {
	c.mu.Lock()
	c.open, c.read = map[string]int{}, map[string]bool{}
	c.mu.Unlock()
}

func (c *countingFS) reads() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var names []string
	for k := range c.read {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func (c *countingFS) opens() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[string]int{}
	for k, v := range c.open {
		m[k] = v
	}
	return m
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

// TestConcurrentReload renders from many goroutines while files change,
// Load runs and the configuration changes.
func TestConcurrentReload(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"page.html":       `<p>page</p>{{template "partials/p" .}}`,
		"layouts/l.html":  `<main>{{embed}}</main>`,
		"partials/p.html": `<i>p0</i>`,
	})
	eng := loader.New(dir, ".html")
	eng.Reload(true)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			for {
				select {
				case <-stop:
					return
				default:
				}
				buf.Reset()
				if err := eng.Render(&buf, "page", nil, "layouts/l"); err != nil {
					t.Error(err)
					return
				}
				if s := buf.String(); !strings.HasPrefix(s, "<main><p>page</p><i>p") {
					t.Errorf("got %q", s)
					return
				}
			}
		}()
	}
	for i := 1; i <= 20; i++ {
		// As editors do: write aside, rename over.
		tmp := filepath.Join(dir, "p.tmp")
		if err := os.WriteFile(tmp, []byte(fmt.Sprintf(`<i>p%d</i>`, i)), 0o644); err != nil {
			t.Fatal(err)
		}
		mod := time.Now().Add(time.Duration(i) * time.Second)
		if err := os.Chtimes(tmp, mod, mod); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "partials/p.html")); err != nil {
			t.Fatal(err)
		}
		if i%5 == 0 {
			if err := eng.Load(); err != nil {
				t.Error(err)
			}
			eng.Layout("embed")
		}
		time.Sleep(2 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if got := render(t, eng, "page", nil, "layouts/l"); got != "<main><p>page</p><i>p20</i></main>" {
		t.Errorf("got %q", got)
	}
}
