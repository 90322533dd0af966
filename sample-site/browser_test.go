package main

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cachekit/cachekit/dashboard"
	"github.com/chromedp/chromedp"
)

// findChromium returns the path of Debian's Chromium (or another build), or "".
func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// chromium finds Chromium for a test. make test installs it under CI=true.
func chromium(t *testing.T) string {
	if p := findChromium(); p != "" {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium under CI=true: make test installs Debian's chromium package")
	}
	t.Skip("no Chromium: apt-get install chromium, or run make test under CI=true")
	return ""
}

// newBrowser starts headless Chromium for t and returns a context for it.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	bin := chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1280, 1400),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browser); err != nil { // starts the browser
		t.Fatalf("starting Chromium: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(browser, 120*time.Second)
	t.Cleanup(cancelTimeout)
	return ctx
}

// serve runs s on a loopback port and returns its base URL.
func serve(t *testing.T, s *site) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.app.Listener(ln)
	t.Cleanup(func() { s.app.Shutdown() })
	return "http://" + ln.Addr().String()
}

// A real browser logs in as two users in two browser contexts: each sees
// only their own name, the shared fragments are cache hits; the admin's
// edit shows at once to an anonymous visitor; and after some traffic the
// dashboard draws its charts with data and names only known routes,
// fragments and reasons (its screenshot is saved for a person to look at).
func TestBrowserTwoUsers(t *testing.T) {
	s, err := newSite(siteConfig{
		DB:           filepath.Join(t.TempDir(), "shop.db"),
		Templates:    "../templates",
		AdminToken:   "secret",
		Reviews:      1500,
		MetricsEvery: 250 * time.Millisecond, // the charts get several points in a short test
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	base := serve(t, s)
	ctx := newBrowser(t)

	visit := func(user string) string {
		// Each user gets a browser context of their own: separate cookies.
		tab, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
		defer cancel()
		err := chromedp.Do(tab,
			chromedp.Navigate(base+"/login"),
			chromedp.SetValue(chromedp.CSS(`select[name="user"]`), user),
			chromedp.Submit(chromedp.CSS(`form.stack`)),
			chromedp.WaitVisible(chromedp.CSS(`.greeting`)),
			chromedp.Navigate(base+"/"),
		)
		if err != nil {
			t.Fatalf("%s's visit: %v", user, err)
		}
		greeting, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS(`.greeting`)))
		if err != nil {
			t.Fatalf("%s's greeting: %v", user, err)
		}
		html, err := chromedp.Run(tab, chromedp.OuterHTML(chromedp.CSS(`html`)))
		if err != nil {
			t.Fatalf("%s's page: %v", user, err)
		}
		if strings.TrimSpace(greeting) != "Hello, "+user {
			t.Fatalf("%s sees the greeting %q", user, greeting)
		}
		return html
	}
	alice := visit("alice")
	bob := visit("bob")
	if strings.Contains(alice, "Hello, bob") || strings.Contains(bob, "Hello, alice") {
		t.Fatal("one user's name reached the other's page")
	}
	if !strings.Contains(alice, "Best rated") || !strings.Contains(bob, "Best rated") {
		t.Fatal("home page incomplete")
	}
	// The shared parts: bob's sidebar and cards came from alice's renders.
	f := s.metrics.Fragments()
	if f["sidebar"].Hit == 0 || f["card"].Hit == 0 {
		t.Fatalf("shared fragments were not cache hits: %+v", f)
	}
	if f["greeting"].Hit != 0 && f["greeting"].Miss < 2 {
		t.Fatalf("greeting fragment shared between users: %+v", f["greeting"])
	}

	// The admin edits a product of the home page in the browser (logging
	// in with the admin token, through the CSRF-protected form); an
	// anonymous visitor sees it at once on the home and product pages.
	anon, cancelAnon := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer cancelAnon()
	if err := chromedp.Do(anon, chromedp.Navigate(base+"/")); err != nil {
		t.Fatalf("anonymous home page: %v", err)
	}
	link, err := chromedp.Run(anon, chromedp.AttributeValue(chromedp.CSS(`.grid .card h3 a`), "href"))
	if err != nil || !strings.HasPrefix(link.Value, "/p/") {
		t.Fatalf("a product link on the home page: %q %v", link.Value, err)
	}
	href := link.Value
	if err := chromedp.Do(anon, chromedp.Navigate(base+href)); err != nil { // cached before the edit
		t.Fatalf("anonymous product page: %v", err)
	}
	admin, cancelAdmin := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer cancelAdmin()
	err = chromedp.Do(admin,
		chromedp.Navigate(base+"/login"),
		chromedp.SetValue(chromedp.CSS(`select[name="user"]`), "admin"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "secret"),
		chromedp.Submit(chromedp.CSS(`form.stack`)),
		chromedp.WaitVisible(chromedp.CSS(`.greeting`)),
		chromedp.Navigate(base+"/admin"+strings.Replace(href, "/p/", "/products/", 1)),
		chromedp.SetValue(chromedp.CSS(`input[name="name"]`), "Browser Edited Lamp"),
		chromedp.SetValue(chromedp.CSS(`input[name="price"]`), "0.001"),
		chromedp.Submit(chromedp.CSS(`form.stack`)),
		chromedp.WaitVisible(chromedp.CSS(`ul.error`)),
	)
	if err != nil {
		t.Fatalf("the admin's edit: %v", err)
	}
	formErr, err := chromedp.Run(admin, chromedp.Text(chromedp.CSS(`ul.error`)))
	if err != nil || !strings.Contains(formErr, "Price:") {
		t.Fatalf("a price of 0.001: %q %v", formErr, err)
	}
	err = chromedp.Do(admin,
		chromedp.SetValue(chromedp.CSS(`input[name="price"]`), "23.45"),
		chromedp.Submit(chromedp.CSS(`form.stack`)),
		chromedp.WaitVisible(chromedp.CSS(`p.ok`)),
	)
	if err != nil {
		t.Fatalf("the admin's edit: %v", err)
	}
	for _, path := range []string{"/", href} {
		if err := chromedp.Do(anon, chromedp.Navigate(base+path)); err != nil {
			t.Fatalf("anonymous %s: %v", path, err)
		}
		text, err := chromedp.Run(anon, chromedp.Text(chromedp.CSS(`main`)))
		if err != nil {
			t.Fatalf("anonymous %s: %v", path, err)
		}
		if !strings.Contains(text, "Browser Edited Lamp") || !strings.Contains(text, "$23.45") {
			t.Errorf("anonymous %s does not show the edit: %q", path, text[:min(200, len(text))])
		}
	}

	// Traffic over several chart intervals, anonymous and logged in.
	session := http.Cookie{}
	for i := 0; i < 8; i++ {
		for _, p := range []string{"/", "/c/lamps", "/p/1", "/p/2", "/cart", "/no/such/page"} {
			req, _ := http.NewRequest("GET", base+p, nil)
			if i%2 == 1 && session.Name != "" {
				req.AddCookie(&session)
			}
			if res, err := http.DefaultClient.Do(req); err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		}
		if session.Name == "" {
			session = http.Cookie{Name: sessionCookie, Value: loginToken(t, s, "alice")}
		}
		time.Sleep(260 * time.Millisecond)
	}
	checkDashboard(t, ctx, s, base)
}

// loginToken logs in through the store: a session token for name.
func loginToken(t *testing.T, s *site, name string) string {
	t.Helper()
	u, err := s.store.User(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	token, err := s.store.Login(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// dashboardView is what the browser finds on /_cache.
type dashboardView struct {
	Charts, WithData, WithAxes, Drawn int
	Routes, Fragments, Models         []string
	Reasons, BarNames                 []string
}

const dashboardJS = `(() => {
  const texts = sel => [...document.querySelectorAll(sel)].map(e => e.textContent);
  const charts = [...document.querySelectorAll('svg.chart')];
  return {
    Charts: charts.length,
    WithData: charts.filter(c => c.querySelector('polyline, rect, circle')).length,
    WithAxes: charts.filter(c => c.querySelector('.axis') && c.querySelector('.tick')).length,
    Drawn: charts.filter(c => { const r = c.getBoundingClientRect(); return r.width > 100 && r.height > 40; }).length,
    Routes: texts('table.routes tr.route > td:first-child code'),
    Fragments: texts('table.fragments tr.fragment > td:first-child code'),
    Models: texts('table.models tr.model > td:first-child code'),
    Reasons: texts('table.reasons tr > td:first-child code'),
    BarNames: texts('svg.bars text.name'),
  };
})()`

// checkDashboard opens /_cache in the browser: its charts are drawn, with
// axes and data, a chart's screenshot is not blank, and every name the page
// shows is a route of the app, a fragment of the templates, a model, a
// known reason or "other".
func checkDashboard(t *testing.T, ctx context.Context, s *site, base string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/_cache"), chromedp.WaitVisible(chromedp.CSS(`table.stats`))); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	v, err := chromedp.Run(ctx, chromedp.Evaluate[dashboardView](dashboardJS))
	if err != nil {
		t.Fatalf("reading the dashboard: %v", err)
	}
	t.Logf("dashboard: %d charts, %d with data; routes %q; fragments %q; models %q; reasons %q", v.Charts, v.WithData, v.Routes, v.Fragments, v.Models, v.Reasons)
	if v.Charts < 8 || v.WithAxes != v.Charts || v.Drawn != v.Charts {
		t.Errorf("charts: %d, with axes and scale %d, drawn at size %d", v.Charts, v.WithAxes, v.Drawn)
	}
	if v.WithData < v.Charts-2 { // errors and evictions may be flat
		t.Errorf("%d of %d charts have data", v.WithData, v.Charts)
	}
	known := map[string]bool{dashboard.Other: true}
	for _, r := range s.app.GetRoutes(true) {
		known[r.Method+" "+r.Path] = true
	}
	for _, f := range []string{"card", "sidebar", "greeting"} {
		known[f] = true
	}
	for _, r := range dashboard.KnownReasons() {
		known[r] = true
	}
	known["allocated"] = true // the memory gauge's bar
	for _, name := range v.Reasons {
		if name == dashboard.Other {
			t.Errorf("a reason fibercache gave counts under %q: the dashboard does not know it", name)
		}
	}
	model := regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`) // a Go type's name
	for _, list := range [][]string{v.Routes, v.Fragments, v.Reasons, v.BarNames} {
		for _, name := range list {
			if !known[name] {
				t.Errorf("the dashboard shows %q, which is no route, fragment or reason", name)
			}
		}
	}
	for _, name := range v.Models {
		if !model.MatchString(name) && name != dashboard.Other {
			t.Errorf("the dashboard shows the model %q", name)
		}
	}
	for _, want := range []string{"GET /", "GET /c/:slug", "GET /p/:id"} {
		if !slices.Contains(v.Routes, want) {
			t.Errorf("no row for the route %s: %q", want, v.Routes)
		}
	}
	if !slices.Contains(v.Fragments, "sidebar") || !slices.Contains(v.Fragments, "card") {
		t.Errorf("fragments: %q", v.Fragments)
	}
	// A screenshot of the first route's hit-ratio chart: not blank.
	png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(`table.routes tr.route svg.chart`)))
	if err != nil {
		t.Fatalf("chart screenshot: %v", err)
	}
	if n := inkedPixels(t, png); n < 200 {
		t.Errorf("the hit-ratio chart is blank: %d inked pixels", n)
	}
	full, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("dashboard screenshot: %v", err)
	}
	out := filepath.Join(os.TempDir(), fmt.Sprintf("cachekit-dashboard-%d.png", os.Getpid()))
	if err := os.WriteFile(out, full, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("dashboard screenshot: %s", out)
}

// inkedPixels decodes a PNG and counts the pixels that are not near white.
func inkedPixels(t *testing.T, b []byte) int {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decoding a screenshot: %v", err)
	}
	n := 0
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if cr < 0xd000 || cg < 0xd000 || cb < 0xd000 {
				n++
			}
		}
	}
	return n
}

// Under -dev a template edit shows in the browser at the next request of
// an anonymous visitor whose page the page cache held; a broken template
// shows the -dev error page with file and line; the fix shows at once.
func TestBrowserDevTemplateEdit(t *testing.T) {
	dir := copyTemplates(t)
	s := siteOn(t, dir, true)
	base := serve(t, s)
	ctx := newBrowser(t)
	anon, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer cancel()
	footer := func() string {
		t.Helper()
		if err := chromedp.Do(anon, chromedp.Navigate(base+"/")); err != nil {
			t.Fatalf("home page: %v", err)
		}
		text, err := chromedp.Run(anon, chromedp.Text(chromedp.CSS(`footer`)))
		if err != nil {
			t.Fatalf("footer: %v", err)
		}
		return text
	}
	footer()
	if before := footer(); !strings.Contains(before, "Calm Goods is the cachekit sample site") {
		t.Fatalf("footer before the edit: %q", before)
	}
	res, err := chromedp.RunResponse(anon, chromedp.Navigate(base+"/"))
	if err != nil || res.Headers["X-Cache"] != "HIT" {
		t.Fatalf("the browser's home page is not a cache hit: %v %v", res.Headers["X-Cache"], err)
	}
	editTemplate(t, dir, "partials/footer.html", "Calm Goods is the cachekit sample site.", "Calm Goods, edited in the browser test.")
	if after := footer(); !strings.Contains(after, "edited in the browser test") {
		t.Errorf("the next request after the edit shows %q", after)
	}
	editTemplate(t, dir, "partials/footer.html", "Calm Goods, edited", "{{if .Title}}Calm Goods, edited")
	if err := chromedp.Do(anon, chromedp.Navigate(base+"/")); err != nil {
		t.Fatalf("home page: %v", err)
	}
	text, err := chromedp.Run(anon, chromedp.Text(chromedp.CSS(`body`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "Template error") || !strings.Contains(text, filepath.Join("partials", "footer.html")+", line") {
		t.Errorf("a broken footer shows %q", text[:min(300, len(text))])
	}
	editTemplate(t, dir, "partials/footer.html", "{{if .Title}}Calm Goods, edited", "Calm Goods, fixed and edited")
	if after := footer(); !strings.Contains(after, "fixed and edited") {
		t.Errorf("after the fix: %q", after)
	}
}
