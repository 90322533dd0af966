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
	if !strings.Contains(dashboard, "sidebar") || !strings.Contains(dashboard, "GET /") {
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
