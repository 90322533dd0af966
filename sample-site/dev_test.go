package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// editTemplate replaces old with new in a template of dir.
func editTemplate(t *testing.T, dir, name, old, new string) {
	t.Helper()
	path := filepath.Join(dir, filepath.FromSlash(name))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not hold %q", name, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Under -dev a template edit reaches the next request of an anonymous
// visitor, whose pages the page cache keeps (site-wide and a route's own
// longer TTL alike): the pages built from the edited template are dropped.
// A syntax error shows the -dev error page with file and line, not the
// cached page; the fix shows at once. In production the cache keeps the
// pages until they expire (templates change with a deploy).
func TestDevTemplateEditReachesAnonymousVisitors(t *testing.T) {
	dir := copyTemplates(t)
	s := siteOn(t, dir, true)
	for _, p := range []string{"/", "/p/1", "/c/lamps"} {
		warm(t, s, p)
	}
	// The footer, which every page shows through the layout.
	editTemplate(t, dir, "partials/footer.html", "Calm Goods is the cachekit sample site.", "Calm Goods, edited footer.")
	for _, p := range []string{"/", "/p/1", "/c/lamps"} {
		if r := do(t, s, "GET", p, nil); r.status != 200 || !strings.Contains(r.body, "edited footer") {
			t.Errorf("%s after a footer edit: %d %s", p, r.status, r.header.Get("X-Cache"))
		}
	}
	warm(t, s, "/")
	warm(t, s, "/p/1")
	// The product page's own template: that page goes, the home page stays.
	editTemplate(t, dir, "pages/product.html", "<h2>Recent reviews</h2>", "<h2>What buyers say</h2>")
	if r := do(t, s, "GET", "/p/1", nil); !strings.Contains(r.body, "What buyers say") {
		t.Errorf("/p/1 after a product template edit: %s", r.header.Get("X-Cache"))
	}
	if r := do(t, s, "GET", "/", nil); r.header.Get("X-Cache") != "HIT" {
		t.Errorf("/ was dropped by an edit of a template it does not use: %s", r.header.Get("X-Cache"))
	}
	// A syntax error in the card partial (inside a {{cache}} block of the
	// home page): the -dev error page, with file and line.
	editTemplate(t, dir, "partials/card.html", `<h3>`, `<h3>{{if .ID}}`)
	r := do(t, s, "GET", "/", nil)
	if r.status != 500 || r.header.Get("X-Cache") == "HIT" || r.header.Get("X-Cache") == "STALE" ||
		!strings.Contains(r.body, "Template error") || !strings.Contains(r.body, filepath.Join("partials", "card.html")+", line") {
		t.Errorf("/ after a syntax error: %d %s %q", r.status, r.header.Get("X-Cache"), r.body[:min(400, len(r.body))])
	}
	editTemplate(t, dir, "partials/card.html", `<h3>{{if .ID}}`, `<h3 class="fixed">`)
	if r := do(t, s, "GET", "/", nil); r.status != 200 || !strings.Contains(r.body, `<h3 class="fixed">`) {
		t.Errorf("/ after the fix: %d %s", r.status, r.header.Get("X-Cache"))
	}

	// Production: no reload, the cached page stays.
	prodDir := copyTemplates(t)
	prod := siteOn(t, prodDir, false)
	warm(t, prod, "/")
	editTemplate(t, prodDir, "partials/footer.html", "Calm Goods is the cachekit sample site.", "Calm Goods, edited footer.")
	if r := do(t, prod, "GET", "/", nil); r.header.Get("X-Cache") != "HIT" || strings.Contains(r.body, "edited footer") {
		t.Errorf("production after an edit: %s", r.header.Get("X-Cache"))
	}
}
