package fragments_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/fragments"
	"github.com/gofiber/fiber/v2"
)

type shelf struct {
	Name     string
	Products []product
}

// Russian doll: a block built from other blocks carries their tags, hits
// included, at any depth, through range, with and outer variables, and
// through a block that renders every time (ttl 0).
func TestNestedBlocksPropagateTags(t *testing.T) {
	data := shelf{Name: "s", Products: []product{{1, "lamp"}, {2, "desk"}}}
	cases := []struct {
		name     string
		tmpl     string
		outer    string                  // the outer block's work counter
		prepare  func(c *cachekit.Cache) // after the first render
		tags     []string
		rerender bool // the outer block renders again
	}{
		{name: "inner miss: its tag reaches the outer", tmpl: "doll", outer: "list", tags: []string{"p:1"}, rerender: true},
		{name: "inner hit: its tag reaches the outer", tmpl: "doll", outer: "list",
			prepare: func(c *cachekit.Cache) {
				// The list renders again from card hits.
				if err := fragments.Invalidate(c, "list"); err != nil {
					t.Fatal(err)
				}
			},
			tags: []string{"p:2"}, rerender: true},
		{name: "the inner's implicit tag reaches the outer", tmpl: "doll", outer: "list", tags: []string{fragments.BlockTag("card")}, rerender: true},
		{name: "an unrelated tag leaves the outer alone", tmpl: "doll", outer: "list", tags: []string{"p:9"}, rerender: false},
		{name: "three levels", tmpl: "deep", outer: "shelf", tags: []string{"leaf"}, rerender: true},
		{name: "three levels, middle a hit", tmpl: "deep", outer: "shelf",
			prepare: func(c *cachekit.Cache) { fragments.Invalidate(c, "shelf") },
			tags:    []string{"leaf"}, rerender: true},
		{name: "inside with and range, with an outer variable", tmpl: "vars", outer: "withvars", tags: []string{"p:2"}, rerender: true},
		{name: "through a ttl-0 block", tmpl: "zero", outer: "outer0", tags: []string{"z"}, rerender: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCache(t)
			n := newCounters()
			tm := load(t, c, n.funcs(), "deps.html")
			first := render(t, tm, tc.tmpl, data)
			if tc.prepare != nil {
				tc.prepare(c)
				render(t, tm, tc.tmpl, data)
			}
			before := n.get(tc.outer)
			if got := render(t, tm, tc.tmpl, data); got != first && tc.prepare == nil {
				t.Fatalf("warm render differs:\n%s\n%s", first, got)
			}
			if n.get(tc.outer) != before {
				t.Fatalf("%s rendered on a warm render", tc.outer)
			}
			if err := c.InvalidateTags(tc.tags...); err != nil {
				t.Fatal(err)
			}
			render(t, tm, tc.tmpl, data)
			if got := n.get(tc.outer) != before; got != tc.rerender {
				t.Fatalf("after InvalidateTags(%v): %s rendered again %v, want %v", tc.tags, tc.outer, got, tc.rerender)
			}
		})
	}
}

// A block whose body calls a template holding blocks is stored, and the
// called blocks' tags reach it through the template's linked variant: at
// one call, through a template that only calls another, and with the
// callee's $ and variables.
func TestBlockAroundATemplateCall(t *testing.T) {
	cases := []struct {
		tmpl, outer, inner, tag, fresh string
	}{
		{"viacall", "viacall", "callee-1", "p:1", "LAMP"},
		{"viarelay", "viarelay", "callee-2", "p:2", "DESK"},
		{"viaroot", "viaroot", "rootcard", "r", "S/S"},
	}
	for _, tc := range cases {
		t.Run(tc.tmpl, func(t *testing.T) {
			c := newCache(t)
			n := newCounters()
			tm := load(t, c, n.funcs(), "deps.html")
			data := shelf{Name: "s", Products: []product{{1, "lamp"}, {2, "desk"}}}
			first := render(t, tm, tc.tmpl, data)
			if want := render(t, reference(t, newCounters().funcs(), "deps.html"), tc.tmpl, data); stripCounts(first) != stripCounts(want) {
				t.Fatalf("render differs from the page without blocks:\n%s\n%s", first, want)
			}
			if got := render(t, tm, tc.tmpl, data); got != first {
				t.Fatalf("warm render differs:\n%s\n%s", first, got)
			}
			if n.get(tc.outer) != 1 || n.get(tc.inner) != 1 {
				t.Fatalf("%s rendered %d times and %s %d, want once each: the outer block is stored", tc.outer, n.get(tc.outer), tc.inner, n.get(tc.inner))
			}
			c.InvalidateTags("p:9")
			render(t, tm, tc.tmpl, data)
			if n.get(tc.outer) != 1 {
				t.Fatalf("an unrelated tag rendered %s again", tc.outer)
			}
			data.Name, data.Products[0].Name, data.Products[1].Name = "S", "LAMP", "DESK"
			c.InvalidateTags(tc.tag)
			got := render(t, tm, tc.tmpl, data)
			if n.get(tc.outer) != 2 || n.get(tc.inner) != 2 {
				t.Fatalf("after InvalidateTags(%s): %s rendered %d times and %s %d, want twice each", tc.tag, tc.outer, n.get(tc.outer), tc.inner, n.get(tc.inner))
			}
			if !strings.Contains(got, tc.fresh) {
				t.Fatalf("after InvalidateTags(%s): %s", tc.tag, got)
			}
		})
	}
}

// stripCounts drops the digits {{work}} prints, which differ between the
// reference counters and the cached ones.
func stripCounts(s string) string {
	return strings.Map(func(r rune) rune {
		if '0' <= r && r <= '9' {
			return -1
		}
		return r
	}, s)
}

// The inner block's fresh content shows in the outer one at once.
func TestRussianDollShowsTheNewCard(t *testing.T) {
	c := newCache(t)
	n := newCounters()
	tm := load(t, c, n.funcs(), "deps.html")
	data := shelf{Products: []product{{1, "lamp"}, {2, "desk"}}}
	render(t, tm, "doll", data)
	data.Products[0].Name = "LAMP"
	if got := render(t, tm, "doll", data); strings.Contains(got, "LAMP") {
		t.Fatal("a warm render showed data that was not invalidated")
	}
	c.InvalidateTags("p:1")
	if got := render(t, tm, "doll", data); !strings.Contains(got, "LAMP") || !strings.Contains(got, "desk card 1") {
		t.Fatalf("after InvalidateTags(p:1): %s", got)
	}
}

// A block executed with a map as $ holding a context under
// cachekit.BindKey (what fibercache binds while a page renders) records its
// tags in the fill running under that context: the page.
func TestBlockInAPageRender(t *testing.T) {
	for _, kind := range []string{"map", "fiber.Map", "no context"} {
		for _, warm := range []bool{false, true} {
			t.Run(kind+map[bool]string{false: "/miss", true: "/hit"}[warm], func(t *testing.T) {
				c := newCache(t)
				n := newCounters()
				tm := load(t, c, n.funcs(), "deps.html")
				if warm {
					render(t, tm, "page", nil)
				}
				r, err := c.LoadContext(context.Background(), "the-page", cachekit.Policy{TTL: time.Minute}, func(p *cachekit.Policy) ([]byte, error) {
					var data any
					switch kind {
					case "map":
						data = map[string]any{cachekit.BindKey: p.Context()}
					case "fiber.Map":
						data = fiber.Map{cachekit.BindKey: p.Context()}
					default:
						data = map[string]any{}
					}
					var sb strings.Builder
					err := tm.ExecuteTemplate(&sb, "page", data)
					return []byte(sb.String()), err
				})
				if err != nil || !r.Stored {
					t.Fatalf("page: %v stored %v", err, r.Stored)
				}
				c.InvalidateTags("p:1")
				_, ok, _ := c.Get("the-page")
				if want := kind == "no context"; ok != want {
					t.Fatalf("page served after its card's tag was invalidated: %v, want %v", ok, want)
				}
			})
		}
	}
}

// A fragment hit records the entry's own encoded tag list: no copy of it.
// Without a page's context a template runs its plain copy; with one, its
// linked copy, at a fixed cost per execution: what each further hit adds
// is the collector's append (amortised).
func TestFragmentHitUnderAContextAllocates(t *testing.T) {
	c := newCache(t)
	n := newCounters()
	tm := load(t, c, n.funcs(), "deps.html")
	extra := map[string]float64{}
	for _, name := range []string{"page", "page3"} {
		render(t, tm, name, nil)
		run := func(data any) float64 {
			return testing.AllocsPerRun(200, func() { tm.ExecuteTemplate(discard{}, name, data) })
		}
		plain := run(map[string]any{})
		var linked float64
		c.LoadContext(context.Background(), "the-page-"+name, cachekit.Policy{TTL: time.Minute}, func(p *cachekit.Policy) ([]byte, error) {
			linked = run(map[string]any{cachekit.BindKey: p.Context()})
			return []byte("x"), nil
		})
		extra[name] = linked - plain
	}
	// The collector's list grows by doubling while AllocsPerRun repeats
	// the render under one fill: a hit's share comes in bursts, hence the
	// margin.
	if perHit := (extra["page3"] - extra["page"]) / 2; perHit > 2 {
		t.Fatalf("a hit under a page's context allocates %.1f more than without (per execution: %.1f with one block, %.1f with three)", perHit, extra["page"], extra["page3"])
	}
	if extra["page"] > 12 {
		t.Fatalf("the linked copy costs %.1f allocations per execution", extra["page"])
	}
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }
