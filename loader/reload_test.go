package loader_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cachekit/cachekit/loader"
)

func TestReload(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"page.html":       `<p>page v1</p>{{template "partials/p" .}}`,
		"other.html":      `<p>other</p>{{template "partials/p" .}}`,
		"alone.html":      `<p>alone</p>`,
		"layouts/l.html":  `<main>{{embed}}</main>`,
		"partials/p.html": `<i>p v1</i>`,
	})
	eng := loader.New(dir, ".html")
	eng.Reload(true)
	if !eng.PreRenderCheck() {
		t.Error("PreRenderCheck in Reload mode")
	}
	check := func(page, want string, layouts ...string) {
		t.Helper()
		if got := render(t, eng, page, nil, layouts...); got != want {
			t.Errorf("%s: got %q, want %q", page, got, want)
		}
	}
	check("page", "<main><p>page v1</p><i>p v1</i></main>", "layouts/l")

	// An edit to a file of the chain shows at the next render.
	writeFile(t, filepath.Join(dir, "partials/p.html"), `<i>p v2</i>`)
	writeFile(t, filepath.Join(dir, "layouts/l.html"), `<main class="x">{{embed}}</main>`)
	check("page", `<main class="x"><p>page v1</p><i>p v2</i></main>`, "layouts/l")
	check("other", `<p>other</p><i>p v2</i>`)

	// A syntax error: renders that use the file get the error with file and
	// line; the others keep serving.
	writeFile(t, filepath.Join(dir, "partials/p.html"), "<i>\n{{if}}</i>")
	var buf bytes.Buffer
	for i := 0; i < 2; i++ {
		err := eng.Render(&buf, "page", nil, "layouts/l")
		var le *loader.Error
		if !errors.As(err, &le) || le.File != filepath.Join(dir, "partials/p.html") || le.Line != 2 {
			t.Fatalf("render with broken partial: %v", err)
		}
	}
	check("alone", "<p>alone</p>")
	// Load fails too and changes nothing.
	if err := eng.Load(); err == nil {
		t.Error("Load with a broken file succeeded")
	}
	check("alone", "<p>alone</p>")

	// Fixed: picked up.
	writeFile(t, filepath.Join(dir, "partials/p.html"), `<i>p v3</i>`)
	check("page", `<p>page v1</p><i>p v3</i>`)

	// New and removed files show at once.
	writeFile(t, filepath.Join(dir, "new.html"), `<p>new</p>`)
	if err := os.Remove(filepath.Join(dir, "alone.html")); err != nil {
		t.Fatal(err)
	}
	check("new", "<p>new</p>")
	if err := eng.Render(&buf, "alone", nil); err == nil {
		t.Error("removed template still renders")
	}
	// A new define elsewhere that shadows a template of the chain shows
	// within ScanInterval.
	writeFile(t, filepath.Join(dir, "zz.html"), `{{define "partials/p"}}<i>shadow</i>{{end}}`)
	time.Sleep(loader.ScanInterval + 50*time.Millisecond)
	check("page", `<p>page v1</p><i>shadow</i>`)
	// A new file that does not parse reports its error, not "does not exist".
	writeFile(t, filepath.Join(dir, "newer.html"), `{{end}}`)
	err := eng.Render(&buf, "newer", nil)
	var le *loader.Error
	if !errors.As(err, &le) || le.Name != "newer" {
		t.Errorf("got %v", err)
	}
	// A function added in Reload mode is seen at once, as with html/v2.
	eng.AddFunc("shout", strings.ToUpper)
	writeFile(t, filepath.Join(dir, "newer.html"), `{{shout "x"}}`)
	check("newer", "X")

	// Production mode again: no more checks.
	eng.Reload(false)
	writeFile(t, filepath.Join(dir, "new.html"), `<p>newest</p>`)
	check("new", "<p>new</p>")
}

// TestReloadOnlyChangedFiles: in Reload mode an unchanged tree is not read
// again, and an edit reads only the edited files.
func TestReloadOnlyChangedFiles(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"layouts/l.html": `<main>{{embed}}</main>`}
	for i := 0; i < 50; i++ {
		files[fmt.Sprintf("p%02d.html", i)] = fmt.Sprintf(`<p>%d</p>`, i)
	}
	writeFiles(t, dir, files)
	// Files modified well before they are read: not racy (a file read
	// within the racy window of its modification time has its content
	// compared at each check, see TestReloadSeesEditKeepingSizeAndTime).
	old := time.Now().Add(-time.Hour)
	for name := range files {
		if err := os.Chtimes(filepath.Join(dir, name), old, old); err != nil {
			t.Fatal(err)
		}
	}
	cfs := &countingFS{FileSystem: http.Dir(dir)}
	eng := loader.NewFileSystem(cfs, ".html")
	eng.Reload(true)
	render(t, eng, "p00", nil, "layouts/l")
	if n := len(cfs.reads()); n != 51 {
		t.Errorf("Load read %d files", n)
	}
	cfs.reset()
	for i := 0; i < 20; i++ {
		render(t, eng, "p00", nil, "layouts/l")
	}
	if r := cfs.reads(); len(r) != 0 {
		t.Errorf("unchanged tree: read %v", r)
	}
	// Each render looked at its chain's two files only (a directory scan
	// every ScanInterval may add one open of each file).
	if opens := cfs.opens(); opens["/p00.html"] < 20 || opens["/layouts/l.html"] < 20 || opens["/p01.html"] > 2 {
		t.Errorf("opens: %v", opens)
	}
	writeFile(t, filepath.Join(dir, "p00.html"), `<p>zero</p>`)
	writeFile(t, filepath.Join(dir, "p01.html"), `<p>one</p>`)
	cfs.reset()
	if got := render(t, eng, "p00", nil, "layouts/l"); got != "<main><p>zero</p></main>" {
		t.Errorf("got %q", got)
	}
	// p00 is read at once; p01, outside the chain, waits for the next scan
	// (which may fall on this render); nothing else is read. (Both were
	// just written: racy, so a check may read them again to compare.)
	r := cfs.reads()
	if len(r) == 0 || r[0] != "/p00.html" {
		t.Errorf("after editing p00 and p01, a render of p00 read %v", r)
	}
	for _, f := range r {
		if f != "/p00.html" && f != "/p01.html" {
			t.Errorf("after editing p00 and p01, a render of p00 read %v", r)
		}
	}
}

// countingFS records which files are opened and which are read.
type countingFS struct {
	http.FileSystem
	mu   sync.Mutex
	open map[string]int
	read map[string]bool
}

func (c *countingFS) Open(name string) (http.File, error) {
	c.mu.Lock()
	if c.open == nil {
		c.open, c.read = map[string]int{}, map[string]bool{}
	}
	c.open[name]++
	c.mu.Unlock()
	f, err := c.FileSystem.Open(name)
	if err != nil {
		return nil, err
	}
	return &countingFile{File: f, fs: c, name: name}, nil
}

type countingFile struct {
	http.File
	fs   *countingFS
	name string
}

func (f *countingFile) Read(p []byte) (int, error) {
	f.fs.mu.Lock()
	f.fs.read[f.name] = true
	f.fs.mu.Unlock()
	return f.File.Read(p)
}

func (c *countingFS) reset() {
	c.mu.Lock()
	c.open, c.read = map[string]int{}, map[string]bool{}
	c.mu.Unlock()
}

func (c *countingFS) reads() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var names []string
	for k := range c.read {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func (c *countingFS) opens() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[string]int{}
	for k, v := range c.open {
		m[k] = v
	}
	return m
}

// TestConcurrentReload renders from many goroutines while files change,
// Load runs and the configuration changes.
func TestConcurrentReload(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"page.html":       `<p>page</p>{{template "partials/p" .}}`,
		"layouts/l.html":  `<main>{{embed}}</main>`,
		"partials/p.html": `<i>p0</i>`,
	})
	eng := loader.New(dir, ".html")
	eng.Reload(true)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			for {
				select {
				case <-stop:
					return
				default:
				}
				buf.Reset()
				if err := eng.Render(&buf, "page", nil, "layouts/l"); err != nil {
					t.Error(err)
					return
				}
				if s := buf.String(); !strings.HasPrefix(s, "<main><p>page</p><i>p") {
					t.Errorf("got %q", s)
					return
				}
			}
		}()
	}
	for i := 1; i <= 20; i++ {
		// As editors do: write aside, rename over.
		tmp := filepath.Join(dir, "p.tmp")
		if err := os.WriteFile(tmp, []byte(fmt.Sprintf(`<i>p%d</i>`, i)), 0o644); err != nil {
			t.Fatal(err)
		}
		mod := time.Now().Add(time.Duration(i) * time.Second)
		if err := os.Chtimes(tmp, mod, mod); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "partials/p.html")); err != nil {
			t.Fatal(err)
		}
		if i%5 == 0 {
			if err := eng.Load(); err != nil {
				t.Error(err)
			}
			eng.Layout("embed")
		}
		time.Sleep(2 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if got := render(t, eng, "page", nil, "layouts/l"); got != "<main><p>page</p><i>p20</i></main>" {
		t.Errorf("got %q", got)
	}
}

// An edit that keeps both the size and the modification time (a copy that
// preserves times, a file system with coarse timestamps) still shows: the
// file was read within the racy window of its modification time, so its
// content is compared (git's racy-timestamp rule).
func TestReloadSeesEditKeepingSizeAndTime(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"page.html":       `<p>page v1</p>{{template "partials/p" .}}`,
		"partials/p.html": `<i>p v1</i>`,
	})
	eng := loader.New(dir, ".html")
	eng.Reload(true)
	if err := eng.Load(); err != nil {
		t.Fatal(err)
	}
	check := func(want string) {
		t.Helper()
		if got := render(t, eng, "page", nil); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	check("<p>page v1</p><i>p v1</i>")
	rewrite := func(name, content string) {
		t.Helper()
		path := filepath.Join(dir, name)
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(content)) != info.Size() {
			t.Fatalf("%s: the test must keep the size", name)
		}
		writeFile(t, path, content)
		if err := os.Chtimes(path, info.ModTime(), info.ModTime()); err != nil {
			t.Fatal(err)
		}
		after, err := os.Stat(path)
		if err != nil || !after.ModTime().Equal(info.ModTime()) || after.Size() != info.Size() {
			t.Fatalf("%s: size or time changed: %v", name, err)
		}
	}
	// A file of the chain, seen at the next render.
	rewrite("partials/p.html", `<i>p v2</i>`)
	check("<p>page v1</p><i>p v2</i>")
	rewrite("page.html", `<p>page v2</p>{{template "partials/p" .}}`)
	check("<p>page v2</p><i>p v2</i>")
	// Again, and back: each version shows.
	rewrite("partials/p.html", `<i>p v1</i>`)
	check("<p>page v2</p><i>p v1</i>")
	// A broken edit of the same size and time is reported, then fixed.
	rewrite("partials/p.html", `{{if}}</i>.`)
	var buf bytes.Buffer
	var le *loader.Error
	if err := eng.Render(&buf, "page", nil); !errors.As(err, &le) {
		t.Fatalf("render after a broken edit: %v", err)
	}
	rewrite("partials/p.html", `<i>p v3</i>`)
	check("<p>page v2</p><i>p v3</i>")
	// The full scan (for files outside the chain) compares content too.
	writeFile(t, filepath.Join(dir, "other.html"), `<b>o1</b>`)
	time.Sleep(loader.ScanInterval + 50*time.Millisecond)
	if got := render(t, eng, "other", nil); got != "<b>o1</b>" {
		t.Fatalf("other: %q", got)
	}
	rewrite("other.html", `<b>o2</b>`)
	time.Sleep(loader.ScanInterval + 50*time.Millisecond)
	if got := render(t, eng, "other", nil); got != "<b>o2</b>" {
		t.Errorf("other after an edit keeping size and time: %q", got)
	}
}
