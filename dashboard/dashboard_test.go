package dashboard_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/dashboard"
	"github.com/gofiber/fiber/v2"
)

func httptestGet(target string) *http.Request {
	return httptest.NewRequest(http.MethodGet, target, nil)
}

// No bad request invalidates anything: each refused POST leaves the cached
// pages cached, names what is wrong and keeps what was typed.
func TestActionsNeedTokenAndNonce(t *testing.T) {
	s := newShop(t, dashboard.RecorderConfig{}, dashboard.Config{Token: token})
	s.get(t, "/")
	s.get(t, "/c/lamps")
	wantX(t, s.get(t, "/"), "HIT")
	nonce := s.nonce(t)

	bad := []struct {
		name   string
		form   url.Values
		header []string
		status int
		text   string
	}{
		{"no token", url.Values{"action": {"path"}, "path": {"/"}, "nonce": {nonce}}, nil, 403, "Token: that is not the token."},
		{"wrong token", url.Values{"action": {"path"}, "path": {"/"}, "nonce": {nonce}, "token": {token + "x"}}, nil, 403, "Token: that is not the token."},
		{"no nonce", url.Values{"action": {"path"}, "path": {"/"}, "token": {token}}, nil, 403, "has expired or was not made by this page"},
		{"forged nonce", url.Values{"action": {"path"}, "path": {"/"}, "token": {token}, "nonce": {"1700000000.00112233445566778899aabbccddeeff"}}, nil, 403, "has expired"},
		{"tampered nonce", url.Values{"action": {"path"}, "path": {"/"}, "token": {token}, "nonce": {nonce + "0"}}, nil, 403, "has expired"},
		{"cross-site fetch", url.Values{"action": {"path"}, "path": {"/"}, "token": {token}, "nonce": {nonce}}, []string{"Sec-Fetch-Site", "cross-site"}, 403, "from another site"},
		{"foreign origin", url.Values{"action": {"tag"}, "tag": {"catalog"}, "token": {token}, "nonce": {nonce}}, []string{"Origin", "https://evil.example"}, 403, "from another site"},
		{"null origin", url.Values{"action": {"tag"}, "tag": {"catalog"}, "token": {token}, "nonce": {nonce}}, []string{"Origin", "null"}, 403, "from another site"},
		{"empty tag", url.Values{"action": {"tag"}, "tag": {"  "}, "token": {token}, "nonce": {nonce}}, nil, 422, "Tag: it is empty."},
		{"control character", url.Values{"action": {"tag"}, "tag": {"a\x00b"}, "token": {token}, "nonce": {nonce}}, nil, 422, "Tag: it holds a control character"},
		{"relative path", url.Values{"action": {"path"}, "path": {"p/7"}, "token": {token}, "nonce": {nonce}}, nil, 422, "Path: it starts with /"},
		{"no action", url.Values{"tag": {"catalog"}, "token": {token}, "nonce": {nonce}}, nil, 400, "Choose a form"},
	}
	for _, b := range bad {
		r := s.post(t, "/_cache", b.form, b.header...)
		if r.status != b.status || !strings.Contains(r.body, b.text) {
			t.Errorf("%s: %d, want %d with %q", b.name, r.status, b.status, b.text)
		}
		if strings.Contains(r.body, token) {
			t.Errorf("%s: the page shows the token", b.name)
		}
		if v := b.form.Get("path"); v != "" && !strings.Contains(r.body, `value="`+v+`"`) {
			t.Errorf("%s: the typed path is not kept", b.name)
		}
		wantX(t, s.get(t, "/"), "HIT")
		wantX(t, s.get(t, "/c/lamps"), "HIT")
	}
	if inv := s.cache.Stats().Invalidations; inv != 0 {
		t.Fatalf("%d invalidations after refused forms", inv)
	}

	// The right form: a 303 to a signed confirmation, and the page is gone.
	r := s.post(t, "/_cache", url.Values{"action": {"path"}, "path": {"/"}, "token": {token}, "nonce": {nonce}},
		"Origin", "http://example.com", "Sec-Fetch-Site", "same-origin")
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "?done=") {
		t.Fatalf("invalidate path: %d %q %s", r.status, r.header.Get("Location"), r.body)
	}
	wantX(t, s.get(t, "/"), "MISS")
	wantX(t, s.get(t, "/c/lamps"), "HIT")
	page := s.get(t, "/_cache"+r.header.Get("Location")).body
	if !strings.Contains(page, `role="status">Invalidated the path &#34;/&#34;`) {
		t.Fatalf("no confirmation on the page")
	}
	// A tag.
	r = s.post(t, "/_cache", url.Values{"action": {"tag"}, "tag": {"catalog"}, "token": {token}, "nonce": {nonce}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("invalidate tag: %d %s", r.status, r.body)
	}
	wantX(t, s.get(t, "/c/lamps"), "MISS")
	if !strings.Contains(s.get(t, "/_cache"+r.header.Get("Location")).body, "Invalidated the tag &#34;catalog&#34;") {
		t.Fatal("no confirmation of the tag")
	}
	// A confirmation nobody signed is not shown.
	forged := "?done=" + strings.Split(strings.TrimPrefix(r.header.Get("Location"), "?done="), ".")[0] + ".00"
	if strings.Contains(s.get(t, "/_cache"+forged).body, `role="status"`) {
		t.Fatal("an unsigned confirmation was shown")
	}
}

// Without a Token the page is read-only: no form, and every POST is
// refused.
func TestNoTokenIsReadOnly(t *testing.T) {
	s := newShop(t, dashboard.RecorderConfig{}, dashboard.Config{})
	s.get(t, "/")
	r := s.get(t, "/_cache")
	if r.status != 200 || strings.Contains(r.body, "<form") || !strings.Contains(r.body, "Invalidation is off") {
		t.Fatalf("read-only page: %d", r.status)
	}
	for _, f := range []url.Values{
		{"action": {"path"}, "path": {"/"}},
		{"action": {"path"}, "path": {"/"}, "token": {""}, "nonce": {""}},
	} {
		if r := s.post(t, "/_cache", f); r.status != 403 {
			t.Fatalf("POST without a configured token: %d", r.status)
		}
	}
	wantX(t, s.get(t, "/"), "HIT")
	app := fiber.New()
	app.All("/_cache", dashboard.New(dashboard.Config{Cache: s.cache}))
	res, err := app.Test(httptest.NewRequest(http.MethodPut, "/_cache", nil))
	if err != nil || res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD, POST" {
		t.Fatalf("PUT: %v %v", res, err)
	}
}

// A nonce from another dashboard (another process, or another token) does
// not work here.
func TestNonceBoundToHandler(t *testing.T) {
	a := newShop(t, dashboard.RecorderConfig{}, dashboard.Config{Token: token})
	b := newShop(t, dashboard.RecorderConfig{}, dashboard.Config{Token: token})
	b.get(t, "/")
	r := b.post(t, "/_cache", url.Values{"action": {"path"}, "path": {"/"}, "token": {token}, "nonce": {a.nonce(t)}})
	if r.status != 403 {
		t.Fatalf("another handler's nonce: %d", r.status)
	}
	wantX(t, b.get(t, "/"), "HIT")
}

var (
	svgRE    = regexp.MustCompile(`<svg class="chart[^"]*"[\s\S]*?</svg>`)
	circleRE = regexp.MustCompile(`<circle `)
)

// After traffic over a few intervals every chart is drawn with axes, a
// scale and data.
func TestChartsDrawn(t *testing.T) {
	const every = 40 * time.Millisecond
	s := newShop(t, dashboard.RecorderConfig{Interval: every, History: 20}, dashboard.Config{Token: token})
	for i := 0; i < 6; i++ {
		for _, p := range []string{"/", "/c/lamps", "/p/1", "/p/2", "/cookie", "/private"} {
			s.get(t, p)
		}
		s.get(t, "/c/lamps", "Cookie", "a=b")
		s.rec.Observe("fragment:sidebar:00", cachekit.Hit)
		time.Sleep(every + 5*time.Millisecond)
	}
	r := s.get(t, "/_cache")
	if r.status != 200 || r.header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("page: %d %q", r.status, r.header.Get("Content-Type"))
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Fatalf("CSP %q", csp)
	}
	if strings.Contains(r.body, "<script") || strings.Contains(r.body, "http://") || strings.Contains(r.body, "https://") {
		t.Fatal("the page loads something from elsewhere")
	}
	svgs := svgRE.FindAllString(r.body, -1)
	// Lookups, writes, errors, evictions, memory; 5 routes; 1 fragment;
	// bypass and not-stored reasons.
	if len(svgs) != 5+5+1+2 {
		t.Fatalf("%d charts", len(svgs))
	}
	withData := 0
	for _, svg := range svgs {
		if !strings.Contains(svg, `class="axis"`) || !strings.Contains(svg, `class="tick"`) {
			t.Fatalf("a chart without axes or scale: %.200s", svg)
		}
		if strings.Contains(svg, "<polyline") || strings.Contains(svg, "<rect") {
			withData++
		}
	}
	if withData < len(svgs)-2 { // errors and evictions may well be flat zero lines
		t.Fatalf("%d of %d charts have data", withData, len(svgs))
	}
	for _, name := range []string{"GET /", "GET /c/:slug", "sidebar"} {
		i := strings.Index(r.body, "<code>"+name+"</code>")
		if i < 0 {
			t.Fatalf("no row for %s", name)
		}
		row := r.body[i:]
		row = row[:strings.Index(row, "</tr>")]
		if len(circleRE.FindAllString(row, -1)) < 3 || !strings.Contains(row, ">100%<") || !strings.Contains(row, ">now<") {
			t.Fatalf("%s: the hit-ratio chart has no points or no scale: %.400s", name, row)
		}
	}
}
