package fragments_test

import (
	"context"
	"fmt"
	"html/template"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/fragments"
	"github.com/gofiber/fiber/v2"
)

// multiStore forwards to a real store and counts its calls: a Get or a
// GetMany is one round trip, as on Redis through redisbus.Atomic. Its
// GetMany reads the keys of the store underneath one by one, in one call.
type multiStore struct {
	fiber.Storage
	gets, multi atomic.Int64
}

func (s *multiStore) Get(key string) ([]byte, error) {
	s.gets.Add(1)
	return s.Storage.Get(key)
}

// GetMany reads keys in one call.
func (s *multiStore) GetMany(keys []string) ([][]byte, error) {
	s.multi.Add(1)
	out := make([][]byte, len(keys))
	for i, k := range keys {
		b, err := s.Storage.Get(k)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (s *multiStore) trips() int64 { return s.gets.Load() + s.multi.Load() }

func (s *multiStore) calls() int64 { return s.trips() }

// sharedCache is a Cache on a real Memory seen as a shared store (no hot
// layer, as Redis without Local), counted.
func sharedCache(t testing.TB) (*cachekit.Cache, *multiStore) {
	t.Helper()
	m, err := cachekit.NewMemory(cachekit.MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	s := &multiStore{Storage: m}
	// A store seen as shared gets the guard's Timeout: the default 100 ms
	// is within a loaded machine's scheduling delays, and a call given up
	// on is a miss (a render more, round trips more). These tests count
	// renders and round trips, not time.
	c := cachekit.New(cachekit.Config{Storage: s, Timeout: 10 * time.Second})
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
	return c, s
}

// pair parses src twice: rewritten into c, and with the block actions
// printing nothing (the page without the blocks).
func pair(t testing.TB, c *cachekit.Cache, funcs template.FuncMap, src string) (cached, plain *template.Template) {
	t.Helper()
	cached = template.Must(template.New("p").Funcs(fragments.Funcs()).Funcs(funcs).Parse(src))
	if err := fragments.Rewrite(cached, c); err != nil {
		t.Fatal(err)
	}
	none := func(...any) string { return "" }
	plain = template.Must(template.New("p").Funcs(template.FuncMap{"cache": none, "endcache": none, "tags": none}).Funcs(funcs).Parse(src))
	return cached, plain
}

func exec(t testing.TB, tm *template.Template, data any) string {
	t.Helper()
	var sb strings.Builder
	if err := tm.Execute(&sb, data); err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

func cards(n int) []product {
	out := make([]product, n)
	for i := range out {
		out[i] = product{i + 1, fmt.Sprint("p", i+1)}
	}
	return out
}

const cardsSrc = `<ul>{{range .}}{{cache "card" 300 .ID (tags (printf "product:%d" .ID))}}<li>{{.Name}} {{work (printf "card%d" .ID)}}</li>{{endcache}}{{else}}none{{end}}</ul>`

func TestCollectionRoundTrips(t *testing.T) {
	c, s := sharedCache(t)
	n := newCounters()
	tm, plain := pair(t, c, n.funcs(), cardsSrc)
	data := cards(24)
	first := exec(t, tm, data)
	before := s.trips()
	warm := exec(t, tm, data)
	if got := s.trips() - before; got > 2 {
		t.Errorf("warm render of 24 cards: %d round trips, want at most 2", got)
	}
	if warm != first {
		t.Errorf("warm render differs:\n%s\n%s", warm, first)
	}
	// The page without blocks, rendered with the same counters: each card
	// has been rendered once, so it shows 2 where the cached one shows 1.
	if want := strings.ReplaceAll(exec(t, plain, data), " 2</li>", " 1</li>"); warm != want {
		t.Errorf("cached render\n%s\nwant\n%s", warm, want)
	}
	for i := 1; i <= 24; i++ {
		if got := n.get(fmt.Sprint("card", i)); got != 2 { // one cached, one plain
			t.Fatalf("card %d rendered %d times, want 2", i, got)
		}
	}
	// One card's tag: exactly that card renders again.
	if err := c.InvalidateTags("product:7"); err != nil {
		t.Fatal(err)
	}
	data[6].Name = "new7"
	before = s.trips()
	again := exec(t, tm, data)
	// The prefetch (2), then card 7 alone: its entry (1); its tags and its
	// fill's generations come from the render's memo (the prefetch read
	// product:7's new generation), where they cost 2 more reads before
	// the memo; the cards after it still come from the prefetch (a fill
	// does not void it). (Writes are not counted here.)
	if got := s.trips() - before; got != 3 {
		t.Errorf("render with one card invalidated: %d reads, want 3", got)
	}
	if !strings.Contains(again, "<li>new7 3</li>") || strings.Count(again, "<li>") != 24 {
		t.Errorf("after invalidating product:7:\n%s", again)
	}
	for i := 1; i <= 24; i++ {
		want := 2
		if i == 7 {
			want = 3
		}
		if got := n.get(fmt.Sprint("card", i)); got != want {
			t.Errorf("card %d rendered %d times, want %d", i, got, want)
		}
	}
	// Empty: the else branch, no read.
	before = s.trips()
	if got := exec(t, tm, []product{}); got != "<ul>none</ul>" {
		t.Errorf("empty range: %q", got)
	}
	if got := s.trips() - before; got != 0 {
		t.Errorf("empty range: %d round trips", got)
	}
	if got := exec(t, tm, nil); got != "<ul>none</ul>" {
		t.Errorf("nil range: %q", got)
	}
}

// Without a multi-get the entries and the tags are read one by one, each
// tag once per render however many cards carry it.
func TestCollectionWithoutMultiGet(t *testing.T) {
	_, s := sharedCache(t)
	plainStore := &countingStore{Storage: s.Storage}
	c := cachekit.New(cachekit.Config{Storage: plainStore, Timeout: 10 * time.Second}) // counts gets, not time: see sharedCache
	tm, _ := pair(t, c, newCounters().funcs(), cardsSrc)
	data := cards(24)
	exec(t, tm, data)
	before := plainStore.gets.Load()
	exec(t, tm, data)
	if got := plainStore.gets.Load() - before; got != 24+25 {
		t.Errorf("warm render: %d gets, want %d (24 entries, 25 tags)", got, 24+25)
	}
}

func TestCollectionMapNestedOuter(t *testing.T) {
	c, s := sharedCache(t)
	n := newCounters()
	src := `{{$u := .User}}{{range $k, $v := .Rows}}{{cache "row" 300 $k $u.ID $.User.ID}}[{{$k}}={{$v.Name}} {{work (printf "row%s" $k)}}]{{endcache}}{{end}}` +
		`{{range $g := .Groups}}<{{$g.Title}}>{{range .Items}}{{cache "item" 300 $g.Title .ID}}({{.Name}}){{endcache}}{{cache "static" 300}}s{{endcache}}{{end}}{{end}}`
	tm, plain := pair(t, c, n.funcs(), src)
	type group struct {
		Title string
		Items []product
	}
	data := map[string]any{
		"User":   &user{ID: 9},
		"Rows":   map[string]product{"a": {1, "x"}, "b": {2, "y"}, "c": {3, "z"}},
		"Groups": []group{{"g1", cards(3)}, {"g2", cards(5)}},
	}
	first := exec(t, tm, data)
	before := s.trips()
	warm := exec(t, tm, data)
	// rows: 2; the first group: 2; the second: 1, its entries (its
	// blocks' tags are the first group's, kept in the render's memo).
	if got := s.trips() - before; got != 5 {
		t.Errorf("warm render: %d round trips, want 5", got)
	}
	if warm != first {
		t.Errorf("warm render differs:\n%s\n%s", warm, first)
	}
	if want := strings.ReplaceAll(exec(t, plain, data), " 2]", " 1]"); warm != want {
		t.Errorf("cached render\n%s\nwant\n%s", warm, want)
	}
	// The user is part of the rows' keys.
	data["User"] = &user{ID: 10}
	exec(t, tm, data)
	for _, k := range []string{"a", "b", "c"} {
		if got := n.get("row" + k); got != 3 { // cached, plain, new user
			t.Errorf("row %s rendered %d times, want 3", k, got)
		}
	}
}

// An invalidation made while the range renders, after the prefetch read a
// card and before the card is used: the card renders anew.
func TestCollectionInvalidatedMidRender(t *testing.T) {
	c, _ := sharedCache(t)
	n := newCounters()
	funcs := n.funcs()
	funcs["invalidate"] = func(tag string) string {
		if err := c.InvalidateTags(tag); err != nil {
			t.Error(err)
		}
		return ""
	}
	src := `{{range .}}{{if eq .ID 3}}{{invalidate "product:20"}}{{end}}{{cache "card" 300 .ID (tags (printf "product:%d" .ID))}}<li>{{.Name}}</li>{{endcache}}{{end}}`
	tm, _ := pair(t, c, funcs, src)
	data := cards(24)
	exec(t, tm, data)
	data[19].Name = "new20"
	if got := exec(t, tm, data); !strings.Contains(got, "<li>new20</li>") {
		t.Errorf("card 20 was invalidated before its use, and served from the prefetch:\n%s", got)
	}
}

// The cards' tags reach the fill around the range: a block around it, and
// a page whose context is bound.
func TestCollectionDependencies(t *testing.T) {
	c, s := sharedCache(t)
	src := `{{cache "list" 300}}{{range .Cards}}{{cache "card" 300 .ID (tags (printf "product:%d" .ID))}}<li>{{.Name}}</li>{{endcache}}{{end}}{{endcache}}` +
		`|{{range .Cards}}{{cache "card2" 300 .ID (tags (printf "product:%d" .ID))}}<li>{{.Name}}</li>{{endcache}}{{end}}`
	tm, _ := pair(t, c, nil, src)
	data := map[string]any{"Cards": cards(24)}
	pageFill := func() string {
		r, err := c.LoadContext(context.Background(), "page", cachekit.Policy{TTL: 300e9}, func(p *cachekit.Policy) ([]byte, error) {
			d := map[string]any{"Cards": data["Cards"], cachekit.BindKey: p.Context()}
			return []byte(exec(t, tm, d)), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return string(r.Value)
	}
	pageFill()
	// The page's first render filled the cards; the page and the list
	// again, with the cards warm: their tags reach both through the
	// prefetch only.
	if err := c.Delete("page"); err != nil {
		t.Fatal(err)
	}
	if err := c.InvalidateTags(fragments.BlockTag("list")); err != nil {
		t.Fatal(err)
	}
	before := s.trips()
	pageFill()
	if trips := s.trips() - before; trips > 8 {
		t.Errorf("warm page: %d round trips", trips)
	}
	cs := data["Cards"].([]product)
	cs[4].Name = "new5"
	if err := c.InvalidateTags("product:5"); err != nil {
		t.Fatal(err)
	}
	got := pageFill()
	if strings.Count(got, "<li>new5</li>") != 2 {
		t.Errorf("after invalidating product:5, the page:\n%s", got)
	}
}

// A range over an array held in place: its elements stay addressable, so
// pointer-receiver methods work in the body as they do without the blocks.
func TestCollectionArrayAddressable(t *testing.T) {
	c, _ := sharedCache(t)
	src := `{{range .Rows}}{{cache "arow" 300 .ID}}{{.Label}};{{endcache}}{{end}}`
	tm, plain := pair(t, c, nil, src)
	data := &struct{ Rows [3]row }{Rows: [3]row{{1, "a"}, {2, "b"}, {3, "c"}}}
	want := exec(t, plain, data)
	if got := exec(t, tm, data); got != want || want != "label-a;label-b;label-c;" {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := exec(t, tm, data); got != want {
		t.Errorf("warm: got %q, want %q", got, want)
	}
}

// On the embedded Memory a read costs no round trip: ranges are left as
// they are. On a shared store the range of cards is prefetched.
func TestCollectionOnlyOnSharedStores(t *testing.T) {
	shared, _ := sharedCache(t)
	for _, tc := range []struct {
		c    *cachekit.Cache
		want bool
	}{{newCache(t), false}, {shared, true}} {
		tm, _ := pair(t, tc.c, newCounters().funcs(), cardsSrc)
		var all strings.Builder
		for _, x := range tm.Templates() {
			if x.Tree != nil {
				all.WriteString(x.Tree.Root.String())
			}
		}
		if got := strings.Contains(all.String(), "__cachekit_pf_"); got != tc.want {
			t.Errorf("Remote %v: prefetch in the rewritten set: %v\n%s", tc.c.Remote(), got, all.String())
		}
	}
}
