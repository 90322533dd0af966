package fragments

import (
	"html/template"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
)

type r4Order int

func (o r4Order) String() string { return "order#" + string(rune('0'+int(o))) }

type r4User int

func (u r4User) String() string { return "user#" + string(rune('0'+int(u))) }

type r4Code string

func (c r4Code) String() string { return "code:" + strings.ToUpper(string(c)) }

// TestVaryValuesTemplatesTellApart: vary values a template prints
// differently (a named integer or string whose String method it calls)
// never share a fragment with a plain value or another type's, equal as
// they are as numbers or strings; nor do two maps whose interface keys are
// equal numbers of different types.
func TestVaryValuesTemplatesTellApart(t *testing.T) {
	m, err := cachekit.NewMemory(cachekit.MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	c := cachekit.New(cachekit.Config{Storage: m})
	tm := template.Must(template.New("x").Funcs(Funcs()).Parse(`{{cache "v" 300 .}}<p>{{.}}</p>{{endcache}}`))
	if err := Rewrite(tm, c); err != nil {
		t.Fatal(err)
	}
	groups := [][]any{
		{r4Order(3), r4User(3), 3, int64(3)},
		{r4Code("ab"), "ab"},
		{map[any]string{1: "a", int64(1): "b"}, map[any]string{1: "b", int64(1): "a"}},
	}
	// The block and Key agree on such a value's key (Invalidate finds it),
	// through a pointer too, on both encodings (the stack one and the
	// general one).
	o := r4Order(3)
	for _, v := range []any{o, &o, r4Code("ab"), []any{o}} {
		var b strings.Builder
		if err := tm.Execute(&b, v); err != nil {
			t.Fatal(err)
		}
		k, err := Key("v", v)
		if err != nil {
			t.Fatal(err)
		}
		if r, err := c.Peek(k); err != nil || r.Status != cachekit.Hit {
			t.Errorf("%T: Key %s is not the block's (%v, %v)", v, k, r.Status, err)
		}
		if k2, _ := Key("v", 3); k2 == k {
			t.Errorf("%T: keyed as the plain 3", v)
		}
		vals := []reflect.Value{reflect.ValueOf(v)}
		if simple, ok := appendSimpleEnc(nil, vals); ok {
			if general, _ := appendValue([]byte{encVersion}, vals[0], 0); string(simple) != string(general) {
				t.Errorf("%T: stack encoding %x, general %x", v, simple, general)
			}
		}
	}
	for round := range 3 {
		for _, g := range groups {
			for _, v := range g {
				var plain strings.Builder
				if err := template.Must(template.New("p").Parse(`<p>{{.}}</p>`)).Execute(&plain, v); err != nil {
					t.Fatal(err)
				}
				var b strings.Builder
				if err := tm.Execute(&b, v); err != nil {
					t.Fatal(err)
				}
				if b.String() != plain.String() {
					t.Errorf("round %d, %T %v: cached %q, rendered %q", round, v, v, b.String(), plain.String())
				}
			}
		}
	}
}

// TestCollidingNestedBlocksKeepTags: nested blocks whose keys all collide
// (rewrite's collide hook) each render their own values, and an outer
// fragment stored after it replaced another user's (a miss, a delete, a
// render whose inner block replaced another user's too) carries its inner
// block's tag: invalidating it shows the new data, never the old nor the
// other user's.
func TestCollidingNestedBlocksKeepTags(t *testing.T) {
	m, err := cachekit.NewMemory(cachekit.MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	c := cachekit.New(cachekit.Config{Storage: m})
	const src = `{{define "page"}}{{cache "outer" 300 .ID}}[{{.Name}}:` +
		`{{cache "inner" .TTL .ID (tags .Tag)}}({{index .Ver .ID}}){{endcache}}]{{endcache}}{{end}}`
	tm := template.Must(template.New("x").Funcs(Funcs()).Parse(src))
	if err := rewrite(tm, c, true); err != nil {
		t.Fatal(err)
	}
	ver := map[int]int{1: 1, 2: 1, 3: 1}
	type user struct {
		ID        int
		Name, Tag string
		TTL       any
		Ver       map[int]int
	}
	page := func(id int) string {
		var b strings.Builder
		u := user{id, "u" + strconv.Itoa(id), "user:" + strconv.Itoa(id), []any{"5m", 300, time.Hour}[id%3], ver}
		if err := tm.ExecuteTemplate(&b, "page", u); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	want := func(id int) string { return "[u" + strconv.Itoa(id) + ":(" + strconv.Itoa(ver[id]) + ")]" }
	for step, id := range []int{1, 2, 1, 1, 3, 2, 2, 1} {
		if got := page(id); got != want(id) {
			t.Fatalf("step %d, user %d: %q, want %q", step, id, got, want(id))
		}
		if step%3 == 2 { // the last user's data changes, its tag invalidated
			ver[id]++
			if err := c.InvalidateTags("user:" + strconv.Itoa(id)); err != nil {
				t.Fatal(err)
			}
			if got := page(id); got != want(id) {
				t.Fatalf("step %d, user %d after its tag: %q, want %q", step, id, got, want(id))
			}
		}
	}
}
