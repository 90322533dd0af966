package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rawRequest sends bytes as they are to a listening site and returns the
// response: how malformed and oversized requests arrive.
func rawRequest(t *testing.T, addr, req string) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer to %.40q: %v", req, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func listen(t *testing.T, s *site) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.app.Listener(ln)
	t.Cleanup(func() { s.app.Shutdown() })
	return ln.Addr().String()
}

// Client errors get a page that says what was wrong with the request, not
// the "try again in a moment" page of server errors.
func TestClientErrorPages(t *testing.T) {
	s := newTestSite(t)
	addr := listen(t, s)
	for _, tc := range []struct {
		name, req string
		status    int
		heading   string
	}{
		{"bad request", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400, "Bad request"},
		{"body too large", "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 5000000\r\n\r\n", 413, "Request too large"},
		{"headers too large", "GET / HTTP/1.1\r\nHost: x\r\nCookie: c=" + strings.Repeat("a", 20000) + "\r\n\r\n", 431, "Request headers too large"},
		{"not found", "GET /no/such/page HTTP/1.1\r\nHost: x\r\n\r\n", 404, "Not found"},
	} {
		status, body := rawRequest(t, addr, tc.req)
		if status != tc.status || !strings.Contains(body, tc.heading) {
			t.Errorf("%s: %d %q", tc.name, status, body[:min(300, len(body))])
		}
		if strings.Contains(body, "try again") || strings.Contains(body, "Something went wrong") {
			t.Errorf("%s: the server-error page", tc.name)
		}
	}
	// A missing product is a 404 page too.
	if r := do(t, s, "GET", "/p/99999", nil); r.status != 404 || !strings.Contains(r.body, "Not found") || strings.Contains(r.body, "try again") {
		t.Errorf("missing product: %d", r.status)
	}
}

// copyTemplates copies the site's templates to a directory a test can edit.
func copyTemplates(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	err := filepath.Walk("../templates", func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("../templates", path)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func siteOn(t *testing.T, templates string, dev bool) *site {
	t.Helper()
	cfg := siteConfig{DB: filepath.Join(t.TempDir(), "shop.db"), Templates: templates, Dev: dev, Reviews: 300}
	if !dev {
		cfg.AdminToken = "secret"
	}
	s, err := newSite(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Under -dev a template error shows the error with its file and line (and
// the source around it); in production the visitor gets the friendly page
// and no detail.
func TestDevErrorPageShowsTemplateError(t *testing.T) {
	dir := copyTemplates(t)
	product := filepath.Join(dir, "pages", "product.html")
	src, err := os.ReadFile(product)
	if err != nil {
		t.Fatal(err)
	}
	// An execution error on line 3: a field Product does not have.
	lines := strings.SplitAfter(string(src), "\n")
	broken := strings.Join(lines[:2], "") + "<p>{{.NoSuchField}}</p>\n" + strings.Join(lines[2:], "")
	if err := os.WriteFile(product, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}

	prod := siteOn(t, dir, false)
	r := do(t, prod, "GET", "/p/1", nil)
	if r.status != 500 || !strings.Contains(r.body, "try again") || strings.Contains(r.body, "NoSuchField") || strings.Contains(r.body, "product.html") {
		t.Errorf("production error page: %d %q", r.status, r.body[:min(300, len(r.body))])
	}

	dev := siteOn(t, dir, true)
	r = do(t, dev, "GET", "/p/2", nil)
	if r.status != 500 || !strings.Contains(r.body, "NoSuchField") || !strings.Contains(r.body, filepath.Join("pages", "product.html")+", line 3") ||
		!strings.Contains(r.body, `<tr class="here"><td class="n">3</td>`) {
		t.Errorf("dev error page for an execution error: %d %q", r.status, r.body[:min(600, len(r.body))])
	}

	// A syntax error introduced while the site runs: file and line too.
	syntax := strings.Join(lines[:4], "") + "{{if .Product}}\n" + strings.Join(lines[4:], "")
	if err := os.WriteFile(product, []byte(syntax), 0o644); err != nil {
		t.Fatal(err)
	}
	r = do(t, dev, "GET", "/p/3", nil)
	if r.status != 500 || !strings.Contains(r.body, "Template error") || !strings.Contains(r.body, filepath.Join("pages", "product.html")+", line") {
		t.Errorf("dev error page for a syntax error: %d %q", r.status, r.body[:min(600, len(r.body))])
	}
}

// The default database is per user, in the user's cache directory.
func TestDefaultDatabaseIsPerUser(t *testing.T) {
	home := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", home)
	t.Setenv("HOME", home)
	path, err := defaultDB()
	if err != nil {
		t.Fatal(err)
	}
	base, _ := os.UserCacheDir()
	if path != filepath.Join(base, "cachekit-sample-site", "shop.db") || !strings.HasPrefix(path, home) {
		t.Fatalf("default database %s", path)
	}
	if info, err := os.Stat(filepath.Dir(path)); err != nil || !info.IsDir() || info.Mode().Perm() != 0o700 {
		t.Fatalf("its directory: %v %v", info, err)
	}
}

// A database the database/sql version of the site seeded is refused with a
// message that says what to do, not misread.
func TestOldDatabaseRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	s, err := OpenStore(path, 10, newTestSite(t).cache)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Exec(`CREATE TABLE cart_items (user_id INTEGER, product_id INTEGER, qty INTEGER)`).Error; err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = newSite(siteConfig{DB: path, Templates: "../templates", AdminToken: "x"})
	if err == nil || !strings.Contains(err.Error(), "older version") || !strings.Contains(err.Error(), path) {
		t.Fatalf("old database: %v", err)
	}
}
