package fragments_test

import (
	"errors"
	"fmt"
	"html/template"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/fragments"
)

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

func TestHitAndMiss(t *testing.T) {
	c := newCache(t)
	w := newCounters()
	tm := load(t, c, w.funcs(), "sidebar.html")
	ref := reference(t, w.funcs(), "sidebar.html")

	data := page{Title: "Home", Body: "b", User: &user{1, "Ann"}}
	first := render(t, tm, "sidebar.html", data)
	if w.get("sidebar") != 1 {
		t.Fatalf("first render: body ran %d times", w.get("sidebar"))
	}
	want := render(t, ref, "sidebar.html", data) // renders the body again: count 2
	want = strings.Replace(want, "render 2", "render 1", 1)
	if first != want {
		t.Fatalf("miss output\n got %q\nwant %q", first, want)
	}
	// A hit writes the stored HTML; the rest of the page is live.
	data.Title, data.Body = "Other", "b2"
	second := render(t, tm, "sidebar.html", data)
	if w.get("sidebar") != 2 { // 1 from the block, 1 from the reference
		t.Fatalf("hit ran the body: %d", w.get("sidebar"))
	}
	if !strings.Contains(second, "<h1>Other</h1>") || !strings.Contains(second, "<aside>Ann render 1</aside>") || !strings.Contains(second, "<p>b2</p>") {
		t.Fatalf("hit output %q", second)
	}
	st := c.Stats()
	if st.Hits != 1 || st.Stores != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestVarySeparatesVariants(t *testing.T) {
	c := newCache(t)
	w := newCounters()
	tm := load(t, c, w.funcs(), "sidebar.html")
	ann := page{User: &user{1, "Ann"}}
	bob := page{User: &user{2, "Bob"}}
	if got := render(t, tm, "sidebar.html", ann); !strings.Contains(got, "Ann render 1") {
		t.Fatal(got)
	}
	if got := render(t, tm, "sidebar.html", bob); !strings.Contains(got, "Bob render 2") {
		t.Fatal(got)
	}
	if got := render(t, tm, "sidebar.html", ann); !strings.Contains(got, "Ann render 1") {
		t.Fatal(got)
	}
	// The key is the vary value, not the rest of the data.
	if got := render(t, tm, "sidebar.html", page{User: &user{1, "Renamed"}}); !strings.Contains(got, "Ann render 1") {
		t.Fatal(got)
	}
	if w.get("sidebar") != 2 {
		t.Fatalf("body ran %d times", w.get("sidebar"))
	}
}

func TestInvalidate(t *testing.T) {
	c := newCache(t)
	w := newCounters()
	tm := load(t, c, w.funcs(), "sidebar.html")
	ann := page{User: &user{1, "Ann"}}
	bob := page{User: &user{2, "Bob"}}
	render(t, tm, "sidebar.html", ann) // 1
	render(t, tm, "sidebar.html", bob) // 2

	// One variant: the vary value as Go passes it, any integer type.
	if err := fragments.Invalidate(c, "sidebar", int64(1)); err != nil {
		t.Fatal(err)
	}
	if got := render(t, tm, "sidebar.html", ann); !strings.Contains(got, "Ann render 3") {
		t.Fatalf("invalidated variant not re-rendered: %q", got)
	}
	if got := render(t, tm, "sidebar.html", bob); !strings.Contains(got, "Bob render 2") {
		t.Fatalf("other variant lost: %q", got)
	}

	// All variants.
	if err := fragments.Invalidate(c, "sidebar"); err != nil {
		t.Fatal(err)
	}
	if got := render(t, tm, "sidebar.html", ann); !strings.Contains(got, "Ann render 4") {
		t.Fatal(got)
	}
	if got := render(t, tm, "sidebar.html", bob); !strings.Contains(got, "Bob render 5") {
		t.Fatal(got)
	}
	// Key and BlockTag say where it lives.
	key, err := fragments.Key("sidebar", 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.Get(key); !ok {
		t.Fatalf("no entry under %s", key)
	}
	if err := c.InvalidateTags(fragments.BlockTag("sidebar")); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.Get(key); ok {
		t.Fatal("entry survived its name tag")
	}
	if err := fragments.Invalidate(c, "sidebar", func() {}); err == nil {
		t.Fatal("Invalidate with a func vary value: no error")
	}
}

func TestTTLExpiry(t *testing.T) {
	c := newCache(t)
	w := newCounters()
	tm := load(t, c, w.funcs(), "ttl.html")
	data := map[string]any{"TTL": 150 * time.Millisecond}
	if got := render(t, tm, "ttl.html", data); !strings.Contains(got, "ttl render 1") {
		t.Fatal(got)
	}
	if got := render(t, tm, "ttl.html", data); !strings.Contains(got, "ttl render 1") {
		t.Fatal(got)
	}
	time.Sleep(250 * time.Millisecond)
	if got := render(t, tm, "ttl.html", data); !strings.Contains(got, "ttl render 2") {
		t.Fatalf("not re-rendered after the ttl: %q", got)
	}

	// Integer seconds, from the data.
	data["TTL"] = 1
	Invalidate(t, c, "ttl")
	render(t, tm, "ttl.html", data) // 3
	if got := render(t, tm, "ttl.html", data); !strings.Contains(got, "ttl render 3") {
		t.Fatal(got)
	}
	time.Sleep(1100 * time.Millisecond)
	if got := render(t, tm, "ttl.html", data); !strings.Contains(got, "ttl render 4") {
		t.Fatalf("not re-rendered after 1s: %q", got)
	}

	// Bad ttls from the data fail the render, naming the block.
	for _, bad := range []any{-1, "-5m", "soon", -time.Second, nil, []int{1}} {
		var sb strings.Builder
		err := tm.Execute(&sb, map[string]any{"TTL": bad})
		if err == nil || !strings.Contains(err.Error(), `{{cache "ttl"}}`) || !strings.Contains(err.Error(), "ttl.html:1:") {
			t.Errorf("ttl %v: error %v", bad, err)
		}
	}
}

func Invalidate(t *testing.T, c *cachekit.Cache, name string, vary ...any) {
	t.Helper()
	if err := fragments.Invalidate(c, name, vary...); err != nil {
		t.Fatal(err)
	}
}

func TestTTLForms(t *testing.T) {
	c := newCache(t)
	w := newCounters()
	tm := load(t, c, w.funcs(), "ttlforms.html")
	render(t, tm, "ttlforms.html", nil)
	got := render(t, tm, "ttlforms.html", nil)
	// Stored ones hit; ttl 0 renders every time.
	if want := "1 1 1 1 2 2\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if st := c.Stats(); st.Stores != 4 {
		t.Fatalf("%d stores, want 4 (ttl 0 stores nothing)", st.Stores)
	}
}

func TestTags(t *testing.T) {
	c := newCache(t)
	w := newCounters()
	tm := load(t, c, w.funcs(), "tags.html")
	data := map[string]any{"ID": 7, "Tags": []string{"a", "b"}}
	render(t, tm, "tags.html", data)
	if got := render(t, tm, "tags.html", data); !strings.Contains(got, "tagged render 1") || !strings.Contains(got, "list render 1") {
		t.Fatal(got)
	}
	if err := c.InvalidateTags("product:8"); err != nil {
		t.Fatal(err)
	}
	if got := render(t, tm, "tags.html", data); !strings.Contains(got, "tagged render 1") {
		t.Fatalf("unrelated tag invalidated the block: %q", got)
	}
	if err := c.InvalidateTags("product:7"); err != nil {
		t.Fatal(err)
	}
	if got := render(t, tm, "tags.html", data); !strings.Contains(got, "tagged render 2") || !strings.Contains(got, "list render 1") {
		t.Fatal(got)
	}
	if err := c.InvalidateTags("b"); err != nil {
		t.Fatal(err)
	}
	if got := render(t, tm, "tags.html", data); !strings.Contains(got, "tagged render 2") || !strings.Contains(got, "list render 2") {
		t.Fatal(got)
	}
	// A bad tag fails the render.
	var sb strings.Builder
	err := tm.Execute(&sb, map[string]any{"ID": 1, "Tags": []any{"x", 3}})
	if err == nil || !strings.Contains(err.Error(), `{{cache "listtags"}}`) {
		t.Fatalf("error %v", err)
	}
}

type product struct {
	ID   int
	Name string
}

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

type row struct {
	ID   int
	Name string
}

// Label has a pointer receiver: it works on an addressable dot only, as
// inside {{range}} over a slice of structs.
func (r *row) Label() string { return "label-" + r.Name }

func TestOuterVariablesAndDot(t *testing.T) {
	c := newCache(t)
	tm := load(t, c, nil, "vars.html")
	ref := reference(t, nil, "vars.html")
	data := map[string]any{
		"Site":     "example.org",
		"User":     &user{9, "Zoe <admin>"},
		"Products": []row{{1, "a&b"}, {2, "<i>b</i>"}},
	}
	want := render(t, ref, "vars.html", data)
	for i := 0; i < 2; i++ { // miss, then hit
		if got := render(t, tm, "vars.html", data); got != want {
			t.Fatalf("render %d\n got %q\nwant %q", i, got, want)
		}
	}
	if !strings.Contains(want, `<li class="row-1">1/2 &lt;i&gt;b&lt;/i&gt; &lt;i&gt;b&lt;/i&gt; label-&lt;i&gt;b&lt;/i&gt; for Zoe &lt;admin&gt; on example.org (Zoe &lt;admin&gt; again, 2)</li>`) {
		t.Fatalf("reference is not what the test means: %q", want)
	}
	// nil data: dot and $ are missing values inside the block too.
	c2 := newCache(t)
	tm2 := load(t, c2, nil, "vars.html")
	var a, b strings.Builder
	errA := tm2.Execute(&a, nil)
	errB := ref.Execute(&b, nil)
	if (errA == nil) != (errB == nil) || a.String() != b.String() {
		t.Fatalf("nil data: got %q, %v; want %q, %v", a.String(), errA, b.String(), errB)
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

func TestEscaping(t *testing.T) {
	c := newCache(t)
	tm := load(t, c, nil, "escape.html")
	ref := reference(t, nil, "escape.html")
	for _, q := range []string{
		`<script>alert("x")</script>`,
		`"><img src=x onerror=alert(1)>`,
		`'; alert(1); //`,
		`javascript:alert(1)`,
		`</textarea><script>x</script>`,
		strings.Repeat("long ", 10000),
	} {
		data := map[string]any{"Query": q, "Color": "red; background: url(javascript:x)"}
		want := render(t, ref, "escape.html", data)
		for i := 0; i < 2; i++ {
			if got := render(t, tm, "escape.html", data); got != want {
				t.Fatalf("query %.40q, render %d\n got %q\nwant %q", q, i, got, want)
			}
		}
		if strings.Contains(want, "<script>alert") || strings.Contains(want, "<img") {
			t.Fatalf("reference not escaped: %q", want)
		}
	}
	if st := c.Stats(); st.Hits != 6 || st.Stores != 6 {
		t.Fatalf("each query is its own variant: %+v", st)
	}
}

func TestScriptWithTemplateType(t *testing.T) {
	// html/template treats a non-JavaScript <script> as HTML text.
	c := newCache(t)
	tm := load(t, c, nil, "texttemplate.html")
	ref := reference(t, nil, "texttemplate.html")
	data := map[string]string{"Name": "<x>"}
	if got, want := render(t, tm, "texttemplate.html", data), render(t, ref, "texttemplate.html", data); got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestPartialCalledInText(t *testing.T) {
	c := newCache(t)
	tm := load(t, c, nil, "partials.html")
	if got := render(t, tm, "page", map[string]string{"Name": "<n>"}); got != "<div><span>&lt;n&gt;</span></div>" {
		t.Fatal(got)
	}
}

func TestConcurrentMissesRenderOnce(t *testing.T) {
	c := newCache(t)
	var runs atomic.Int32
	slow := func() int {
		time.Sleep(50 * time.Millisecond)
		return int(runs.Add(1))
	}
	tm := load(t, c, template.FuncMap{"slow": slow}, "slow.html")
	var wg sync.WaitGroup
	outs := make([]string, 100)
	errs := make([]error, 100)
	start := make(chan struct{})
	for i := range 100 {
		wg.Go(func() {
			<-start
			var sb strings.Builder
			errs[i] = tm.Execute(&sb, nil)
			outs[i] = sb.String()
		})
	}
	close(start)
	wg.Wait()
	for i := range 100 {
		if errs[i] != nil || outs[i] != "slow 1\n" {
			t.Fatalf("goroutine %d: %q, %v", i, outs[i], errs[i])
		}
	}
	if runs.Load() != 1 {
		t.Fatalf("body rendered %d times", runs.Load())
	}
}

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

func TestRenderErrors(t *testing.T) {
	c := newCache(t)
	fail := true
	funcs := template.FuncMap{
		"maybe": func() (string, error) {
			if fail {
				return "", errors.New("database down")
			}
			return "ok", nil
		},
		"boom": func() string { panic("kaboom") },
	}
	tm := template.Must(template.New("e.html").Funcs(fragments.Funcs()).Funcs(funcs).Parse(
		"<p>\n{{cache \"vary\" 60 .V}}x{{endcache}}{{cache \"body\" 60}}[{{maybe}}]{{endcache}}{{if .Boom}}{{cache \"boom\" 60}}{{boom}}{{endcache}}{{end}}"))
	if err := fragments.Rewrite(tm, c); err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{func() {}, make(chan int), map[string]any{"f": func() {}}} {
		var sb strings.Builder
		err := tm.Execute(&sb, map[string]any{"V": v})
		if err == nil || !strings.Contains(err.Error(), `e.html:2:2: {{cache "vary"}}: vary value 1`) || !strings.Contains(err.Error(), "cannot be hashed") {
			t.Fatalf("vary %T: %v", v, err)
		}
		var fe *fragments.Error
		if !errors.As(err, &fe) || fe.Block != "vary" || fe.Line != 2 {
			t.Fatalf("not a *fragments.Error: %#v", err)
		}
	}
	// A body that fails stores nothing.
	var sb strings.Builder
	err := tm.Execute(&sb, map[string]any{"V": 1})
	if err == nil || !strings.Contains(err.Error(), "database down") || !strings.Contains(err.Error(), `{{cache "body"}}`) {
		t.Fatalf("body error: %v", err)
	}
	if st := c.Stats(); st.Stores != 1 { // the "vary" block only
		t.Fatalf("%d stores after a failed body", st.Stores)
	}
	fail = false
	if got := render(t, tm, "e.html", map[string]any{"V": 1}); got != "<p>\nx[ok]" {
		t.Fatal(got)
	}
	// A panic in the body is an error, not a crash.
	sb.Reset()
	err = tm.Execute(&sb, map[string]any{"V": 1, "Boom": true})
	if err == nil || !strings.Contains(err.Error(), "kaboom") {
		t.Fatalf("panic: %v", err)
	}
}

func TestNotRewritten(t *testing.T) {
	tm := parseFiles(t, newCounters().funcs(), "sidebar.html")
	var sb strings.Builder
	err := tm.Execute(&sb, page{User: &user{1, "a"}})
	if err == nil || !strings.Contains(err.Error(), "fragments.Rewrite") {
		t.Fatalf("error %v", err)
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

func TestBrokenCacheRendersUncached(t *testing.T) {
	// A cache that cannot work is never the reason a page fails.
	c := cachekit.New(cachekit.Config{Prefix: "bad prefix"})
	if c.Err() == nil {
		t.Skip("prefix accepted")
	}
	w := newCounters()
	tm := load(t, c, w.funcs(), "sidebar.html")
	data := page{User: &user{1, "Ann"}}
	if got := render(t, tm, "sidebar.html", data); !strings.Contains(got, "Ann render 1") {
		t.Fatal(got)
	}
	if got := render(t, tm, "sidebar.html", data); !strings.Contains(got, "Ann render 2") {
		t.Fatal(got)
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
