package loader_test

import (
	"bytes"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type link struct {
	URL, Title string
	Active     bool
}

type item struct {
	ID    int
	Name  string
	Slug  string
	Price float64
}

type card struct {
	ID    string
	Name  string
	Color string
	Tags  []string
}

type user struct{ Name string }

// funcs are the functions the test templates call.
func funcs() map[string]interface{} {
	return map[string]interface{}{
		"upper":   strings.ToUpper,
		"join":    strings.Join,
		"year":    func() int { return 2024 },
		"isAdmin": func(name string) bool { return name == "admin" },
	}
}

// pageData exercises escaping in text, attributes, URLs, scripts and styles.
func pageData() map[string]interface{} {
	return map[string]interface{}{
		"Title":       `Tom & "Jerry" <script>alert('x')</script>`,
		"Site":        "Cache<Kit>",
		"Lang":        "en",
		"Description": `a "quoted" description & more`,
		"Slug":        "a b/c?d",
		"Query":       `x=1&y="2" <3>`,
		"Config":      map[string]interface{}{"debug": true, "name": "</script><b>"},
		"Color":       "red; background: url(javascript:alert(1))",
		"Dark":        true,
		"User":        user{Name: "admin"},
		"Links": []link{
			{URL: "/", Title: "Home", Active: true},
			{URL: "javascript:alert(1)", Title: "Bad"},
			{URL: "https://example.com/?a=1&b=<2>", Title: `Ex "ample"`},
		},
		"Items": []item{
			{ID: 1, Name: "cheap <thing>", Slug: "cheap thing", Price: 9.5},
			{ID: 2, Name: `O'Reilly "book"`, Slug: "o'reilly", Price: 120},
		},
		"HTML":     template.HTML("<b>trusted</b>"),
		"Image":    "https://img.example.com/a b.png?x=1&y=<2>",
		"Link":     "javascript:alert(document.cookie)",
		"Featured": card{ID: "f-1", Name: "Featured <one>", Color: "#fff", Tags: []string{"a&b", "<c>"}},
		"Team":     []string{"Ann", "Bob & Co"},
		"Error":    "404 <Not Found>",
	}
}

// writeFiles writes name → content under dir.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		writeFile(t, filepath.Join(dir, name), content)
	}
}

// writeFile writes a file and moves its modification time forward, so that
// an edit within the file system's timestamp granularity is still seen.
func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	var prev time.Time
	if info, err := os.Stat(path); err == nil {
		prev = info.ModTime()
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(path); err == nil && !info.ModTime().After(prev) {
		next := prev.Add(time.Second)
		if err := os.Chtimes(path, next, next); err != nil {
			t.Fatal(err)
		}
	}
}

// renderer is what both engines implement.
type renderer interface {
	Render(out io.Writer, name string, binding interface{}, layout ...string) error
}

func render(t testing.TB, r renderer, name string, data interface{}, layouts ...string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := r.Render(&buf, name, data, layouts...); err != nil {
		t.Fatalf("render %s %v: %v", name, layouts, err)
	}
	return buf.String()
}
