package redisbus_test

import (
	"encoding/binary"
	"fmt"
	"html/template"
	"io"
	"strings"
	"testing"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/fragments"
)

// memoPage is a page whose blocks share tags: a hero card, 24 cards in a
// range, six of them again in a second range, and one more standalone card,
// all one block, each tagged with its product and "catalog". {{mid}} runs
// between the two ranges, outside any block.
const memoPage = `<header>{{with .Hero}}{{cache "card" 300 .ID (tags (printf "product:%d" .ID) "catalog")}}<li>{{.Name}}</li>{{endcache}}{{end}}</header>` +
	`<ul>{{range .All}}{{cache "card" 300 .ID (tags (printf "product:%d" .ID) "catalog")}}<li>{{.Name}}</li>{{endcache}}{{end}}</ul>{{mid}}` +
	`<ol>{{range .Featured}}{{cache "card" 300 .ID (tags (printf "product:%d" .ID) "catalog")}}<li>{{.Name}}</li>{{endcache}}{{end}}</ol>` +
	`<aside>{{with .Pick}}{{cache "card" 300 .ID (tags (printf "product:%d" .ID) "catalog")}}<li>{{.Name}}</li>{{endcache}}{{end}}</aside>`

type memoData struct {
	Hero, Pick *product
	All        []product
	Featured   []product
}

// memoTemplate parses memoPage into c; mid is what {{mid}} runs.
func memoTemplate(t testing.TB, c *cachekit.Cache, mid *func()) *template.Template {
	t.Helper()
	funcs := template.FuncMap{"mid": func() string {
		if *mid != nil {
			(*mid)()
		}
		return ""
	}}
	tm := template.Must(template.New("p").Funcs(fragments.Funcs()).Funcs(funcs).Parse(memoPage))
	if err := fragments.Rewrite(tm, c); err != nil {
		t.Fatal(err)
	}
	return tm
}

func newMemoData() *memoData {
	all := collection()
	d := &memoData{All: all, Hero: &all[2], Pick: &all[4]}
	for _, i := range []int{0, 4, 9, 14, 19, 23} {
		d.Featured = append(d.Featured, all[i])
	}
	return d
}

// wantPage is the page as rendered uncached from d.
func wantPage(d *memoData) string {
	var sb strings.Builder
	li := func(p product) { fmt.Fprintf(&sb, "<li>%s</li>", p.Name) }
	sb.WriteString("<header>")
	li(*d.Hero)
	sb.WriteString("</header><ul>")
	for _, p := range d.All {
		li(p)
	}
	sb.WriteString("</ul><ol>")
	for _, p := range d.Featured {
		li(p)
	}
	sb.WriteString("</ol><aside>")
	li(*d.Pick)
	sb.WriteString("</aside>")
	return sb.String()
}

// rename renames product id everywhere in d.
func rename(d *memoData, id int, name string) {
	for i := range d.All {
		if d.All[i].ID == id {
			d.All[i].Name = name
		}
	}
	for i := range d.Featured {
		if d.Featured[i].ID == id {
			d.Featured[i].Name = name
		}
	}
}

// cardEntry reads card id's fragment through a Cache of its own (no
// render, no memo): what a later render finds stored.
func cardEntry(t *testing.T, prefix string, id int) (string, bool) {
	t.Helper()
	c, _ := atomicCache(t, prefix)
	key, err := fragments.Key("card", id)
	if err != nil {
		t.Fatal(err)
	}
	v, ok, err := c.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return "", false
	}
	// After the source digest (16 bytes) and the vary encoding (its
	// length, a uvarint, then itself): fragments' stored layout.
	n, w := binary.Uvarint(v[16:])
	if w <= 0 || uint64(len(v)-16-w) < n {
		t.Fatalf("card %d: not a stored fragment: %q", id, v)
	}
	return string(v[16+w+int(n):]), true
}

// A page whose blocks share tags, over a real Redis without Local: each
// tag's generation is read once per render (Cache.TagMemo), so the second
// range and the standalone card after it cost one round trip each (their
// entries), where they cost two before (entries, then tags): 6 round trips
// for the warm page, 8 without the memo.
func TestTagMemoRoundTripsOverRedis(t *testing.T) {
	prefix := randomPrefix()
	c, rt := atomicCache(t, prefix)
	var mid func()
	tm := memoTemplate(t, c, &mid)
	d := newMemoData()
	if got, want := renderTo(t, tm, d), wantPage(d); got != want {
		t.Fatalf("cold render:\n%s\nwant\n%s", got, want)
	}
	before := rt.n.Load()
	if got, want := renderTo(t, tm, d), wantPage(d); got != want {
		t.Fatalf("warm render:\n%s\nwant\n%s", got, want)
	}
	trips := rt.n.Load() - before
	t.Logf("warm page (hero, 24 cards, 6 again, one more): %d round trips", trips)
	if trips != 6 {
		t.Errorf("warm page: %d round trips, want 6 (hero 2, range 2, second range 1, card 1)", trips)
	}
}

// An invalidation that returned before the render is never missed: the
// memo is read during the render.
func TestTagMemoInvalidationBeforeRender(t *testing.T) {
	prefix := randomPrefix()
	c, _ := atomicCache(t, prefix)
	other, _ := atomicCache(t, prefix)
	var mid func()
	tm := memoTemplate(t, c, &mid)
	d := newMemoData()
	renderTo(t, tm, d)
	renderTo(t, tm, d)
	rename(d, 5, "new5")
	if err := other.InvalidateTags("product:5"); err != nil {
		t.Fatal(err)
	}
	if got, want := renderTo(t, tm, d), wantPage(d); got != want {
		t.Errorf("after another instance invalidated product:5:\n%s\nwant\n%s", got, want)
	}
	rename(d, 1, "new1")
	if err := c.InvalidateTags("catalog"); err != nil {
		t.Fatal(err)
	}
	if got, want := renderTo(t, tm, d), wantPage(d); got != want {
		t.Errorf("after invalidating catalog:\n%s\nwant\n%s", got, want)
	}
}

// Another instance invalidates a tag the render has already read: the rest
// of the render may serve the snapshot, but no stale entry survives it, and
// the next render is fresh.
func TestTagMemoInvalidationDuringRender(t *testing.T) {
	prefix := randomPrefix()
	c, _ := atomicCache(t, prefix)
	other, _ := atomicCache(t, prefix)
	var mid func()
	tm := memoTemplate(t, c, &mid)
	d := newMemoData()
	renderTo(t, tm, d)
	mid = func() {
		rename(d, 5, "new5") // the data changes, then its tag moves
		if err := other.InvalidateTags("product:5"); err != nil {
			t.Error(err)
		}
	}
	got := renderTo(t, tm, d)
	mid = nil
	// Before {{mid}}: the old name. After it: the old name (the render's
	// snapshot) or the new one, never anything else.
	old := wantPage(&memoData{Hero: d.Hero, Pick: d.Pick, All: d.All, Featured: d.Featured})
	old = strings.ReplaceAll(old, "new5", "p5")
	head, tail, _ := strings.Cut(got, "<ol>")
	oldHead, oldTail, _ := strings.Cut(old, "<ol>")
	newTail := strings.SplitN(wantPage(d), "<ol>", 2)[1]
	if head != oldHead || (tail != oldTail && tail != newTail) {
		t.Errorf("render during the invalidation:\n%s", got)
	}
	if v, ok := cardEntry(t, prefix, 5); ok && v != "<li>new5</li>" {
		t.Errorf("card 5 after the render: %q stored and valid", v)
	}
	if got, want := renderTo(t, tm, d), wantPage(d); got != want {
		t.Errorf("next render:\n%s\nwant\n%s", got, want)
	}
}

// A block filled during the render is stamped with the generation the
// render's memo holds: when another instance moved the tag in between, the
// entry reads as a miss once the render is over (a hit lost, not a stale
// entry kept). Without the invalidation the same fill is stored and valid.
func TestTagMemoFillDuringRender(t *testing.T) {
	for _, invalidate := range []bool{false, true} {
		t.Run(fmt.Sprint("invalidate=", invalidate), func(t *testing.T) {
			prefix := randomPrefix()
			c, _ := atomicCache(t, prefix)
			other, _ := atomicCache(t, prefix)
			var mid func()
			tm := memoTemplate(t, c, &mid)
			d := newMemoData()
			d.Pick = &product{99, "p99"} // not in the ranges: filled after {{mid}}
			renderTo(t, tm, &memoData{Hero: d.Hero, Pick: &product{98, "x"}, All: d.All})
			mid = func() {
				if invalidate {
					if err := other.InvalidateTags("catalog"); err != nil {
						t.Error(err)
					}
				}
			}
			if got, want := renderTo(t, tm, d), wantPage(d); got != want {
				t.Errorf("render:\n%s\nwant\n%s", got, want)
			}
			v, ok := cardEntry(t, prefix, 99)
			switch {
			case invalidate && ok:
				t.Errorf("card 99, filled under the memo's old catalog generation, reads as a hit: %q", v)
			case !invalidate && (!ok || v != "<li>p99</li>"):
				t.Errorf("card 99 after the render: %q, %v; want stored", v, ok)
			}
		})
	}
}

// An invalidation made through the render's own Cache is seen at once:
// the memo empties.
func TestTagMemoOwnInvalidationDuringRender(t *testing.T) {
	prefix := randomPrefix()
	c, _ := atomicCache(t, prefix)
	var mid func()
	tm := memoTemplate(t, c, &mid)
	d := newMemoData()
	renderTo(t, tm, d)
	renderTo(t, tm, d)
	mid = func() {
		rename(d, 5, "new5")
		if err := c.InvalidateTags("product:5"); err != nil {
			t.Error(err)
		}
	}
	got := renderTo(t, tm, d)
	_, tail, _ := strings.Cut(got, "<ol>")
	if want := strings.SplitN(wantPage(d), "<ol>", 2)[1]; tail != want {
		t.Errorf("after {{mid}} invalidated product:5 through the render's Cache:\n%s\nwant\n%s", tail, want)
	}
}

// BenchmarkTagMemoPageRedis renders memoPage warm over Redis without
// Local, and reports its round trips.
func BenchmarkTagMemoPageRedis(b *testing.B) {
	c, rt := atomicCache(b, randomPrefix())
	var mid func()
	tm := memoTemplate(b, c, &mid)
	d := newMemoData()
	renderTo(b, tm, d)
	start := rt.n.Load()
	for b.Loop() {
		if err := tm.Execute(io.Discard, d); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rt.n.Load()-start)/float64(b.N), "trips/render")
}
