package fragments_test

import (
	"errors"
	"html/template"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit/fragments"
)

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

	// Bad ttls from the data fail the render, naming the block (a
	// negative one stores nothing: TestTTLMeaning).
	for _, bad := range []any{"soon", nil, []int{1}, math.NaN()} {
		var sb strings.Builder
		err := tm.Execute(&sb, map[string]any{"TTL": bad})
		if err == nil || !strings.Contains(err.Error(), `{{cache "ttl"}}`) || !strings.Contains(err.Error(), "ttl.html:1:") {
			t.Errorf("ttl %v: error %v", bad, err)
		}
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

// A Cache that cannot work is reported by Rewrite (TestRewriteReportsABadCache),
// when the templates load, not as pages silently rendered uncached.
