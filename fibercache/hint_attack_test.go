package fibercache

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// rawGet sends one GET with the request target written as it is (bytes a
// net/http client escapes or refuses included) over a fresh loopback
// connection to addr ("host:port"), and reads the response. A request
// fasthttp refuses reads as status 0 when the connection closes first.
func rawGet(t testing.TB, addr, target, host string, hdr ...string) result {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\n", target, host)
	for i := 0; i+1 < len(hdr); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", hdr[i], hdr[i+1])
	}
	b.WriteString("Connection: close\r\n\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return result{}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

// oddTargets are request targets that differ from each other in a way
// the page key must keep: paths of every length from 1 to 41 bytes (both
// sides of the 8-byte words and of shortPath) with one byte changed in
// case, %-encoded, non-ASCII or a control byte, at the start, the middle
// and the end, and query strings that differ in case or by one byte.
func oddTargets() []string {
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for n := 0; n <= 40; n++ {
		base := "/" + strings.Repeat("a", n)
		add(base)
		add(base + "?q=a")
		add(base + "?q=A")
		add(base + "?Q=a")
		add(base + "?")
		if n == 0 {
			continue
		}
		for _, pos := range []int{1, (n + 1) / 2, n} {
			for _, repl := range []string{"A", "%41", "%61", "\xc3\xa9", "%C3%A9", "%c3%a9", "\x80", "\xff", "%2F", "/", "\x01", "\x7f", "%20", "~", "!"} {
				add(base[:pos] + repl + base[pos+1:])
			}
		}
	}
	return out
}

// TestOddTargetsNeverShareAPage: requests for targets that differ in case,
// %-encoding, bytes of 0x80 or more, control bytes or their query string,
// paths of 1 to 41 bytes, on hosts that differ (in case too), each get
// the page rendered for their own target and host (lower case), first and
// then from the hot layer across hint ticks; every key the middleware
// looks up is printable ASCII without spaces.
func TestOddTargetsNeverShareAPage(t *testing.T) {
	for _, fc := range []struct {
		name string
		cfg  fiber.Config
	}{
		{"default routing", fiber.Config{DisableStartupMessage: true}},
		// c.Path() decoded: "/a%2Fb" and "/a/b" share a record (and its
		// hint), never a page.
		{"unescaped, case-sensitive, strict", fiber.Config{DisableStartupMessage: true, UnescapePath: true, CaseSensitive: true, StrictRouting: true}},
	} {
		t.Run(fc.name, func(t *testing.T) { oddTargetsNeverShareAPage(t, fc.cfg) })
	}
}

func oddTargetsNeverShareAPage(t *testing.T, fcfg fiber.Config) {
	m, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	var badKey atomic.Pointer[string]
	c := cachekit.New(cachekit.Config{Storage: m, Observe: func(key string, _ cachekit.Status) {
		for i := 0; i < len(key); i++ {
			if b := key[i]; b <= ' ' || b >= 0x7f {
				k := strings.Clone(key) // valid only during the call
				badKey.Store(&k)
			}
		}
	}})
	app := fiber.New(fcfg)
	var seen sync.Map // X-Req -> what the request is, as the handler would see it
	what := func(c *fiber.Ctx) string { return c.OriginalURL() + "@" + strings.ToLower(c.Hostname()) }
	app.Use(func(c *fiber.Ctx) error {
		seen.Store(c.Get("X-Req"), what(c))
		return c.Next()
	})
	app.Use(New(Config{Cache: c, TTL: time.Hour}))
	var renders atomic.Int64
	app.Get("/*", func(c *fiber.Ctx) error {
		return c.SendString(what(c) + "#" + strconv.FormatInt(renders.Add(1), 10))
	})
	addr := strings.TrimPrefix(listen(t, app), "http://")
	targets := oddTargets()
	hosts := []string{"a.example", "A.Example", "b.example"}
	served, hits := 0, 0
	for round := range 5 { // each target on a, A, b, a, A in turn: a page asked for 4 times
		for i, target := range targets {
			host := hosts[(i+round)%len(hosts)]
			id := strconv.Itoa(round) + "." + strconv.Itoa(i)
			r := rawGet(t, addr, target, host, "X-Req", id)
			if r.status != fiber.StatusOK {
				continue // refused by fasthttp
			}
			w, ok := seen.Load(id)
			if !ok {
				t.Fatalf("%q: answered without the front middleware", target)
			}
			body, _, _ := strings.Cut(r.body, "#")
			if body != w.(string) {
				t.Fatalf("round %d, target %q on %q (%s): got the page of %q", round, target, host, r.xcache(), body)
			}
			served++
			if r.xcache() == "HIT" {
				hits++
			}
		}
		time.Sleep(2 * time.Millisecond) // a new hint tick
	}
	if k := badKey.Load(); k != nil {
		t.Fatalf("a key with a byte a store may refuse: %q", *k)
	}
	t.Logf("%d targets: %d served, %d hits", len(targets), served, hits)
	if served < len(targets) || hits < served/2 {
		t.Fatalf("%d targets: %d served, %d hits", len(targets), served, hits)
	}
}

// TestHintSharedByInstances: instances that share a Cache and a path's
// record (KeyPrefix tells their pages apart, not their records) share
// the record's hint too: each is answered with its own page, across hint
// ticks, whichever page the hint leads to, and an InvalidatePath is seen
// by both through it.
func TestHintSharedByInstances(t *testing.T) {
	c := newCache(t)
	apps := map[string]*fiber.App{}
	var renders atomic.Int64
	for _, prefix := range []string{"", "a", "b"} {
		app := newApp()
		app.Use(New(Config{Cache: c, TTL: time.Hour, KeyPrefix: prefix}))
		app.Get("/p", func(ctx *fiber.Ctx) error {
			return ctx.SendString(prefix + "|" + ctx.Query("q") + "|" + strconv.FormatInt(renders.Add(1), 10))
		})
		apps[prefix] = app
	}
	bodies := map[string]string{}
	ask := func(prefix, q string, wantHit bool) {
		t.Helper()
		r := get(t, apps[prefix], "/p?q="+q)
		if !strings.HasPrefix(r.body, prefix+"|"+q+"|") {
			t.Fatalf("instance %q, q=%s: %s %q", prefix, q, r.xcache(), r.body)
		}
		k := prefix + "/" + q
		if wantHit && (r.xcache() != "HIT" || r.body != bodies[k]) {
			t.Fatalf("instance %q, q=%s: %s %q, want HIT %q", prefix, q, r.xcache(), r.body, bodies[k])
		}
		bodies[k] = r.body
	}
	for _, p := range []string{"", "a", "b"} {
		for _, q := range []string{"1", "2"} {
			ask(p, q, false)
			ask(p, q, false) // a HIT once the record is settled
		}
	}
	for round := range 4 {
		for _, p := range []string{"b", "", "a"} {
			for _, q := range []string{"2", "1"} {
				ask(p, q, true)
			}
		}
		if round%2 == 1 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	if err := InvalidatePath(c, "/p"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a", "", "b"} {
		for _, q := range []string{"1", "2"} {
			old := bodies[p+"/"+q]
			if r := get(t, apps[p], "/p?q="+q); r.xcache() == "HIT" || r.body == old {
				t.Fatalf("instance %q, q=%s after InvalidatePath: %s %q", p, q, r.xcache(), r.body)
			}
		}
	}
}

// serveCtx runs app's handler on a request context no fasthttp server
// made: its Time is zero, so the middleware takes the request's start
// from its view of the hot layer (or the clock without one).
func serveCtx(app *fiber.App, method, target string, hdr ...string) (status int, xcache, age, body string) {
	var fctx fasthttp.RequestCtx
	fctx.Request.Header.SetMethod(method)
	fctx.Request.SetRequestURI(target)
	fctx.Request.Header.SetHost("example.com")
	for i := 0; i+1 < len(hdr); i += 2 {
		fctx.Request.Header.Add(hdr[i], hdr[i+1])
	}
	app.Handler()(&fctx)
	return fctx.Response.StatusCode(), string(fctx.Response.Header.Peek("X-Cache")), string(fctx.Response.Header.Peek("Age")), string(fctx.Response.Body())
}

// TestStartWithoutServerTime: requests on contexts without fasthttp's
// request time (the start then comes from the hot layer's view, or the
// clock without a hot layer) store their page and record as a served
// request does: the next request hits, its Age within the time passed; a
// miss after a failed hit attempt (the page's tag dropped) stores again;
// a HEAD and a credentialed request are answered from the stored page; a
// Page inside New stores both pages, dropped with the inner one's tag.
func TestStartWithoutServerTime(t *testing.T) {
	for _, hot := range []int64{0, -1} {
		t.Run(fmt.Sprint("HotBytes=", hot), func(t *testing.T) {
			m, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 16 << 20})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = m.Close() })
			c := cachekit.New(cachekit.Config{Storage: m, HotBytes: hot})
			app := newApp()
			app.Use(New(Config{Cache: c, TTL: time.Hour}))
			var renders atomic.Int64
			app.Get("/p", func(ctx *fiber.Ctx) error {
				Tag(ctx, "t")
				ctx.Set("Cache-Control", "public, max-age=3600")
				return ctx.SendString("page " + strconv.FormatInt(renders.Add(1), 10))
			})
			var inner atomic.Int64
			app.Get("/n", Page(time.Hour, Config{Cache: c}), func(ctx *fiber.Ctx) error {
				Tag(ctx, "n")
				return ctx.SendString("nested " + strconv.FormatInt(inner.Add(1), 10))
			})
			// A Page inside New: each instance takes its own start (its
			// own view of the hot layer); both pages stored, the outer
			// one hit, and dropped with the inner one's tag.
			for i, want := range []string{"nested 1", "nested 1", "nested 1"} {
				if _, x, _, body := serveCtx(app, fiber.MethodGet, "/n"); body != want || (i > 0 && x != "HIT") {
					t.Fatalf("nested, request %d: %s %q, want %q", i, x, body, want)
				}
			}
			if err := c.InvalidateTags("n"); err != nil {
				t.Fatal(err)
			}
			for i, want := range []string{"nested 2", "nested 2"} {
				if _, x, _, body := serveCtx(app, fiber.MethodGet, "/n"); body != want || (i > 0 && x != "HIT") {
					t.Fatalf("nested after InvalidateTags, request %d: %s %q, want %q", i, x, body, want)
				}
			}
			began := time.Now()
			if st, x, _, body := serveCtx(app, fiber.MethodGet, "/p"); st != 200 || x == "HIT" || body != "page 1" {
				t.Fatalf("first: %d %s %q", st, x, body)
			}
			for i := range 3 {
				st, x, age, body := serveCtx(app, fiber.MethodGet, "/p")
				a, _ := strconv.Atoi(age)
				if st != 200 || x != "HIT" || body != "page 1" || time.Duration(a)*time.Second > time.Since(began)+time.Second {
					t.Fatalf("request %d: %d %s age %q %q", i, st, x, age, body)
				}
			}
			if err := c.InvalidateTags("t"); err != nil {
				t.Fatal(err)
			}
			if _, x, _, body := serveCtx(app, fiber.MethodGet, "/p"); x == "HIT" || body != "page 2" {
				t.Fatalf("after InvalidateTags: %s %q", x, body)
			}
			if _, x, _, body := serveCtx(app, fiber.MethodGet, "/p"); x != "HIT" || body != "page 2" {
				t.Fatalf("after the render that followed InvalidateTags: %s %q", x, body)
			}
			if st, x, _, _ := serveCtx(app, fiber.MethodHead, "/p"); st != 200 || x != "HIT" {
				t.Fatalf("HEAD: %d %s", st, x)
			}
			if _, x, _, body := serveCtx(app, fiber.MethodGet, "/p", "Authorization", "Bearer x"); x != "HIT" || body != "page 2" {
				t.Fatalf("credentialed, public page stored: %s %q", x, body)
			}
			if n := renders.Load(); n != 2 {
				t.Fatalf("%d renders, want 2", n)
			}
		})
	}
}

// TestScratchNeverCarriesARequest: many clients at once over paths whose
// requests take every way through the middleware (a hit, a miss, a HEAD,
// a credentialed request, a bypass, a Vary'd page, an invalidated path),
// each body naming what it was rendered for: a request is never answered
// with another's page or record, whatever the pooled scratch state held
// before.
func TestScratchNeverCarriesARequest(t *testing.T) {
	c := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: c, TTL: time.Hour}))
	app.Get("/*", func(ctx *fiber.Ctx) error {
		xv := ""
		if ctx.Query("v") != "" {
			ctx.Vary("X-V")
			xv = ctx.Get("X-V")
		}
		return ctx.SendString(ctx.OriginalURL() + "|" + xv + "|" + ctx.Get("Authorization"))
	})
	base := listen(t, app)
	client := newClient(t, 8)
	paths := []string{"/a", "/B", "/b", "/a?v=1", "/a?v=2", "/" + strings.Repeat("x", 15), "/" + strings.Repeat("x", 16), "/" + strings.Repeat("X", 16)}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			for n := range 300 {
				p := paths[(n*7+g)%len(paths)]
				var hdr []string
				xv, auth := "", ""
				switch (n + g) % 5 {
				case 1:
					xv = strconv.Itoa(g % 2)
					hdr = []string{"X-V", xv}
				case 2:
					auth = "Bearer " + strconv.Itoa(g)
					hdr = []string{"Authorization", auth}
				case 3:
					hdr = []string{"Cache-Control", "no-store"}
				}
				if !strings.Contains(p, "v=") {
					xv = ""
				}
				r := fetch(t, client, base+p, hdr...)
				if want := p + "|" + xv + "|" + auth; r.body != want {
					errs <- fmt.Sprintf("%s %q: %s %q, want %q", p, hdr, r.xcache(), r.body, want)
					return
				}
				if n%50 == 0 && g == 0 {
					_ = InvalidatePath(c, "/a")
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	if c.Stats().Hits == 0 {
		t.Fatal("no hits")
	}
}
