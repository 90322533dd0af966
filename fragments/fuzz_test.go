package fragments_test

import (
	"errors"
	"html/template"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/template/parse"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/fragments"
	"github.com/cachekit/cachekit/internal/parsetree"
	"github.com/gofiber/fiber/v2"
)

var fuzzSeeds = []string{
	``,
	`plain text`,
	`<p>{{.S}}</p>`,
	`{{range .L}}<li>{{.Name}}</li>{{else}}none{{end}}`,
	`{{cache "a" 60}}x{{endcache}}`,
	`{{cache "a" 60 .S}}<b>{{.S}}</b>{{endcache}}`,
	`{{$x := .A}}{{range $i, $r := .L}}{{cache "r" 60 $r.ID}}{{$i}} {{$r.Name}} {{.Name}} {{$x}} {{$.S}}{{endcache}}{{end}}`,
	`{{cache "o" 60}}<ul>{{range .L}}{{cache "i" 60 .ID}}<li>{{.Name}}</li>{{endcache}}{{end}}</ul>{{endcache}}`,
	`{{with .P}}{{cache "w" 0}}{{.Name}}{{endcache}}{{end}}`,
	`<a href="{{.S}}">{{cache "a" "5m" (tags "t")}}<i title="{{.S}}">{{.S}}</i>{{endcache}}</a>`,
	`<div class="{{cache "a" 1}}x{{endcache}}">`,
	`{{cache "a" 1}}<script>var s = {{.S}};</script>{{endcache}}`,
	`{{define "p"}}[{{.}}]{{end}}{{cache "a" 1}}{{template "p" .S}}{{endcache}}`,
	`{{if .B}}{{cache "a" 1}}yes{{endcache}}{{else}}{{cache "b" 1}}no{{endcache}}{{end}}`,
	`{{cache "a" 1}}{{.Missing.Deep}}{{endcache}}`,
	`{{cache "a" 1}}{{endcache}}`,
	`{{cache "a" 1}}<!-- c -->{{.S}}<!-- d -->{{endcache}}`,
	`{{endcache}}`,
	`{{cache "a" 1}}`,
	`{{cache}}{{endcache}}`,
	`{{cache "a" .A}}{{.A}}{{endcache}}`,
	`{{range .L}}{{cache "a" 1 .}}{{.Name}}{{endcache}}{{end}}`,
	`<textarea>{{.S}}</textarea>{{cache "t" 1}}<textarea>{{.S}}</textarea>{{endcache}}`,
	`{{cache "a" 1}}{{$y := 1}}{{$y}}{{endcache}}`,
	`{{- cache "a" 1 -}} x {{- endcache -}}`,
	`{{cache "a" 1 .M}}{{range $k, $v := .M}}{{$k}}={{$v}};{{end}}{{endcache}}`,
	`{{range $k, $v := .M}}{{cache "m" 60 $k $.A}}{{$k}}={{$v}};{{endcache}}{{end}}`,
	`{{range $r := .L}}{{range $.L}}{{cache "n" 60 $r.ID .ID "c" 7 true}}{{$r.Name}}{{.Name}}{{endcache}}{{cache "s" 60}}s{{endcache}}{{end}}{{end}}`,
	`{{range .N}}{{cache "x" 60 .}}{{.}}{{endcache}}{{else}}empty{{end}}`,
	`{{range .L}}{{if .ID}}{{cache "i" 60 .ID}}{{.Name}}{{endcache}}{{end}}{{with .Name}}{{cache "w" 60 .}}{{.}}{{endcache}}{{end}}{{end}}{{cache "after" 60 .A}}{{.A}}{{endcache}}`,
}

// sharedView is a Memory the Cache does not see as one: a shared store.
type sharedView struct{ fiber.Storage }

var (
	fuzzStoreOnce sync.Once
	fuzzStore     *cachekit.Memory
	fuzzPrefix    atomic.Int64
)

func fuzzData() map[string]any {
	return map[string]any{
		"A": 3,
		"B": true,
		"S": `<script>alert("x")</script>&'"`,
		"L": []row{{1, "a<b"}, {2, "c&d"}},
		"P": &user{5, "Eve"},
		"M": map[string]int{"x": 1, "y": 2},
		"N": nil,
	}
}

// FuzzRewrite checks that Rewrite never panics, that a template without
// blocks renders exactly as before, and that a rewritten template renders
// what the same template renders with the block markers printing nothing.
func FuzzRewrite(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	fuzzStoreOnce.Do(func() {
		m, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 8 << 20})
		if err != nil {
			f.Fatal(err)
		}
		fuzzStore = m
	})
	f.Fuzz(func(t *testing.T, src string) {
		if len(src) > 4096 {
			return
		}
		none := func(...any) string { return "" }
		ref, err := template.New("f").Funcs(template.FuncMap{"cache": none, "endcache": none, "tags": none}).Parse(src)
		if err != nil {
			return
		}
		if slowToRun(ref) {
			return
		}
		tm, err := template.New("f").Funcs(fragments.Funcs()).Parse(src)
		if err != nil {
			t.Fatalf("parses with stand-ins but not with Funcs: %v", err)
		}
		blocks := false
		for _, x := range tm.Templates() {
			if x.Tree != nil && strings.Contains(x.Tree.Root.String(), "cache") {
				blocks = true
			}
		}
		// A cache that stores nothing renders every block every time:
		// the output must be the reference's, byte for byte.
		rerr := fragments.Rewrite(tm, cachekit.New(cachekit.Config{Storage: cachekit.NewDummy()}))
		if rerr != nil {
			if strings.Contains(rerr.Error(), "internal error") {
				t.Fatalf("Rewrite: %v", rerr)
			}
			if !blocks {
				t.Fatalf("Rewrite of a template without blocks failed: %v", rerr)
			}
			return
		}
		data := fuzzData()
		var want, got strings.Builder
		werr := ref.Execute(&want, data)
		gerr := tm.Execute(&got, data)
		if !blocks {
			if (werr == nil) != (gerr == nil) || want.String() != got.String() {
				t.Fatalf("no blocks, yet output differs:\n got %q, %v\nwant %q, %v", got.String(), gerr, want.String(), werr)
			}
			return
		}
		if werr != nil {
			return // html/template itself refuses it, or the data does not fit
		}
		if gerr != nil {
			var fe *fragments.Error
			if errors.As(gerr, &fe) && !strings.Contains(gerr.Error(), "internal error") {
				return // a dynamic ttl or vary value the block refuses
			}
			t.Fatalf("rewritten template fails where the original renders %q: %v", want.String(), gerr)
		}
		if got.String() != want.String() {
			t.Fatalf("output differs:\n got %q\nwant %q", got.String(), want.String())
		}

		// With a real cache, a warm render repeats the cold one.
		tm2, err := template.New("f").Funcs(fragments.Funcs()).Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		c := cachekit.New(cachekit.Config{Storage: fuzzStore, Prefix: "f" + strconv.FormatInt(fuzzPrefix.Add(1), 10)})
		if err := fragments.Rewrite(tm2, c); err != nil {
			t.Fatalf("Rewrite succeeded once, then: %v", err)
		}
		var cold, warm strings.Builder
		if err := tm2.Execute(&cold, data); err != nil {
			t.Fatalf("cold: %v", err)
		}
		if err := tm2.Execute(&warm, data); err != nil || warm.String() != cold.String() {
			t.Fatalf("warm:\n got %q, %v\nwant %q", warm.String(), err, cold.String())
		}

		// The same store seen as a shared one: ranges of blocks are
		// prefetched; cold and warm renders are the embedded store's.
		tm3, err := template.New("f").Funcs(fragments.Funcs()).Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		sc := cachekit.New(cachekit.Config{Storage: sharedView{fuzzStore}, Prefix: "s" + strconv.FormatInt(fuzzPrefix.Add(1), 10)})
		if err := fragments.Rewrite(tm3, sc); err != nil {
			t.Fatalf("Rewrite on a shared store: %v", err)
		}
		for _, pass := range []string{"cold", "warm"} {
			var out strings.Builder
			if err := tm3.Execute(&out, data); err != nil || out.String() != cold.String() {
				t.Fatalf("shared store, %s:\n got %q, %v\nwant %q", pass, out.String(), err, cold.String())
			}
		}
	})
}

// slowToRun reports templates that could run for long: a range over a
// number, or a template calling itself.
func slowToRun(set *template.Template) bool {
	calls := map[string][]string{}
	slow := false
	for _, t := range set.Templates() {
		if t.Tree == nil {
			continue
		}
		calls[t.Name()] = parsetree.Calls(t.Tree.Root)
		parsetree.Inspect(t.Tree.Root, func(n parse.Node) bool {
			if r, ok := n.(*parse.RangeNode); ok {
				for _, c := range r.Pipe.Cmds {
					for _, a := range c.Args {
						if _, ok := a.(*parse.NumberNode); ok {
							slow = true
						}
					}
				}
			}
			return !slow
		})
	}
	var visit func(name string, path map[string]bool) bool
	visit = func(name string, path map[string]bool) bool {
		if path[name] {
			return true
		}
		path[name] = true
		defer delete(path, name)
		for _, c := range calls[name] {
			if visit(c, path) {
				return true
			}
		}
		return false
	}
	for name := range calls {
		if visit(name, map[string]bool{}) {
			return true
		}
	}
	return slow
}
