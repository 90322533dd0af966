package fragments_test

import (
	"fmt"
	"html/template"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/fragments"
	"github.com/gofiber/fiber/v2"
)

// spin1ms is work that takes 1 ms.
func spin1ms(name string) string {
	for start := time.Now(); time.Since(start) < time.Millisecond; {
	}
	return name
}

const benchPage = `<html><body><h1>{{.Title}}</h1>
{{cache "nav" 300}}<nav>{{work "nav"}}</nav>{{endcache}}
{{cache "sidebar" 300 .User.ID}}<aside>{{.User.Name}} {{work "sidebar"}}</aside>{{endcache}}
{{cache "footer" "1h"}}<footer>{{work "footer"}}</footer>{{endcache}}
</body></html>`

func benchCache(b *testing.B) *cachekit.Cache {
	c := cachekit.New(cachekit.Config{})
	if err := c.Err(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Storage().(*cachekit.Memory).Close() })
	return c
}

// BenchmarkPage renders a page with three blocks around 1 ms of work each,
// without the blocks (the plain template) and with them, warm.
func BenchmarkPage(b *testing.B) {
	data := page{Title: "Home", User: &user{42, "Ann"}}
	funcs := template.FuncMap{"work": spin1ms}
	b.Run("uncached", func(b *testing.B) {
		none := func(...any) string { return "" }
		tm := template.Must(template.New("p").Funcs(template.FuncMap{"cache": none, "endcache": none, "tags": none}).Funcs(funcs).Parse(benchPage))
		for b.Loop() {
			if err := tm.Execute(io.Discard, data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		c := benchCache(b)
		tm := template.Must(template.New("p").Funcs(fragments.Funcs()).Funcs(funcs).Parse(benchPage))
		if err := fragments.Rewrite(tm, c); err != nil {
			b.Fatal(err)
		}
		if err := tm.Execute(io.Discard, data); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if err := tm.Execute(io.Discard, data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkHitOverhead measures what a hit costs over writing the same
// bytes directly: ten blocks of 1 KiB of HTML, against the same page with
// the HTML written as template text ("direct"), and against the floor of
// any approach through a template function: an action printing the same
// template.HTML from a func ("action"; with vary values, also the same func
// given them, "action-args").
func BenchmarkHitOverhead(b *testing.B) {
	const blocks = 10
	html := strings.Repeat("<p>cached fragment</p>\n", 1024/23)
	for _, tc := range []struct{ name, open string }{
		{"novary", `{{cache "b%d" 300}}`},
		{"vary", `{{cache "b%d" 300 .User.ID .Title}}`},
	} {
		var direct, action, cached strings.Builder
		for i := range blocks {
			direct.WriteString(html)
			action.WriteString(`{{fragment}}`)
			fmt.Fprintf(&cached, tc.open, i)
			cached.WriteString(html)
			cached.WriteString("{{endcache}}")
		}
		data := page{Title: "Home", User: &user{42, "Ann"}}
		run := func(b *testing.B, tm *template.Template) float64 {
			if err := tm.Execute(io.Discard, data); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := tm.Execute(io.Discard, data); err != nil {
					b.Fatal(err)
				}
			}
			return float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		}
		var directNs float64
		b.Run(tc.name+"/direct", func(b *testing.B) {
			directNs = run(b, template.Must(template.New("p").Parse(direct.String())))
		})
		b.Run(tc.name+"/action", func(b *testing.B) {
			h := template.HTML(html)
			tm := template.Must(template.New("p").Funcs(template.FuncMap{"fragment": func() template.HTML { return h }}).Parse(action.String()))
			ns := run(b, tm)
			b.ReportMetric((ns-directNs)/blocks, "ns-added/block")
		})
		if tc.name == "vary" {
			// The floor with the vary values evaluated and passed, as any
			// block must: a typed func of the same two arguments.
			b.Run(tc.name+"/action-args", func(b *testing.B) {
				h := template.HTML(html)
				src := strings.ReplaceAll(action.String(), "{{fragment}}", "{{fragment .User.ID .Title}}")
				tm := template.Must(template.New("p").Funcs(template.FuncMap{"fragment": func(int, string) template.HTML { return h }}).Parse(src))
				ns := run(b, tm)
				b.ReportMetric((ns-directNs)/blocks, "ns-added/block")
			})
		}
		b.Run(tc.name+"/cached", func(b *testing.B) {
			tm := template.Must(template.New("p").Funcs(fragments.Funcs()).Parse(cached.String()))
			if err := fragments.Rewrite(tm, benchCache(b)); err != nil {
				b.Fatal(err)
			}
			ns := run(b, tm)
			b.ReportMetric((ns-directNs)/blocks, "ns-added/block")
		})
	}
}

// BenchmarkRewrite measures Rewrite on a page with a few blocks.
func BenchmarkRewrite(b *testing.B) {
	c := benchCache(b)
	src := strings.Repeat(`<div>{{range $i, $p := .L}}{{cache "x" 60 $p.ID}}<b>{{$p.Name}} {{.Name}} {{$.S}}</b>{{endcache}}{{end}}</div>`+"\n", 5)
	base := template.Must(template.New("p").Funcs(fragments.Funcs()).Parse(src))
	for b.Loop() {
		set := template.New("p").Funcs(fragments.Funcs())
		if _, err := set.AddParseTree("p", base.Tree.Copy()); err != nil {
			b.Fatal(err)
		}
		if err := fragments.Rewrite(set, c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKey measures the key of a block with two vary values, an ID and
// a string: the canonical encoding and its 128-bit hash.
func BenchmarkKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := fragments.Key("card", 42, "Home"); err != nil {
			b.Fatal(err)
		}
	}
}

// countingStore forwards to a real store and counts the reads: a shared
// store (no hot layer without a Bus), as Redis without Local is.
type countingStore struct {
	fiber.Storage
	gets atomic.Int64
}

func (s *countingStore) Get(key string) ([]byte, error) {
	s.gets.Add(1)
	return s.Storage.Get(key)
}

func (s *countingStore) calls() int64 { return s.gets.Load() }

// BenchmarkCollection renders 24 tagged cards in a range, warm, on a shared
// store (a real Memory seen as one: no hot layer, as Redis without Local),
// and reports the store calls per render (each one a round trip on Redis).
// "before" keys the cards with (print .ID), which the range prefetch does
// not compute, so each card reads as it did before it: its entry, then its
// two tags; "prefetch" keys them with .ID. "multiget" gives the store a
// GetMany, as redisbus.Atomic has.
func BenchmarkCollection(b *testing.B) {
	for _, multi := range []bool{false, true} {
		for _, vary := range []string{"(print .ID)", ".ID"} {
			name := map[bool]string{false: "single", true: "multiget"}[multi] + "/" +
				map[string]string{".ID": "prefetch", "(print .ID)": "before"}[vary]
			b.Run(name, func(b *testing.B) {
				m, err := cachekit.NewMemory(cachekit.MemoryConfig{})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { m.Close() })
				ms := &multiStore{Storage: m}
				var store fiber.Storage = &countingStore{Storage: m}
				if multi {
					store = ms
				}
				c := cachekit.New(cachekit.Config{Storage: store})
				if err := c.Err(); err != nil {
					b.Fatal(err)
				}
				src := `{{range .}}{{cache "card" 300 ` + vary + ` (tags (printf "product:%d" .ID))}}<li>{{.Name}}</li>{{endcache}}{{end}}`
				tm := template.Must(template.New("p").Funcs(fragments.Funcs()).Parse(src))
				if err := fragments.Rewrite(tm, c); err != nil {
					b.Fatal(err)
				}
				cards := make([]product, 24)
				for i := range cards {
					cards[i] = product{i + 1, fmt.Sprint("p", i+1)}
				}
				if err := tm.Execute(io.Discard, cards); err != nil {
					b.Fatal(err)
				}
				calls := func() int64 { return store.(interface{ calls() int64 }).calls() }
				start := calls()
				for b.Loop() {
					if err := tm.Execute(io.Discard, cards); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(calls()-start)/float64(b.N), "calls/render")
			})
		}
	}
}
