package fragments_test

import (
	"strings"
	"testing"

	"github.com/cachekit/cachekit/fragments"
)

func TestInvalidate(t *testing.T) {
	c := newCache(t)
	w := newCounters()
	tm := load(t, c, w.funcs(), "sidebar.html")
	ann := page{User: &user{1, "Ann"}}
	bob := page{User: &user{2, "Bob"}}
	render(t, tm, "sidebar.html", ann) // 1
	render(t, tm, "sidebar.html", bob) // 2

	// One variant: the vary value as Go passes it, any integer type.
	if err := fragments.Invalidate(c, "sidebar", int64(1)); err != nil {
		t.Fatal(err)
	}
	if got := render(t, tm, "sidebar.html", ann); !strings.Contains(got, "Ann render 3") {
		t.Fatalf("invalidated variant not re-rendered: %q", got)
	}
	if got := render(t, tm, "sidebar.html", bob); !strings.Contains(got, "Bob render 2") {
		t.Fatalf("other variant lost: %q", got)
	}

	// All variants.
	if err := fragments.Invalidate(c, "sidebar"); err != nil {
		t.Fatal(err)
	}
	if got := render(t, tm, "sidebar.html", ann); !strings.Contains(got, "Ann render 4") {
		t.Fatal(got)
	}
	if got := render(t, tm, "sidebar.html", bob); !strings.Contains(got, "Bob render 5") {
		t.Fatal(got)
	}
	// Key and BlockTag say where it lives.
	key, err := fragments.Key("sidebar", 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.Get(key); !ok {
		t.Fatalf("no entry under %s", key)
	}
	if err := c.InvalidateTags(fragments.BlockTag("sidebar")); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.Get(key); ok {
		t.Fatal("entry survived its name tag")
	}
	if err := fragments.Invalidate(c, "sidebar", func() {}); err == nil {
		t.Fatal("Invalidate with a func vary value: no error")
	}
}

func TestNotRewritten(t *testing.T) {
	tm := parseFiles(t, newCounters().funcs(), "sidebar.html")
	var sb strings.Builder
	err := tm.Execute(&sb, page{User: &user{1, "a"}})
	if err == nil || !strings.Contains(err.Error(), "fragments.Rewrite") {
		t.Fatalf("error %v", err)
	}
}
