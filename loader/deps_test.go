package loader_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/fibercache"
	"github.com/cachekit/cachekit/loader"
	"github.com/gofiber/fiber/v2"
)

type depProduct struct {
	ID   int
	Name string
}

// A page rendered by the loader under fibercache depends on every
// {{cache}} block it renders, in the page, in a partial the layout calls,
// and inside another block (Russian doll), hits included: invalidating any
// of their tags renders the page afresh, and nothing else does.
func TestPageDependsOnItsBlocks(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(products []depProduct, cats []string)
		tags  []string
		fresh string // what the page shows afterwards; "" when it stays a HIT
	}{
		{name: "a card inside the list block", edit: func(p []depProduct, _ []string) { p[0].Name = "LAMP" }, tags: []string{"p:1"}, fresh: "LAMP"},
		{name: "the other card", edit: func(p []depProduct, _ []string) { p[1].Name = "DESK" }, tags: []string{"p:2"}, fresh: "DESK"},
		{name: "the sidebar in the layout's partial", edit: func(_ []depProduct, c []string) { c[0] = "LIGHTS" }, tags: []string{"categories"}, fresh: "LIGHTS"},
		{name: "every card", edit: func(p []depProduct, _ []string) { p[0].Name = "LAMP" }, tags: []string{"fragment:card"}, fresh: "LAMP"},
		{name: "an unrelated tag", edit: func(p []depProduct, _ []string) {}, tags: []string{"p:3"}},
	}
	for _, tc := range cases {
		for _, warmBlocks := range []bool{false, true} {
			name := tc.name
			if warmBlocks {
				name += ", blocks already cached"
			}
			t.Run(name, func(t *testing.T) {
				m, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 8 << 20})
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				cache := cachekit.New(cachekit.Config{Storage: m})
				engine := loader.New("testdata/deps", ".html").Cache(cache)
				app := fiber.New(fiber.Config{Views: engine, DisableStartupMessage: true})
				products := []depProduct{{1, "lamp"}, {2, "desk"}}
				cats := []string{"lights", "desks"}
				handler := func(c *fiber.Ctx) error {
					return c.Render("pages/list", fiber.Map{"Title": "Shop", "Page": 1, "Products": products, "Categories": cats}, "layouts/main")
				}
				app.Get("/", fibercache.Page(time.Minute, fibercache.Config{Cache: cache}), handler)
				app.Get("/uncached", handler)
				get := func(path string) (string, string) {
					resp, err := app.Test(httptest.NewRequest("GET", path, nil), -1)
					if err != nil {
						t.Fatal(err)
					}
					defer resp.Body.Close()
					b, _ := io.ReadAll(resp.Body)
					return resp.Header.Get("X-Cache"), string(b)
				}
				if warmBlocks {
					get("/uncached") // the blocks are stored; the page is not
				}
				if x, body := get("/"); x != "MISS" || !strings.Contains(body, "lamp") {
					t.Fatalf("first: %s %q", x, body)
				}
				if x, _ := get("/"); x != "HIT" {
					t.Fatalf("second: %s", x)
				}
				tc.edit(products, cats)
				if err := cache.InvalidateTags(tc.tags...); err != nil {
					t.Fatal(err)
				}
				x, body := get("/")
				if tc.fresh == "" {
					if x != "HIT" {
						t.Fatalf("after an unrelated invalidation: %s", x)
					}
					return
				}
				if x != "MISS" || !strings.Contains(body, tc.fresh) {
					t.Fatalf("after InvalidateTags(%v): %s, want %q in %q", tc.tags, x, tc.fresh, body)
				}
			})
		}
	}
}
