package fibercache

import (
	"bufio"
	"bytes"
	"fmt"
	"html/template"
	"io"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// The benchmark page: about 2.5 KB of HTML from a small html/template.
var benchTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<link rel="stylesheet" href="/static/site.css"></head>
<body><header><nav>{{range .Nav}}<a href="{{.}}">{{.}}</a> {{end}}</nav></header>
<main><h1>{{.Title}}</h1>
{{range .Posts}}<article><h2><a href="/post/{{.ID}}">{{.Title}}</a></h2>
<p class="meta">by {{.Author}} on {{.Date}}</p><p>{{.Summary}}</p></article>
{{end}}</main><footer><p>&copy; cachekit example site</p></footer></body></html>
`))

type benchPost struct {
	ID                           int
	Title, Author, Date, Summary string
}

var benchData = func() any {
	var posts []benchPost
	for i := 1; i <= 10; i++ {
		posts = append(posts, benchPost{i, fmt.Sprintf("Post number %d about caching", i), "Ada",
			"2026-01-02", "A short summary of the post, long enough to look like a real one on a blog index page."})
	}
	return map[string]any{"Title": "Blog", "Nav": []string{"/", "/blog", "/about", "/contact"}, "Posts": posts}
}()

var benchPage = func() []byte {
	var b bytes.Buffer
	if err := benchTmpl.Execute(&b, benchData); err != nil {
		panic(err)
	}
	return b.Bytes()
}()

func renderPage(c *fiber.Ctx) error {
	c.Type("html")
	return benchTmpl.Execute(c.Response().BodyWriter(), benchData)
}

// benchVariant is one way to answer the benchmark page.
type benchVariant struct {
	name  string
	setup func(tb testing.TB) *fiber.App
}

// benchVariants run in this order; the first is the reference.
var benchVariants = []benchVariant{
	{"prebuilt-bytes", func(testing.TB) *fiber.App {
		app := fiber.New()
		app.Get("/blog", func(c *fiber.Ctx) error { c.Type("html"); return c.Send(benchPage) })
		return app
	}},
	{"prebuilt-same-response", sameResponseApp},
	{"fibercache-hit", func(tb testing.TB) *fiber.App {
		app := fiber.New()
		app.Use(New(Config{Cache: newCache(tb), TTL: time.Hour}))
		app.Get("/blog", renderPage)
		return app
	}},
	{"uncached-render", func(testing.TB) *fiber.App {
		app := fiber.New()
		app.Get("/blog", renderPage)
		return app
	}},
}

// The control for a fibercache hit's response: the headers a hit sends
// (sameResponseLines, with the values of a hit of the benchmark's page,
// constants here; TestSameResponseMatchesHit checks them against a real
// hit), set with fasthttp's cheapest calls, and the body copied with
// SetBody, as a hit must copy it (TestHitBodyNotWritable). Its cost over
// prebuilt-bytes is the floor of answering with those headers.
var (
	sameResponseType  = []byte("text/html")
	sameResponseLines = [][2][]byte{
		{[]byte("Last-Modified"), []byte("Tue, 01 Dec 2026 15:21:29 GMT")},
		{[]byte("ETag"), []byte(`W/"klMPFRGJhZqqjvfHpS0IIlAS"`)},
		{[]byte("Age"), []byte("0")},
		{[]byte("X-Cache"), []byte("HIT")},
		{[]byte("Cache-Status"), []byte("cachekit; hit; ttl=3600")},
	}
)

func sameResponseApp(testing.TB) *fiber.App {
	app := fiber.New()
	app.Get("/blog", func(c *fiber.Ctx) error {
		resp := c.Response()
		h := &resp.Header
		h.SetContentTypeBytes(sameResponseType)
		for _, l := range sameResponseLines {
			h.SetCanonical(l[0], l[1])
		}
		resp.SetBody(benchPage)
		return nil
	})
	return app
}

const benchRequest = "GET /blog?page=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Mozilla/5.0 (bench)\r\n" +
	"Accept: text/html\r\nAccept-Language: en-US,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\n" +
	"Cookie: _ga=GA1.1.123.456\r\n\r\n"

// benchBrowserRequest is a request as a browser sends it: a query string,
// the ten usual headers, and three analytics and consent cookies (all
// harmless by default, so the page is shared).
const benchBrowserRequest = "GET /blog?page=2&utm_source=news HTTP/1.1\r\n" +
	"Host: example.com\r\n" +
	"Connection: keep-alive\r\n" +
	"Cache-Control: max-age=0\r\n" +
	"Upgrade-Insecure-Requests: 1\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n" +
	"Sec-Fetch-Site: same-origin\r\n" +
	"Sec-Fetch-Mode: navigate\r\n" +
	"Referer: https://example.com/blog\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Accept-Language: en-US,en;q=0.9,de;q=0.8\r\n" +
	"Cookie: _ga=GA1.1.1234567890.1700000000; _gid=GA1.1.987654321.1700000000; cookieconsent_status=dismiss\r\n\r\n"

// serveLoop answers the request b.N times over goroutines the way
// fasthttp's server does for each request on a connection, minus the
// socket: parse the request bytes, run the app's handler, write the
// response (to io.Discard). wire false runs the handler only.
func serveLoop(b *testing.B, app *fiber.App, wire bool) { serveLoopReq(b, app, wire, benchRequest) }

// serveLoopReq is serveLoop with the request request.
func serveLoopReq(b *testing.B, app *fiber.App, wire bool, request string) {
	h := app.Handler()
	warmAnswer(b, h, request)
	raw := []byte(request)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchPage)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		ctx.Init(&fasthttp.Request{}, nil, nil)
		rd := bytes.NewReader(raw)
		br := bufio.NewReader(rd)
		bw := bufio.NewWriter(io.Discard)
		if !wire {
			if err := ctx.Request.Read(br); err != nil {
				panic(err)
			}
		}
		for pb.Next() {
			ctx.Response.Reset()
			ctx.ResetUserValues()
			if wire {
				rd.Reset(raw)
				br.Reset(rd)
				ctx.Request.Reset()
				if err := ctx.Request.Read(br); err != nil {
					panic(err)
				}
			}
			h(&ctx)
			if wire {
				if err := ctx.Response.Write(bw); err != nil {
					panic(err)
				}
				_ = bw.Flush()
			}
		}
	})
}

// warmAnswer answers request with h three times (the first stores the
// page), checks the last answer is the page (a hit, where X-Cache says)
// and returns that response.
func warmAnswer(tb testing.TB, h fasthttp.RequestHandler, request string) *fasthttp.Response {
	var ctx fasthttp.RequestCtx
	ctx.Init(&fasthttp.Request{}, nil, nil)
	for i := 0; i < 3; i++ {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.ResetUserValues()
		if err := ctx.Request.Read(bufio.NewReader(strings.NewReader(request))); err != nil {
			tb.Fatal(err)
		}
		h(&ctx)
	}
	if ctx.Response.StatusCode() != 200 || !bytes.Equal(ctx.Response.Body(), benchPage) {
		tb.Fatalf("wrong answer: %d %q", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if x := ctx.Response.Header.Peek("X-Cache"); len(x) > 0 && !strings.EqualFold(string(x), "HIT") {
		tb.Fatalf("not a hit: %s %s", x, ctx.Response.Header.Peek("Cache-Status"))
	}
	resp := new(fasthttp.Response)
	ctx.Response.CopyTo(resp)
	return resp
}

// TestSameResponseMatchesHit: the control prebuilt-same-response sends what
// a fibercache hit of the benchmark's page sends, byte for byte, but for
// the values that tell the time (Date, Last-Modified: both HTTP dates) and
// age (Age, Cache-Status's ttl: both numbers), for both benchmark requests.
func TestSameResponseMatchesHit(t *testing.T) {
	masks := []*regexp.Regexp{
		regexp.MustCompile(`(?m)^((?:Date|Last-Modified): )[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT\r$`),
		regexp.MustCompile(`(?m)^(Age: )\d+\r$`),
		regexp.MustCompile(`(?m)^(Cache-Status: cachekit; hit; ttl=)\d+\r$`),
	}
	wire := func(resp *fasthttp.Response) string {
		var b bytes.Buffer
		w := bufio.NewWriter(&b)
		if err := resp.Write(w); err != nil {
			t.Fatal(err)
		}
		_ = w.Flush()
		s := b.String()
		for i, re := range masks {
			if !re.MatchString(s) {
				t.Fatalf("mask %d matches nothing in\n%s", i, s)
			}
			s = re.ReplaceAllString(s, "${1}(masked)\r")
		}
		return s
	}
	hitApp := New(Config{Cache: newCache(t), TTL: time.Hour})
	for _, request := range []string{benchRequest, benchBrowserRequest} {
		app := fiber.New()
		app.Use(hitApp)
		app.Get("/blog", renderPage)
		hit := wire(warmAnswer(t, app.Handler(), request))
		same := wire(warmAnswer(t, sameResponseApp(t).Handler(), request))
		if hit != same {
			t.Errorf("prebuilt-same-response differs from a hit:\n%s\n---\n%s", same, hit)
		}
	}
}

// BenchmarkPage: the ~2.5 KB page answered by each variant, with the
// request parsed and the response written (wire) or the handler alone.
// fiber's middleware/cache joins from peer_test.go.
func BenchmarkPage(b *testing.B) {
	for _, mode := range []string{"wire", "handler"} {
		for _, v := range benchVariants {
			b.Run(mode+"/"+v.name, func(b *testing.B) {
				serveLoop(b, v.setup(b), mode == "wire")
			})
		}
	}
}

// BenchmarkPageBrowser is BenchmarkPage with a request as a browser sends
// it (benchBrowserRequest): more headers, a longer query, three cookies.
func BenchmarkPageBrowser(b *testing.B) {
	for _, mode := range []string{"wire", "handler"} {
		for _, v := range benchVariants {
			b.Run(mode+"/"+v.name, func(b *testing.B) {
				serveLoopReq(b, v.setup(b), mode == "wire", benchBrowserRequest)
			})
		}
	}
}

// BenchmarkPageCacheControl: a fibercache hit of the page with
// Config.CacheControl (Cache-Control and Expires sent downstream), the
// browser's request, parsed and written.
func BenchmarkPageCacheControl(b *testing.B) {
	app := fiber.New()
	app.Use(New(Config{Cache: newCache(b), TTL: time.Hour, CacheControl: true}))
	app.Get("/blog", renderPage)
	serveLoopReq(b, app, true, benchBrowserRequest)
}

// BenchmarkColdStampede: 500 concurrent requests for a cold page behind
// fibercache; reports how many times the handler ran per stampede.
func BenchmarkColdStampede(b *testing.B) {
	var total int64
	for i := 0; i < b.N; i++ {
		total += stampede(b, 500, New(Config{Cache: newCache(b)}))
	}
	b.ReportMetric(float64(total)/float64(b.N), "renders/500req")
}

// TestPageBenchReport runs the page benchmarks interleaved, several
// rounds, and prints the medians and their ratios to prebuilt bytes:
//
//	FIBERCACHE_BENCH=1 go test -run PageBenchReport -v ./fibercache/
func TestPageBenchReport(t *testing.T) {
	if os.Getenv("FIBERCACHE_BENCH") == "" {
		t.Skip("set FIBERCACHE_BENCH=1")
	}
	rounds := 5
	for _, mode := range []string{"wire", "handler"} {
		ns := make([][]float64, len(benchVariants))
		allocs := make([]int64, len(benchVariants))
		for r := 0; r < rounds; r++ {
			for i, v := range benchVariants {
				app := v.setup(t)
				res := testing.Benchmark(func(b *testing.B) { serveLoop(b, app, mode == "wire") })
				ns[i] = append(ns[i], float64(res.T.Nanoseconds())/float64(res.N))
				allocs[i] = res.AllocsPerOp()
			}
		}
		med := func(xs []float64) float64 { s := slices.Clone(xs); slices.Sort(s); return s[len(s)/2] }
		ref := med(ns[0])
		t.Logf("%s mode, median of %d interleaved rounds (GOMAXPROCS %d):", mode, rounds, runtime.GOMAXPROCS(0))
		for i, v := range benchVariants {
			m := med(ns[i])
			t.Logf("  %-20s %8.0f ns/op  %3d allocs/op  %.2fx of prebuilt throughput", v.name, m, allocs[i], ref/m)
		}
	}
}

// BenchmarkRecordLookup: the path record read every request starts with,
// through the core (cache.Peek, answered by its hot layer).
func BenchmarkRecordLookup(b *testing.B) {
	m := newMiddleware(configDefault(Config{Cache: newCache(b), TTL: time.Hour}), false)
	rk := appendPathKey(nil, keyRecord, "/blog")
	if _, ok := m.ensureRecord(string(rk)); !ok {
		b.Fatal("no record")
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := m.lookupRecord(rk); !ok {
				panic("no record")
			}
		}
	})
}
