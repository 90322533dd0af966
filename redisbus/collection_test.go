package redisbus_test

import (
	"fmt"
	"html/template"
	"io"
	"strings"
	"testing"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/fragments"
)

// cardsTemplate is 24 tagged cards in a range; vary is the cards' key:
// .ID, which the range prefetch computes, or (print .ID), which it does
// not (each card then reads as before the prefetch).
func cardsTemplate(t testing.TB, c *cachekit.Cache, vary string) *template.Template {
	t.Helper()
	src := `<ul>{{range .}}{{cache "card" 300 ` + vary + ` (tags (printf "product:%d" .ID))}}<li>{{.Name}}</li>{{endcache}}{{end}}</ul>`
	tm := template.Must(template.New("p").Funcs(fragments.Funcs()).Parse(src))
	if err := fragments.Rewrite(tm, c); err != nil {
		t.Fatal(err)
	}
	return tm
}

func collection() []product {
	out := make([]product, 24)
	for i := range out {
		out[i] = product{i + 1, fmt.Sprint("p", i+1)}
	}
	return out
}

func renderTo(t testing.TB, tm *template.Template, data any) string {
	t.Helper()
	var sb strings.Builder
	if err := tm.Execute(&sb, data); err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

// Over a real Redis without Local: a warm render of 24 tagged cards costs
// two round trips (the entries, then their 25 tags), where it cost 72; an
// invalidation from another instance re-renders exactly that card.
func TestCollectionOverRedis(t *testing.T) {
	prefix := randomPrefix()
	c, rt := atomicCache(t, prefix)
	other, _ := atomicCache(t, prefix)
	tm := cardsTemplate(t, c, ".ID")
	data := collection()
	first := renderTo(t, tm, data)
	before := rt.n.Load()
	if got := renderTo(t, tm, data); got != first {
		t.Errorf("warm render differs:\n%s\n%s", got, first)
	}
	if got := rt.n.Load() - before; got != 2 {
		t.Errorf("warm render of 24 cards: %d round trips, want 2", got)
	}
	data[11].Name = "new12"
	if err := other.InvalidateTags("product:12"); err != nil {
		t.Fatal(err)
	}
	before = rt.n.Load()
	got := renderTo(t, tm, data)
	if want := strings.Replace(first, "<li>p12</li>", "<li>new12</li>", 1); got != want {
		t.Errorf("after another instance invalidated product:12:\n%s\nwant\n%s", got, want)
	}
	// 2 for the prefetch, then card 12: its read and its fill (tags, write).
	if trips := rt.n.Load() - before; trips > 8 {
		t.Errorf("render with one card invalidated: %d round trips", trips)
	}
	// The old way, for the record: 3 per card.
	old := cardsTemplate(t, c, "(print .ID)")
	renderTo(t, old, data)
	before = rt.n.Load()
	renderTo(t, old, data)
	if got := rt.n.Load() - before; got != 48 {
		t.Errorf("unprefetched warm render: %d round trips, want 48 (24 entries, 24 tag pipelines)", got)
	}
}

// BenchmarkCollectionRedis: the 24-card warm render over Redis without
// Local, prefetched and as before, in one run.
func BenchmarkCollectionRedis(b *testing.B) {
	for _, vary := range []string{"(print .ID)", ".ID"} {
		name := map[string]string{".ID": "prefetch", "(print .ID)": "before"}[vary]
		b.Run(name, func(b *testing.B) {
			c, rt := atomicCache(b, randomPrefix())
			tm := cardsTemplate(b, c, vary)
			data := collection()
			renderTo(b, tm, data)
			start := rt.n.Load()
			for b.Loop() {
				if err := tm.Execute(io.Discard, data); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rt.n.Load()-start)/float64(b.N), "trips/render")
		})
	}
}
