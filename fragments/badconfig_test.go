package fragments_test

import (
	"html/template"
	"strings"
	"testing"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/fragments"
)

// A Cache whose Config cannot work makes Rewrite fail with the reason,
// instead of every block rendering uncached without a word.
func TestRewriteReportsABadCache(t *testing.T) {
	bad := cachekit.New(cachekit.Config{Prefix: "my site"})
	if bad.Err() == nil {
		t.Fatal("the Config was expected to be bad")
	}
	for _, src := range []string{
		`{{cache "nav" "1m"}}nav{{endcache}}`,
		`no blocks at all`,
	} {
		set := template.Must(template.New("page").Funcs(fragments.Funcs()).Parse(src))
		err := fragments.Rewrite(set, bad)
		if err == nil || !strings.Contains(err.Error(), "Prefix") {
			t.Fatalf("Rewrite(%q) with a bad Cache: %v, want the Config's error", src, err)
		}
	}
}
