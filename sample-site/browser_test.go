package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// A real browser logs in as two users in two browser contexts: each sees
// only their own name, the shared fragments are cache hits, and the
// dashboard renders (its screenshot is saved for a person to look at).
func TestBrowserTwoUsers(t *testing.T) {
	bin := chromium(t)
	s := newTestSite(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.app.Listener(ln)
	base := "http://" + ln.Addr().String()

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
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	if err := chromedp.Do(browser); err != nil { // starts the browser
		t.Fatalf("starting Chromium: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(browser, 90*time.Second)
	defer cancelTimeout()

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

	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/_cache"), chromedp.WaitVisible(chromedp.CSS(`table.stats`))); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	dashboard, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`main`)))
	if err != nil {
		t.Fatalf("dashboard text: %v", err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("dashboard screenshot: %v", err)
	}
	if !strings.Contains(dashboard, "sidebar") || !strings.Contains(dashboard, "GET /") || !strings.Contains(dashboard, "Product") {
		t.Fatalf("dashboard lacks its tables: %q", dashboard[:min(300, len(dashboard))])
	}
	if len(png) < 10_000 {
		t.Fatalf("screenshot of %d bytes", len(png))
	}
	out := filepath.Join(os.TempDir(), "cachekit-dashboard.png")
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("dashboard screenshot: %s", out)
}
