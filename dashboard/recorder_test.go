package dashboard_test

import (
	"fmt"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/dashboard"
	"github.com/gofiber/fiber/v2"
)

// A hit answered by the site-wide cache counts under the route the request
// would have reached, not under the middleware's ("GET /" was the bug).
func TestRouteAttribution(t *testing.T) {
	s := newShop(t, dashboard.RecorderConfig{}, dashboard.Config{})
	want := map[string]dashboard.Counts{}
	for i := 0; i < 3; i++ {
		wantX(t, s.get(t, "/"), map[bool]string{true: "MISS", false: "HIT"}[i == 0])
	}
	want["GET /"] = dashboard.Counts{Hit: 2, Miss: 1}
	for _, slug := range []string{"lamps", "mugs", "rugs"} {
		for i := 0; i < 4; i++ {
			s.get(t, "/c/"+slug)
		}
	}
	want["GET /c/:slug"] = dashboard.Counts{Hit: 9, Miss: 3}
	for i := 0; i < 5; i++ {
		s.get(t, "/p/7")
	}
	want["GET /p/:id<int>"] = dashboard.Counts{Hit: 4, Miss: 1}
	for i := 0; i < 2; i++ {
		s.get(t, "/api/items/9")
	}
	want["GET /api/items/:id"] = dashboard.Counts{Hit: 1, Miss: 1}
	// A path no route matches, twice: a 404 that fibercache saw.
	s.get(t, "/nowhere")
	s.get(t, "/p/not-a-number")
	// Credentials bypass, counted under the route all the same.
	s.get(t, "/c/lamps", "Cookie", "session=abc")
	c := want["GET /c/:slug"]
	c.Bypass++
	want["GET /c/:slug"] = c

	got := s.rec.Routes()
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: %+v, want %+v", name, got[name], w)
		}
	}
	if o := got[dashboard.Other]; o.Served() != 2 {
		t.Errorf("unmatched paths: %+v, want 2 under %q", o, dashboard.Other)
	}
	if len(got) != len(want)+1 {
		t.Errorf("routes %v", got)
	}

	// The same figures reach the page, in a stable order.
	page := s.get(t, "/_cache").body
	for name, w := range want {
		row := regexp.MustCompile(`<tr class="route"><td><code>` + regexp.QuoteMeta(htmlEscape(name)) +
			`</code></td><td>(\d+)</td><td>\d+</td><td>(\d+)</td><td>(\d+)</td>`).FindStringSubmatch(page)
		if row == nil || row[1] != strconv.FormatUint(w.Hit, 10) || row[2] != strconv.FormatUint(w.Miss, 10) || row[3] != strconv.FormatUint(w.Bypass, 10) {
			t.Errorf("%s row on the page: %v", name, row)
		}
	}
	order := routeNames(page)
	for i := 0; i < 5; i++ {
		s.get(t, "/p/7")
		s.get(t, "/")
		if again := routeNames(s.get(t, "/_cache").body); fmt.Sprint(again) != fmt.Sprint(order) {
			t.Fatalf("rows reordered: %v then %v", order, again)
		}
	}
	if fmt.Sprint(order) != "[GET / GET /api/items/:id GET /c/:slug GET /p/:id&lt;int&gt; other]" {
		t.Fatalf("row order %v", order)
	}
}

var routeRow = regexp.MustCompile(`<tr class="route"><td><code>([^<]+)</code>`)

func routeNames(page string) []string {
	var out []string
	for _, m := range routeRow.FindAllStringSubmatch(page, -1) {
		out = append(out, m[1])
	}
	return out
}

func htmlEscape(s string) string {
	r := ""
	for _, c := range s {
		switch c {
		case '<':
			r += "&lt;"
		case '>':
			r += "&gt;"
		default:
			r += string(c)
		}
	}
	return r
}

// Many responses with different Cache-Status details, interleaved: every
// reason counted is a known one, with the exact count (the old dashboard
// kept a string aliasing a response-header buffer and showed garbage like
// `T4i"tail=errorials`).
func TestReasonsNotGarbled(t *testing.T) {
	s := newShop(t, dashboard.RecorderConfig{}, dashboard.Config{})
	const rounds = 50
	for i := 0; i < rounds; i++ {
		wantX(t, s.get(t, "/c/x", "Cookie", "session="+strconv.Itoa(i)), "BYPASS")      // credentials
		wantX(t, s.post(t, "/cart", nil), "BYPASS")                                     // method
		wantX(t, s.get(t, "/c/y", "Cache-Control", "no-store"), "BYPASS")               // no-store
		wantX(t, s.get(t, "/cookie?i="+strconv.Itoa(i)), "MISS")                        // set-cookie
		wantX(t, s.get(t, "/private?i="+strconv.Itoa(i)), "MISS")                       // private
		wantX(t, s.get(t, "/gone?i="+strconv.Itoa(i)), "MISS")                          // status
		s.get(t, "/c/z"+strconv.Itoa(i%3), "X-Long-Header-"+strconv.Itoa(i), "padding") // stored misses and hits in between
	}
	wantBypass := map[string]uint64{"credentials": rounds, "method": rounds, "no-store": rounds}
	if got := s.rec.Bypasses(); fmt.Sprint(got) != fmt.Sprint(wantBypass) {
		t.Errorf("bypasses %v, want %v", got, wantBypass)
	}
	wantUnstored := map[string]uint64{"set-cookie": rounds, "private": rounds, "status": rounds}
	if got := s.rec.NotStored(); fmt.Sprint(got) != fmt.Sprint(wantUnstored) {
		t.Errorf("not stored %v, want %v", got, wantUnstored)
	}
	page := s.get(t, "/_cache").body
	reasonCell := regexp.MustCompile(`<table class="stats reasons[^"]*">[\s\S]*?</table>`)
	cells := regexp.MustCompile(`<tr><td><code>([^<]*)</code></td><td>(\d+)</td></tr>`)
	seen := 0
	for _, table := range reasonCell.FindAllString(page, -1) {
		for _, m := range cells.FindAllStringSubmatch(table, -1) {
			if wantBypass[m[1]] == 0 && wantUnstored[m[1]] == 0 {
				t.Errorf("unknown reason on the page: %q", m[1])
			}
			if m[2] != strconv.Itoa(rounds) {
				t.Errorf("reason %s: %s, want %d", m[1], m[2], rounds)
			}
			seen++
		}
	}
	if seen != 6 {
		t.Errorf("%d reason rows on the page, want 6", seen)
	}
}

// No sequence of requests grows the Recorder without bound: raw paths are
// never labels, unknown reasons count under "other", and names past the cap
// too.
func TestBoundedLabels(t *testing.T) {
	const max = 20
	s := newShop(t, dashboard.RecorderConfig{MaxNames: max}, dashboard.Config{})
	// A handler that claims arbitrary Cache-Status reasons, as a future or
	// foreign cache layer might.
	app := fiber.New()
	app.Use(s.rec.Handler())
	app.Get("/x/*", func(c *fiber.Ctx) error {
		c.Set("X-Cache", "BYPASS")
		c.Set("Cache-Status", "cachekit; fwd=bypass; detail=reason-"+c.Params("*"))
		return c.SendString("x")
	})
	for i := 0; i < 3000; i++ {
		s.get(t, "/c/slug-"+strconv.Itoa(i))
		s.get(t, "/missing/"+strconv.Itoa(i))
		res, err := app.Test(httptestGet("/x/" + strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		s.rec.Observe("fragment:block-"+strconv.Itoa(i)+":abcdef", cachekit.Miss)
		s.rec.Observe("gorm:Model"+strconv.Itoa(i)+":models:pk:i1", cachekit.Miss)
	}
	routes := s.rec.Routes()
	if len(routes) > max+1 || routes["GET /c/:slug"].Miss != 3000 || routes[dashboard.Other].Served() != 3000 {
		t.Errorf("%d routes: %v", len(routes), routes)
	}
	frags := s.rec.Fragments()
	if len(frags) != max+1 || frags[dashboard.Other].Miss != 3000-max {
		t.Errorf("%d fragments, other %+v", len(frags), frags[dashboard.Other])
	}
	models := s.rec.Models()
	if len(models) != max+1 || models[dashboard.Other].Miss != 3000-max {
		t.Errorf("%d models, other %+v", len(models), models[dashboard.Other])
	}
	by := s.rec.Bypasses()
	if len(by) != 1 || by[dashboard.Other] != 3000 {
		t.Errorf("bypasses %v", by)
	}
	if n := len(s.get(t, "/_cache").body); n > 200_000 {
		t.Errorf("the page grew to %d bytes", n)
	}
}

// The GORM plugin's lookups ("gorm:<Model>:...") count per model, and the
// dashboard draws them in a table of their own; a key of another prefix or
// without a model is not counted.
func TestModelsCountedFromObserve(t *testing.T) {
	s := newShop(t, dashboard.RecorderConfig{}, dashboard.Config{})
	s.rec.Observe("gorm:Product:products:pk:i7", cachekit.Miss)
	s.rec.Observe("gorm:Product:products:pk:i7", cachekit.Hit)
	s.rec.Observe("gorm:Product:products:all:rows::24", cachekit.Hit)
	s.rec.Observe("gorm:Category:categories:u0:sRugs", cachekit.Stale)
	s.rec.Observe("gorm:", cachekit.Hit)
	s.rec.Observe("gormish:User:x", cachekit.Hit)
	s.rec.Observe("fragment:card:ab", cachekit.Hit)
	m := s.rec.Models()
	if len(m) != 2 || m["Product"] != (dashboard.Counts{Hit: 2, Miss: 1}) || m["Category"] != (dashboard.Counts{Stale: 1}) {
		t.Fatalf("models: %+v", m)
	}
	if f := s.rec.Fragments(); len(f) != 1 || f["card"].Hit != 1 {
		t.Fatalf("fragments: %+v", f)
	}
	other := dashboard.NewRecorder(dashboard.RecorderConfig{ModelPrefix: "shop"})
	other.Observe("gorm:Product:products:pk:i7", cachekit.Hit)
	other.Observe("shop:Product:products:pk:i7", cachekit.Hit)
	if m := other.Models(); len(m) != 1 || m["Product"].Hit != 1 {
		t.Fatalf("models with ModelPrefix shop: %+v", m)
	}
	body := s.get(t, "/_cache").body
	if !strings.Contains(body, `<table class="stats models">`) || !strings.Contains(body, `<tr class="model"><td><code>Product</code></td><td>2</td>`) {
		t.Fatalf("no models table on the dashboard")
	}
}

// The reasons fibercache gives beyond the plain ones (an ambiguous request,
// a page remembered as uncacheable) are counted under their own names, not
// under Other.
func TestFibercacheReasonsKnown(t *testing.T) {
	s := newShop(t, dashboard.RecorderConfig{}, dashboard.Config{})
	// A body on a GET: ambiguous, bypassed (detail=body).
	req := httptest.NewRequest("GET", "/c/a", strings.NewReader("x=1"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	wantX(t, s.do(t, req), "BYPASS")
	// Two Host-like lines of a header the key holds: duplicate-header.
	req = httptest.NewRequest("GET", "/c/b", nil)
	req.Header.Add("X-Forwarded-Host", "a.example")
	req.Header.Add("X-Forwarded-Host", "b.example")
	wantX(t, s.do(t, req), "BYPASS")
	// A page not stored once is remembered: its next miss is uncacheable.
	s.get(t, "/cookie")
	s.get(t, "/cookie")
	all := map[string]uint64{}
	for k, v := range s.rec.Bypasses() {
		all[k] += v
	}
	for k, v := range s.rec.NotStored() {
		all[k] += v
	}
	if all[dashboard.Other] != 0 {
		t.Errorf("a fibercache reason counted under %q: %v", dashboard.Other, all)
	}
	for _, want := range []string{"body", "duplicate-header", "set-cookie", "uncacheable"} {
		if all[want] == 0 {
			t.Errorf("no count for %q: %v", want, all)
		}
	}
	known := map[string]bool{}
	for _, r := range dashboard.KnownReasons() {
		known[r] = true
	}
	for _, r := range []string{"uncacheable", "lock-timeout", "body", "duplicate-header", "method-override"} {
		if !known[r] {
			t.Errorf("KnownReasons lacks %q", r)
		}
	}
}
