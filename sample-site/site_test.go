package main

import (
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cachekit/cachekit/dashboard"
)

// newTestSite starts the site on a fresh database with the real templates.
func newTestSite(t testing.TB) *site {
	t.Helper()
	s, err := newSite(siteConfig{
		DB:         filepath.Join(t.TempDir(), "shop.db"),
		Templates:  "../templates",
		AdminToken: "secret",
		Reviews:    1500, // the race detector makes SQLite slow
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

type response struct {
	status int
	header http.Header
	body   string
}

func do(t testing.TB, s *site, method, target string, form url.Values, cookies ...*http.Cookie) response {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	res, err := s.app.Test(req, 10000)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, string(b)}
}

func login(t testing.TB, s *site, name string) *http.Cookie {
	t.Helper()
	password := ""
	if name == "admin" {
		password = "secret" // the test site's admin token
	}
	r := postForm(t, s, "/login", "/login", url.Values{"user": {name}, "password": {password}})
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == sessionCookie {
			return c
		}
	}
	t.Fatalf("login as %s: no session cookie (status %d)", name, r.status)
	return nil
}

var csrfFieldRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// formToken opens page (with cookies) and returns the CSRF cookie it set
// and the token of its forms.
func formToken(t testing.TB, s *site, page string, cookies ...*http.Cookie) (*http.Cookie, string) {
	t.Helper()
	r := do(t, s, "GET", page, nil, cookies...)
	m := csrfFieldRE.FindStringSubmatch(r.body)
	if r.status != 200 || m == nil {
		t.Fatalf("%s: %d, csrf field %q", page, r.status, m)
	}
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == csrfCookie {
			return c, m[1]
		}
	}
	t.Fatalf("%s set no CSRF cookie", page)
	return nil, ""
}

// postForm posts form to target as a browser would after opening page:
// with the page's CSRF token in the form and its cookie.
func postForm(t testing.TB, s *site, page, target string, form url.Values, cookies ...*http.Cookie) response {
	t.Helper()
	c, token := formToken(t, s, page, cookies...)
	form.Set("csrf", token)
	return do(t, s, "POST", target, form, append(cookies, c)...)
}

// warm renders a page, checks it was stored on that first render, and
// asks again: a hit.
func warm(t testing.TB, s *site, target string) {
	t.Helper()
	r := do(t, s, "GET", target, nil)
	if r.header.Get("X-Cache") == "MISS" && !strings.Contains(r.header.Get("Cache-Status"), "stored") {
		t.Fatalf("%s: not stored on its first render: %s", target, r.header.Get("Cache-Status"))
	}
	if r := do(t, s, "GET", target, nil); r.header.Get("X-Cache") != "HIT" {
		t.Fatalf("%s: the second request is a %s", target, r.header.Get("X-Cache"))
	}
}

func TestAnonymousPagesAreCached(t *testing.T) {
	s := newTestSite(t)
	first := do(t, s, "GET", "/", nil)
	if first.status != 200 || first.header.Get("X-Cache") != "MISS" || !strings.Contains(first.body, "Best rated") {
		t.Fatalf("first visit: %d %s", first.status, first.header.Get("X-Cache"))
	}
	warm(t, s, "/")
	hit := do(t, s, "GET", "/", nil)
	if hit.header.Get("X-Cache") != "HIT" || hit.body != first.body {
		t.Fatalf("second visit: %s, same body %v", hit.header.Get("X-Cache"), hit.body == first.body)
	}
	if !strings.Contains(do(t, s, "GET", "/p/3", nil).body, "Recent reviews") {
		t.Fatal("product page broken")
	}
}

func TestUsersSeeOnlyTheirOwnName(t *testing.T) {
	s := newTestSite(t)
	warm(t, s, "/")
	alice, bob := login(t, s, "alice"), login(t, s, "bob")
	for i := 0; i < 2; i++ {
		a := do(t, s, "GET", "/", nil, alice)
		b := do(t, s, "GET", "/", nil, bob)
		if !strings.Contains(a.body, "Hello, alice") || strings.Contains(a.body, "bob") {
			t.Fatalf("alice's page: %q", greeting(a.body))
		}
		if !strings.Contains(b.body, "Hello, bob") || strings.Contains(b.body, "alice") {
			t.Fatalf("bob's page: %q", greeting(b.body))
		}
		if a.header.Get("X-Cache") != "BYPASS" {
			t.Fatalf("a logged-in page went through the shared page cache: %s", a.header.Get("X-Cache"))
		}
	}
	anon := do(t, s, "GET", "/", nil)
	if strings.Contains(anon.body, "Hello,") {
		t.Fatal("an anonymous visitor got a greeting")
	}
	// The account page and the cart are never stored for a logged-in user.
	for _, path := range []string{"/account", "/cart"} {
		r := do(t, s, "GET", path, nil, alice)
		if r.header.Get("X-Cache") != "BYPASS" || !strings.Contains(r.body, "alice") {
			t.Fatalf("%s for alice: %s", path, r.header.Get("X-Cache"))
		}
	}
}

func greeting(body string) string {
	if i := strings.Index(body, "Hello,"); i >= 0 {
		return body[i:min(len(body), i+40)]
	}
	return "(none)"
}

func TestEditInvalidatesEveryPageShowingTheProduct(t *testing.T) {
	s := newTestSite(t)
	warm(t, s, "/p/5")
	warm(t, s, "/c/rugs") // product 5 is a rug
	before := do(t, s, "GET", "/p/5", nil)
	if before.header.Get("X-Cache") != "HIT" {
		t.Fatalf("product page not cached: %s", before.header.Get("X-Cache"))
	}
	form := url.Values{"name": {"Renamed Mirror Deluxe"}, "price": {"42.00"}, "description": {"Shiny."}}
	r := adminEdit(t, s, 5, form)
	if r.status != http.StatusSeeOther {
		t.Fatalf("edit: %d %s", r.status, r.body)
	}
	after := do(t, s, "GET", "/p/5", nil)
	if !strings.Contains(after.body, "Renamed Mirror Deluxe") || !strings.Contains(after.body, "$42.00") {
		t.Fatalf("product page still old after the edit (%s)", after.header.Get("X-Cache"))
	}
	list := do(t, s, "GET", "/c/rugs", nil)
	if !strings.Contains(list.body, "Renamed Mirror Deluxe") {
		t.Fatalf("category list still shows the old card (%s)", list.header.Get("X-Cache"))
	}
}

// adminCSRF logs in as the admin and opens the product's edit form: the
// cookies to send (session and CSRF) and the form's CSRF token.
func adminCSRF(t testing.TB, s *site, id int) ([]*http.Cookie, string) {
	t.Helper()
	admin := login(t, s, "admin")
	page := fmt.Sprintf("/admin/products/%d", id)
	// never_cache: no browser, proxy or CDN keeps the form and its token.
	r := do(t, s, "GET", page, nil, admin)
	if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") || !strings.Contains(cc, "private") || r.header.Get("Expires") == "" {
		t.Fatalf("edit form: Cache-Control %q, Expires %q", cc, r.header.Get("Expires"))
	}
	c, token := formToken(t, s, page, admin)
	return []*http.Cookie{admin, c}, token
}

// adminEdit posts the edit form as the admin, with its CSRF token.
func adminEdit(t testing.TB, s *site, id int, form url.Values) response {
	t.Helper()
	cookies, token := adminCSRF(t, s, id)
	form.Set("csrf", token)
	return do(t, s, "POST", fmt.Sprintf("/admin/products/%d", id), form, cookies...)
}

// An edit made behind the site's back (the store, then the cache's
// InvalidateTags of the product's tag alone) shows at once on every page
// that shows the product, for an anonymous visitor: the pages carry the
// tags of their cards and of the product they read, with no hand-written
// fibercache.Tag.
func TestInvalidatingAProductTagReachesEveryPage(t *testing.T) {
	s := newTestSite(t)
	m := regexp.MustCompile(`href="/p/(\d+)"`).FindStringSubmatch(do(t, s, "GET", "/", nil).body)
	if m == nil {
		t.Fatal("the home page shows no product")
	}
	id, _ := strconv.Atoi(m[1])
	product := "/p/" + m[1]
	pages := []string{"/", product}
	for _, p := range pages {
		warm(t, s, p)
		if r := do(t, s, "GET", p, nil); r.header.Get("X-Cache") != "HIT" {
			t.Fatalf("%s not cached: %s", p, r.header.Get("X-Cache"))
		}
	}
	if err := s.store.UpdateProduct(t.Context(), id, "Quietly Renamed Rug", "Soft.", 1234); err != nil {
		t.Fatal(err)
	}
	if err := s.cache.InvalidateTags(productTag(id)); err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		r := do(t, s, "GET", p, nil)
		if !strings.Contains(r.body, "Quietly Renamed Rug") || !strings.Contains(r.body, "$12.34") {
			t.Fatalf("%s still old after InvalidateTags(product:5) (%s)", p, r.header.Get("X-Cache"))
		}
		if r.header.Get("X-Cache") != "MISS" || !strings.Contains(r.header.Get("Cache-Status"), "stored") {
			t.Fatalf("%s: re-rendered but not stored: %s", p, r.header.Get("Cache-Status"))
		}
	}
	// Another product's tag leaves the product page alone.
	if err := s.cache.InvalidateTags(productTag(id + 1000)); err != nil {
		t.Fatal(err)
	}
	if r := do(t, s, "GET", product, nil); r.header.Get("X-Cache") != "HIT" {
		t.Fatalf("%s after another product's tag was invalidated: %s", product, r.header.Get("X-Cache"))
	}
}

func TestBadFormChangesNothing(t *testing.T) {
	s := newTestSite(t)
	before := do(t, s, "GET", "/p/7", nil).body
	for _, tc := range []struct {
		form  url.Values
		field string
	}{
		{url.Values{"name": {""}, "price": {"10"}}, "Name:"},
		{url.Values{"name": {strings.Repeat("x", 81)}, "price": {"10"}}, "Name:"},
		{url.Values{"name": {"ok"}, "price": {"10"}, "description": {strings.Repeat("d", 1001)}}, "Description:"},
		{url.Values{"name": {"ok"}, "price": {"cheap"}}, "Price:"},
		{url.Values{"name": {"ok"}, "price": {""}}, "Price:"},
		{url.Values{"name": {"ok"}, "price": {"NaN"}}, "Price:"},
		{url.Values{"name": {"ok"}, "price": {"nan"}}, "Price:"},
		{url.Values{"name": {"ok"}, "price": {"Inf"}}, "Price:"},
		{url.Values{"name": {"ok"}, "price": {"+Inf"}}, "Price:"},
		{url.Values{"name": {"ok"}, "price": {"-3"}}, "Price:"},
		{url.Values{"name": {"ok"}, "price": {"-0.5"}}, "Price:"},
		{url.Values{"name": {"ok"}, "price": {"0"}}, "Price:"},
		{url.Values{"name": {"ok"}, "price": {"0.00"}}, "Price:"},
		{url.Values{"name": {"ok"}, "price": {"0.001"}}, "Price:"},
		{url.Values{"name": {"ok"}, "price": {"19.999"}}, "Price:"},
		{url.Values{"name": {"ok"}, "price": {"1e3"}}, "Price:"},
		{url.Values{"name": {"ok"}, "price": {"0x10"}}, "Price:"},
		{url.Values{"name": {"ok"}, "price": {"100000.01"}}, "Price:"},
		{url.Values{"name": {"ok"}, "price": {"99999999999999999999999999"}}, "Price:"},
		{url.Values{"name": {"ok"}, "price": {"1,000"}}, "Price:"},
	} {
		r := adminEdit(t, s, 7, tc.form)
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `class="error"`) {
			t.Fatalf("bad form %v: %d", tc.form, r.status)
		}
		if !strings.Contains(r.body, "<li>"+tc.field) {
			t.Errorf("bad form %v: no error naming %s", tc.form, tc.field)
		}
		// What was typed is kept (as escaped HTML).
		typed := tc.form.Get("price")
		var attr strings.Builder
		template.Must(template.New("").Parse(`name="price" value="{{.}}"`)).Execute(&attr, typed)
		if !strings.Contains(r.body, attr.String()) {
			t.Errorf("bad form %v: the price typed (%q) is not kept", tc.form, typed)
		}
		if tc.field != "Price:" && strings.Contains(r.body, "<li>Price:") {
			t.Errorf("bad form %v: a good price was refused", tc.form)
		}
	}
	if after := do(t, s, "GET", "/p/7", nil).body; after != before {
		t.Fatal("a rejected form changed the product")
	}
	// The good forms of a price are read exactly.
	for typed, want := range map[string]string{"19.5": "$19.50", "$7": "$7.00", " 0.01 ": "$0.01", "100000.00": "$100000.00", "42.07": "$42.07"} {
		if r := adminEdit(t, s, 7, url.Values{"name": {"Seven"}, "price": {typed}}); r.status != http.StatusSeeOther {
			t.Fatalf("price %q refused: %d", typed, r.status)
		}
		if p := do(t, s, "GET", "/p/7", nil).body; !strings.Contains(p, want) {
			t.Errorf("price %q: the page does not show %s", typed, want)
		}
	}
	if r := postForm(t, s, "/login", "/login", url.Values{"user": {"mallory"}}); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "User:") {
		t.Fatalf("unknown user: %d", r.status)
	}
}

// Editing needs the admin's login and the form's CSRF token: an anonymous
// POST, a customer's, the admin's without the token or with another one,
// and a login as admin without the password all change nothing.
func TestEditNeedsAdminAndCSRF(t *testing.T) {
	s := newTestSite(t)
	before := do(t, s, "GET", "/p/9", nil).body
	form := url.Values{"name": {"Hijacked"}, "price": {"1.00"}}
	if r := do(t, s, "POST", "/admin/products/9", form); r.status != http.StatusForbidden {
		t.Errorf("anonymous POST: %d", r.status)
	}
	if r := do(t, s, "GET", "/admin/products/9", nil); r.status != http.StatusSeeOther || r.header.Get("Location") != "/login" {
		t.Errorf("anonymous edit form: %d %s", r.status, r.header.Get("Location"))
	}
	alice := login(t, s, "alice")
	if r := do(t, s, "POST", "/admin/products/9", form, alice); r.status != http.StatusForbidden {
		t.Errorf("a customer's POST: %d", r.status)
	}
	if r := do(t, s, "GET", "/admin/products/9", nil, alice); r.status != http.StatusForbidden {
		t.Errorf("a customer's edit form: %d", r.status)
	}
	cookies, token := adminCSRF(t, s, 9)
	if r := do(t, s, "POST", "/admin/products/9", form, cookies[0]); r.status != http.StatusForbidden {
		t.Errorf("admin POST without the CSRF cookie or field: %d", r.status)
	}
	if r := do(t, s, "POST", "/admin/products/9", form, cookies...); r.status != http.StatusForbidden {
		t.Errorf("admin POST without the CSRF field: %d", r.status)
	}
	bad := url.Values{"name": {"Hijacked"}, "price": {"1.00"}, "csrf": {token + "x"}}
	if r := do(t, s, "POST", "/admin/products/9", bad, cookies...); r.status != http.StatusForbidden {
		t.Errorf("admin POST with a wrong CSRF token: %d", r.status)
	}
	withToken := url.Values{"name": {"Hijacked"}, "price": {"1.00"}, "csrf": {token}}
	if r := do(t, s, "POST", "/admin/products/9", withToken, cookies[0]); r.status != http.StatusForbidden {
		t.Errorf("admin POST with the token but not its cookie: %d", r.status)
	}
	for _, pw := range []string{"", "wrong"} {
		if r := postForm(t, s, "/login", "/login", url.Values{"user": {"admin"}, "password": {pw}}); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "Password:") {
			t.Errorf("admin login with password %q: %d", pw, r.status)
		}
	}
	if after := do(t, s, "GET", "/p/9", nil).body; after != before || strings.Contains(after, "Hijacked") {
		t.Fatal("a refused POST changed the product")
	}
	if r := do(t, s, "POST", "/admin/products/9", withToken, cookies...); r.status != http.StatusSeeOther {
		t.Fatalf("the admin's POST with its CSRF token: %d", r.status)
	}
	if !strings.Contains(do(t, s, "GET", "/p/9", nil).body, "Hijacked") {
		t.Fatal("the admin's edit did not show")
	}
}

// An edit by the admin shows at once, for an anonymous visitor, on the
// home page and on the product's page, both cached before the edit.
func TestAdminEditShowsAtOnceOnHomeAndProduct(t *testing.T) {
	s := newTestSite(t)
	warm(t, s, "/")
	m := regexp.MustCompile(`<a href="/p/(\d+)">`).FindStringSubmatch(do(t, s, "GET", "/", nil).body)
	if m == nil {
		t.Fatal("no product on the home page")
	}
	var id int
	fmt.Sscan(m[1], &id)
	warm(t, s, "/p/"+m[1])
	if do(t, s, "GET", "/", nil).header.Get("X-Cache") != "HIT" || do(t, s, "GET", "/p/"+m[1], nil).header.Get("X-Cache") != "HIT" {
		t.Fatal("pages not cached before the edit")
	}
	if r := adminEdit(t, s, id, url.Values{"name": {"Freshly Renamed"}, "price": {"12.34"}}); r.status != http.StatusSeeOther {
		t.Fatalf("edit: %d", r.status)
	}
	for _, path := range []string{"/", "/p/" + m[1]} {
		if b := do(t, s, "GET", path, nil).body; !strings.Contains(b, "Freshly Renamed") || !strings.Contains(b, "$12.34") {
			t.Errorf("%s does not show the edit at once", path)
		}
	}
}

// The database queries a home page costs, counted at the connection pool.
// Before the GORM plugin (database/sql) a render cost 2 queries cold and 1
// with warm fragments (the best-rated list, an aggregate of the reviews),
// 2 for a logged-in visitor; now the plugin answers them all once warm.
func TestQueriesPerHomePage(t *testing.T) {
	s := newTestSite(t)
	count := func(target string, cookies ...*http.Cookie) int64 {
		t.Helper()
		before := s.store.Queries()
		if r := do(t, s, "GET", target, nil, cookies...); r.status != 200 {
			t.Fatalf("%s: %d", target, r.status)
		}
		return s.store.Queries() - before
	}
	if n := count("/"); n > 3 {
		t.Errorf("cold home page: %d queries, want at most 3", n)
	}
	warm(t, s, "/")
	if n := count("/"); n != 0 {
		t.Errorf("home page from the page cache: %d queries", n)
	}
	// A render with warm fragments and model cache (another query string:
	// a page-cache miss, as when the page expires).
	const maxWarm = 0
	for i := 0; i < 3; i++ {
		if n := count(fmt.Sprintf("/?v=%d", i)); n > maxWarm {
			t.Errorf("home page render, caches warm: %d queries, want at most %d", n, maxWarm)
		}
	}
	alice := login(t, s, "alice")
	count("/", alice)
	if n := count("/", alice); n > maxWarm {
		t.Errorf("logged-in home page, caches warm: %d queries, want at most %d", n, maxWarm)
	}
	// The plugin's lookups are on the dashboard, per model.
	if m := s.metrics.Models(); m["Product"].Hit == 0 || m["Category"].Hit == 0 || m["Session"].Hit == 0 {
		t.Errorf("model hits: %+v", m)
	}
	if b := do(t, s, "GET", "/_cache", nil).body; !strings.Contains(b, `<tr class="model"><td><code>Product</code>`) {
		t.Error("no Product row in the dashboard's models table")
	}
	if b := do(t, s, "GET", "/metrics", nil).body; !strings.Contains(b, `cachekit_model_lookups_total{model="Product",outcome="hit"}`) {
		t.Error("no per-model figures in /metrics")
	}
}

func TestErrorsRenderTheSitePageAndAreNotCached(t *testing.T) {
	s := newTestSite(t)
	for i := 0; i < 2; i++ {
		r := do(t, s, "GET", "/no/such/page", nil)
		if r.status != 404 || !strings.Contains(r.body, "Not found") || !strings.Contains(r.body, "Calm Goods") {
			t.Fatalf("404: %d %q", r.status, r.body[:min(200, len(r.body))])
		}
		if r.header.Get("X-Cache") == "HIT" {
			t.Fatal("a 404 was served from the cache")
		}
	}
	if r := do(t, s, "GET", "/p/99999", nil); r.status != 404 {
		t.Fatalf("missing product: %d", r.status)
	}
	// A database error: an error page, and nothing cached.
	s.store.Close()
	for i := 0; i < 2; i++ {
		r := do(t, s, "GET", "/c/lamps", nil)
		if r.status != 500 || r.header.Get("X-Cache") == "HIT" {
			t.Fatalf("database down: %d %s", r.status, r.header.Get("X-Cache"))
		}
	}
}

func TestDashboardAndGuardedActions(t *testing.T) {
	s := newTestSite(t)
	warm(t, s, "/")
	warm(t, s, "/c/lamps")
	warm(t, s, "/p/5")
	r := do(t, s, "GET", "/_cache", nil)
	if r.status != 200 || !strings.Contains(r.body, "<svg") || !strings.Contains(r.body, "GET /") || !strings.Contains(r.body, "sidebar") {
		t.Fatalf("dashboard: %d", r.status)
	}
	if r.header.Get("X-Cache") != "" {
		t.Fatal("the dashboard went through the page cache")
	}
	// The charts are drawn with data; the reason tables hold known reasons only.
	if !regexp.MustCompile(`<svg class="chart[^>]*>[\s\S]*?<circle `).MatchString(r.body) {
		t.Fatal("no chart with data")
	}
	known := strings.Join(append(dashboard.KnownReasons(), dashboard.Other), " ")
	for _, m := range regexp.MustCompile(`<tr><td><code>([^<]*)</code></td><td>\d+</td></tr>`).FindAllStringSubmatch(r.body, -1) {
		if !strings.Contains(" "+known+" ", " "+m[1]+" ") {
			t.Fatalf("unknown reason on the dashboard: %q", m[1])
		}
	}
	// Hits the site-wide cache answered count under their own routes.
	routes := s.metrics.Routes()
	for _, name := range []string{"GET /", "GET /c/:slug", "GET /p/:id"} {
		if routes[name].Hit == 0 {
			t.Errorf("%s: no hit counted: %v", name, routes)
		}
	}
	m := regexp.MustCompile(`name="nonce" value="([^"]+)"`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatal("no form on the dashboard")
	}
	nonce := m[1]
	for _, bad := range []url.Values{
		{"action": {"path"}, "path": {"/"}},
		{"action": {"path"}, "path": {"/"}, "nonce": {nonce}, "token": {"wrong"}},
		{"action": {"path"}, "path": {"/"}, "token": {"secret"}},
	} {
		if r := do(t, s, "POST", "/_cache", bad); r.status != 403 {
			t.Fatalf("invalidate %v: %d", bad, r.status)
		}
	}
	if do(t, s, "GET", "/", nil).header.Get("X-Cache") != "HIT" {
		t.Fatal("a refused invalidation dropped the page")
	}
	r = do(t, s, "POST", "/_cache", url.Values{"action": {"path"}, "path": {"/"}, "token": {"secret"}, "nonce": {nonce}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("invalidate with token: %d", r.status)
	}
	if x := do(t, s, "GET", "/", nil).header.Get("X-Cache"); x == "HIT" {
		t.Fatal("the path survived its invalidation")
	}
	if page := do(t, s, "GET", "/_cache"+r.header.Get("Location"), nil).body; !strings.Contains(page, "Invalidated the path") {
		t.Fatal("no confirmation after the invalidation")
	}
	metrics := do(t, s, "GET", "/metrics", nil)
	if metrics.status != 200 || !strings.Contains(metrics.body, `cachekit_route_responses_total{outcome="hit",route="GET /c/:slug"}`) ||
		!strings.Contains(metrics.body, "cachekit_memory_evictions_total") || metrics.header.Get("X-Cache") != "" {
		t.Fatalf("/metrics: %d %q", metrics.status, metrics.body[:min(len(metrics.body), 300)])
	}
}

func TestPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = run([]string{"-addr", ln.Addr().String(), "-templates", "../templates", "-db", filepath.Join(t.TempDir(), "x.db"), "-dev"})
	if err == nil || !strings.Contains(err.Error(), "is taken") {
		t.Fatalf("port taken: %v", err)
	}
}

func TestMain(m *testing.M) {
	if _, err := os.Stat("../templates"); err != nil {
		fmt.Fprintln(os.Stderr, "sample-site tests run from the sample-site directory")
		os.Exit(1)
	}
	if findChromium() == "" && os.Getenv("CI") != "true" {
		fmt.Fprintln(os.Stderr, "sample-site: browser test skipped (no chromium); apt-get install chromium, or run `make test` under CI=true")
	}
	time.Local = time.UTC
	os.Exit(m.Run())
}
