package loader_test

import (
	"bytes"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/fibercache"
	"github.com/cachekit/cachekit/loader"
	"github.com/gofiber/fiber/v2"
)

// rewriteKeepingStat writes content (of the same size) into path and puts
// its modification time back: a stat sees the same size and time.
func rewriteKeepingStat(t *testing.T, path, content string) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(content)) != info.Size() {
		t.Fatalf("%s: the test must keep the size (%d, not %d)", path, info.Size(), len(content))
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(path)
	if err != nil || !after.ModTime().Equal(info.ModTime()) || after.Size() != info.Size() {
		t.Fatalf("%s: size or time changed: %v", path, err)
	}
}

// An edit that keeps the size and puts back a modification time long past
// (a copy that preserves times): the file was not racy when read, so its
// content is not compared; the change time, which no program sets back,
// shows the edit, at the next render for a file of the chain and at the
// next Check for any file.
func TestReloadSeesEditRestoringAnOldTime(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"page.html":       `<p>page v1</p>{{template "partials/p" .}}`,
		"partials/p.html": `<i>p v1</i>`,
		"other.html":      `<b>o1</b>`,
	})
	old := time.Now().Add(-time.Hour)
	for _, name := range []string{"page.html", "partials/p.html", "other.html"} {
		if err := os.Chtimes(filepath.Join(dir, name), old, old); err != nil {
			t.Fatal(err)
		}
	}
	eng := loader.New(dir, ".html")
	eng.Reload(true)
	if err := eng.Load(); err != nil {
		t.Fatal(err)
	}
	if got := render(t, eng, "page", nil); got != "<p>page v1</p><i>p v1</i>" {
		t.Fatalf("got %q", got)
	}
	if got := render(t, eng, "other", nil); got != "<b>o1</b>" {
		t.Fatalf("got %q", got)
	}
	rewriteKeepingStat(t, filepath.Join(dir, "partials/p.html"), `<i>p v2</i>`)
	if got := render(t, eng, "page", nil); got != "<p>page v1</p><i>p v2</i>" {
		t.Errorf("after an edit restoring the old time: %q", got)
	}
	rewriteKeepingStat(t, filepath.Join(dir, "page.html"), `<p>page v2</p>{{template "partials/p" .}}`)
	if got := render(t, eng, "page", nil); got != "<p>page v2</p><i>p v2</i>" {
		t.Errorf("after an edit of the page restoring the old time: %q", got)
	}
	// Check (the whole directory) sees it too, with no wait for a scan.
	rewriteKeepingStat(t, filepath.Join(dir, "other.html"), `<b>o2</b>`)
	if err := eng.Check(); err != nil {
		t.Fatal(err)
	}
	if got := render(t, eng, "other", nil); got != "<b>o2</b>" {
		t.Errorf("other after Check: %q", got)
	}
	// A broken edit restoring the time is reported, with file and line.
	rewriteKeepingStat(t, filepath.Join(dir, "partials/p.html"), `{{if}}</i>.`)
	var le *loader.Error
	if err := eng.Render(io.Discard, "page", nil); !errors.As(err, &le) || !strings.HasSuffix(le.File, "p.html") || le.Line != 1 {
		t.Fatalf("render after a broken edit: %v", err)
	}
}

// devSite is a site in development mode: the loader in Reload mode, its
// Watch in front of a whole-site page cache that serves stale copies, as
// the sample site runs with -dev.
type devSite struct {
	t     *testing.T
	dir   string
	app   *fiber.App
	cache *cachekit.Cache
	eng   *loader.Engine
}

func newDevSite(t *testing.T, watch bool) *devSite {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"layouts/main.html":   `<html>{{template "partials/nav" .}}<main>{{embed}}</main></html>`,
		"partials/nav.html":   `<nav>nav v1</nav>`,
		"partials/promo.html": `<b>promo v1</b>`,
		"pages/home.html":     `<h1>home v1</h1>{{template "partials/promo" .}}{{cache "box" 60}}<p>box v1 {{.N}}</p>{{endcache}}`,
		"pages/about.html":    `<h1>about v1</h1>`,
	})
	m, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	cache := cachekit.New(cachekit.Config{Storage: m})
	eng := loader.New(dir, ".html").Cache(cache)
	eng.Reload(true)
	app := fiber.New(fiber.Config{Views: eng, ViewsLayout: "layouts/main", DisableStartupMessage: true})
	if watch {
		app.Use(eng.Watch())
	}
	app.Use(fibercache.New(fibercache.Config{
		Cache: cache, TTL: time.Minute, StaleWhileRevalidate: time.Minute, StaleIfError: time.Minute,
	}))
	n := 0
	app.Get("/", func(c *fiber.Ctx) error {
		n++
		return c.Render("pages/home", fiber.Map{"N": n})
	})
	app.Get("/about", func(c *fiber.Ctx) error { return c.Render("pages/about", fiber.Map{}) })
	return &devSite{t: t, dir: dir, app: app, cache: cache, eng: eng}
}

func (s *devSite) get(path string) (status int, xcache, body string) {
	s.t.Helper()
	resp, err := s.app.Test(httptest.NewRequest("GET", path, nil), -1)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Cache"), string(b)
}

// want checks that an anonymous GET of path answers 200 with body holding
// every one of parts, from the cache (HIT) or not.
func (s *devSite) want(path string, hit bool, parts ...string) {
	s.t.Helper()
	status, x, body := s.get(path)
	if status != 200 {
		s.t.Fatalf("GET %s: %d %s %q", path, status, x, body)
	}
	if (x == "HIT") != hit {
		s.t.Errorf("GET %s: X-Cache %s, want HIT: %v (%q)", path, x, hit, body)
	}
	for _, p := range parts {
		if !strings.Contains(body, p) {
			s.t.Errorf("GET %s: %q lacks %q (X-Cache %s)", path, body, p, x)
		}
	}
}

func (s *devSite) write(name, content string) {
	writeFile(s.t, filepath.Join(s.dir, name), content)
}

// In development mode a template edit reaches the next request of every
// visitor, anonymous ones included, whose pages the page cache keeps: the
// pages rendered from the edited template (and only those) are dropped,
// a broken template shows its error rather than the cached page, and the
// fix shows at once.
func TestDevTemplateEditReachesCachedPages(t *testing.T) {
	s := newDevSite(t, true)
	s.want("/", false, "home v1", "promo v1", "nav v1", "box v1 1")
	s.want("/", true, "home v1")
	s.want("/about", false, "about v1", "nav v1")
	s.want("/about", true, "about v1")

	// A partial only the home page uses: the home page goes, /about stays.
	s.write("partials/promo.html", `<b>promo v2</b>`)
	s.want("/", false, "promo v2")
	s.want("/about", true, "about v1")
	s.want("/", true, "promo v2")

	// The layout's partial: every page goes.
	s.write("partials/nav.html", `<nav>nav v2</nav>`)
	s.want("/", false, "nav v2", "promo v2")
	s.want("/about", false, "nav v2")

	// A {{cache}} block's body: the block and the page built from it.
	s.write("pages/home.html", `<h1>home v2</h1>{{template "partials/promo" .}}{{cache "box" 60}}<p>box v2 {{.N}}</p>{{endcache}}`)
	s.want("/", false, "home v2", "box v2")
	s.want("/about", true)

	// An edit keeping size and modification time.
	rewriteKeepingStat(t, filepath.Join(s.dir, "partials/promo.html"), `<b>promo v3</b>`)
	s.want("/", false, "promo v3")

	// A syntax error: the page that uses the file shows the error (not a
	// HIT, not a STALE copy), the others are not disturbed; the fix shows.
	s.write("partials/promo.html", `<b>{{if}}</b>`)
	status, x, body := s.get("/")
	if status != 500 || x == "HIT" || x == "STALE" {
		t.Errorf("a broken template: %d %s %q", status, x, body)
	}
	if !strings.Contains(body, "promo.html") {
		t.Errorf("the error does not name the file: %q", body)
	}
	s.want("/about", true, "about v1")
	s.write("partials/promo.html", `<b>promo v4</b>`)
	s.want("/", false, "promo v4")

	// A removed partial: the page fails at once; a new page shows.
	if err := os.Remove(filepath.Join(s.dir, "partials/promo.html")); err != nil {
		t.Fatal(err)
	}
	if status, x, body := s.get("/"); status != 500 || x == "HIT" || x == "STALE" {
		t.Errorf("a removed partial: %d %s %q", status, x, body)
	}
	s.write("partials/promo.html", `<b>promo v5</b>`)
	s.want("/", false, "promo v5")
}

// Without Watch in front of the page cache nothing looks at the files
// while the cache answers: the page stays as it was (what Watch is for),
// while a render (a page the cache does not hold) sees the edit.
func TestDevWithoutWatchKeepsCachedPage(t *testing.T) {
	s := newDevSite(t, false)
	s.want("/", false, "promo v1")
	s.want("/", true, "promo v1")
	s.write("partials/promo.html", `<b>promo v2</b>`)
	s.want("/", true, "promo v1")
	// A render of the home page (here: Render itself) checks its chain,
	// drops the pages built from the edited file, and the next request
	// renders afresh.
	var buf bytes.Buffer
	if err := s.eng.Render(&buf, "pages/home", fiber.Map{}); err != nil || !strings.Contains(buf.String(), "promo v2") {
		t.Fatalf("render: %q %v", buf.String(), err)
	}
	s.want("/", false, "promo v2")
}

// Outside Reload mode pages carry no template tags and Check does nothing.
func TestCheckOutsideReloadMode(t *testing.T) {
	s := newDevSite(t, true)
	s.eng.Reload(false)
	s.want("/", false, "promo v1")
	s.write("partials/promo.html", `<b>promo v2</b>`)
	if err := s.eng.Check(); err != nil {
		t.Fatal(err)
	}
	s.want("/", true, "promo v1")
	if got := loader.TemplateTag("partials/nav"); got != "template:partials/nav" {
		t.Errorf("TemplateTag: %q", got)
	}
}

// A file read again with the same content drops no page: a racy file past
// its window (read again once, by git's rule) or one touched.
func TestDevUnchangedContentDropsNothing(t *testing.T) {
	s := newDevSite(t, true)
	s.want("/", false, "promo v1")
	s.want("/", true, "promo v1")
	time.Sleep(2*time.Second + 200*time.Millisecond) // past the racy window of the files just written
	s.want("/", true, "promo v1")
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(filepath.Join(s.dir, "partials/promo.html"), later, later); err != nil {
		t.Fatal(err)
	}
	s.want("/", true, "promo v1")
	s.write("partials/promo.html", `<b>promo v2</b>`)
	s.want("/", false, "promo v2")
}
