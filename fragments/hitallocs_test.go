package fragments_test

import (
	"html/template"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/fragments"
)

// A hit of a block with vary values of the usual kinds allocates only what
// the floor does (a template func given the same values) and the 2 of
// text/template boxing each argument as the reflect.Value the block takes:
// the encoding and the key stay on the stack (LookupHot keeps nothing of
// the key), so does the comparison with the stored encoding. With
// Config.Observe set, the key Observe is given is a copy: one more. Per
// block: what a template of three adds over one of one (a template with
// blocks has a fixed cost per execution besides).
func TestVaryHitAllocations(t *testing.T) {
	type item struct {
		ID   int
		Name string
	}
	data := item{42, "Ann"}
	allocs := func(tm *template.Template) float64 {
		if err := tm.Execute(io.Discard, data); err != nil {
			t.Fatal(err)
		}
		return testing.AllocsPerRun(200, func() { tm.Execute(io.Discard, data) })
	}
	perBlock := func(parse func(src string) *template.Template, one string) float64 {
		return (allocs(parse(one+one+one)) - allocs(parse(one))) / 2
	}
	floor := perBlock(func(src string) *template.Template {
		return template.Must(template.New("p").Funcs(template.FuncMap{
			"fragment": func(int, string) template.HTML { return "<p>x</p>" },
		}).Parse(src))
	}, `{{fragment .ID .Name}}`)
	for _, observe := range []bool{false, true} {
		m, err := cachekit.NewMemory(cachekit.MemoryConfig{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		cfg := cachekit.Config{Storage: m}
		if observe {
			cfg.Observe = func(string, cachekit.Status) {}
		}
		c := cachekit.New(cfg)
		n := 0
		got := perBlock(func(src string) *template.Template {
			n++
			src = strings.ReplaceAll(src, "card", "card"+strconv.Itoa(n))
			tm := template.Must(template.New("p").Funcs(fragments.Funcs()).Parse(src))
			if err := fragments.Rewrite(tm, c); err != nil {
				t.Fatal(err)
			}
			return tm
		}, `{{cache "card" 300 .ID .Name}}<p>x</p>{{endcache}}`)
		want := floor + 2
		if observe {
			want++
		}
		if got > want {
			t.Errorf("Observe set %v: a hit allocates %.1f per block, the floor %.1f: want at most %.0f", observe, got, floor, want)
		}
	}
}
