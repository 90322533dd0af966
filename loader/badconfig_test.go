package loader_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/loader"
)

// An Engine given a Cache whose Config cannot work fails at Load (and at
// the Render that loads lazily) with the Config's error.
func TestLoadReportsABadCache(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"index.html": `{{cache "nav" "1m"}}nav{{endcache}}`})
	bad := cachekit.New(cachekit.Config{Prefix: "my site"})
	e := loader.New(dir, ".html").Cache(bad)
	if err := e.Load(); err == nil || !strings.Contains(err.Error(), "Prefix") {
		t.Fatalf("Load with a bad Cache: %v, want the Config's error", err)
	}
	e2 := loader.New(dir, ".html").Cache(bad)
	if err := e2.Render(&bytes.Buffer{}, "index", nil); err == nil || !strings.Contains(err.Error(), "Prefix") {
		t.Fatalf("Render with a bad Cache: %v, want the Config's error", err)
	}
	// A good Cache set afterwards loads.
	if err := e.Cache(newCache(t)).Load(); err != nil {
		t.Fatal(err)
	}
}
