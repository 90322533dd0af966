// Command bench measures cachekit end to end against its peers, in one run
// on one machine: it serves the sample site's home page (its real templates,
// with fixed data) through each variant on a loopback port, runs wrk against
// each, and prints requests/s and p99 latency with ratios to the handler that
// sends prebuilt bytes (the limit).
//
//	make bench            # or: go run ./bench -d 10s
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/fibercache"
	"github.com/cachekit/cachekit/loader"
	"github.com/gofiber/fiber/v2"
	fibercachemw "github.com/gofiber/fiber/v2/middleware/cache"
	"github.com/gofiber/template/html/v2"
)

// A variant is one way of answering the same page.
type variant struct {
	path, name, what string
}

var variants = []variant{
	{"/prebuilt", "prebuilt bytes", "c.Send of the page rendered once at start (the limit)"},
	{"/fiber-cache", "fiber middleware/cache hit", "fiber's own cache middleware in front of the loader render"},
	{"/fibercache", "fibercache hit", "fibercache.New in front of the loader render"},
	{"/fragments", "loader, fragment hits", "loader render; the page's {{cache}} blocks hit"},
	{"/loader", "loader, uncached", "loader render; {{cache}} blocks on a store that keeps nothing"},
	{"/html-v2", "html/v2, uncached", "gofiber/template/html/v2 render of the same templates"},
}

func main() {
	dur := flag.Duration("d", 4*time.Second, "wrk duration per variant and round")
	conns := flag.Int("c", 32, "wrk connections")
	rounds := flag.Int("rounds", 5, "rounds over all variants, interleaved; each variant's median round counts")
	templates := flag.String("templates", "templates", "the sample site's template directory")
	serve := flag.String("serve", "", "only serve the variants on this address (to look at them with curl)")
	flag.Parse()
	if *serve != "" {
		app, _, err := newServer(*templates)
		if err == nil {
			fmt.Printf("bench: serving %d variants on http://%s\n", len(variants), *serve)
			err = app.Listen(*serve)
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if err := run(*templates, *dur, *conns, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(templates string, dur time.Duration, conns, rounds int) error {
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk is not installed: apt-get install wrk (make bench does it)")
	}
	app, size, err := newServer(templates)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go app.Listener(ln)
	defer app.Shutdown()
	base := "http://" + ln.Addr().String()
	for _, v := range variants { // warm every cache and check every answer
		body, err := fetch(base + v.path)
		if err != nil {
			return fmt.Errorf("%s: %w", v.path, err)
		}
		if len(body) < size/2 {
			return fmt.Errorf("%s answered %d bytes, the page has %d", v.path, len(body), size)
		}
	}
	all := map[string][]result{}
	for r := 0; r < rounds; r++ {
		for _, v := range variants {
			res, err := wrk(base+v.path, dur, conns)
			if err != nil {
				return fmt.Errorf("wrk %s: %w", v.path, err)
			}
			all[v.path] = append(all[v.path], res)
		}
	}
	results := map[string]result{}
	for path, rs := range all { // the median round: noise on a shared machine cuts both ways
		sort.Slice(rs, func(i, j int) bool { return rs[i].rps < rs[j].rps })
		results[path] = rs[len(rs)/2]
	}
	report(results, size, dur, conns, rounds)
	return nil
}

// newServer builds one app with every variant on its own route.
func newServer(dir string) (*fiber.App, int, error) {
	data := pageData()
	cached := loader.New(dir, ".html").Cache(cachekit.New(cachekit.Config{}))
	uncached := loader.New(dir, ".html").Cache(cachekit.New(cachekit.Config{Storage: cachekit.NewDummy()}))
	peer := html.New(dir, ".html")
	// html/v2 knows nothing of {{cache}}: these render the blocks' bodies
	// inline, which is what an uncached page does.
	peer.AddFuncMap(map[string]any{
		"cache":    func(...any) string { return "" },
		"endcache": func(...any) string { return "" },
		"tags":     func(...any) string { return "" },
	})
	for _, e := range []interface{ Load() error }{cached, uncached, peer} {
		if err := e.Load(); err != nil {
			return nil, 0, err
		}
	}
	var pre bytes.Buffer
	if err := uncached.Render(&pre, "pages/home", data, "layouts/main"); err != nil {
		return nil, 0, err
	}
	prebuilt := pre.Bytes()

	render := func(e interface {
		Render(w io.Writer, name string, binding any, layout ...string) error
	}) fiber.Handler {
		return func(c *fiber.Ctx) error {
			c.Type("html", "utf-8")
			return e.Render(c, "pages/home", data, "layouts/main")
		}
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/prebuilt", func(c *fiber.Ctx) error {
		c.Type("html", "utf-8")
		return c.Send(prebuilt)
	})
	app.Get("/fiber-cache", fibercachemw.New(fibercachemw.Config{Expiration: time.Hour}), render(uncached))
	app.Get("/fibercache", fibercache.New(fibercache.Config{Cache: cachekit.New(cachekit.Config{}), TTL: time.Hour}), render(uncached))
	app.Get("/fragments", render(cached))
	app.Get("/loader", render(uncached))
	app.Get("/html-v2", render(peer))
	return app, len(prebuilt), nil
}

type result struct {
	rps float64
	p99 time.Duration
}

var (
	rpsRe = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	p99Re = regexp.MustCompile(`\s99%\s+([0-9.]+)(us|ms|s)`)
	errRe = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)|Socket errors: .*`)
)

func wrk(url string, dur time.Duration, conns int) (result, error) {
	out, err := exec.Command("wrk", "-t2", "-c"+strconv.Itoa(conns), "-d"+dur.String(), "--latency", url).CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("%v: %s", err, out)
	}
	if m := errRe.FindString(string(out)); m != "" {
		return result{}, fmt.Errorf("wrk saw errors: %s", m)
	}
	m := rpsRe.FindSubmatch(out)
	p := p99Re.FindSubmatch(out)
	if m == nil || p == nil {
		return result{}, fmt.Errorf("cannot read wrk's output:\n%s", out)
	}
	rps, _ := strconv.ParseFloat(string(m[1]), 64)
	v, _ := strconv.ParseFloat(string(p[1]), 64)
	unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[string(p[2])]
	return result{rps: rps, p99: time.Duration(v * float64(unit))}, nil
}

func fetch(url string) ([]byte, error) {
	conn, err := net.Dial("tcp", strings.TrimPrefix(strings.SplitN(strings.TrimPrefix(url, "http://"), "/", 2)[0], ""))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	path := "/" + strings.SplitN(strings.TrimPrefix(url, "http://"), "/", 2)[1]
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n", path)
	r := bufio.NewReader(conn)
	var status string
	if status, err = r.ReadString('\n'); err != nil {
		return nil, err
	}
	if !strings.Contains(status, " 200 ") {
		return nil, fmt.Errorf("status %q", strings.TrimSpace(status))
	}
	var body bytes.Buffer
	_, err = body.ReadFrom(r)
	return body.Bytes(), err
}

func report(results map[string]result, size int, dur time.Duration, conns, rounds int) {
	limit := results["/prebuilt"].rps
	host, _ := os.Hostname()
	fmt.Printf("\nEnd-to-end, %d-byte page, wrk -t2 -c%d -d%s, median of %d interleaved rounds; %d cores (%s/%s), %s, host %s\n\n",
		size, conns, dur, rounds, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), host)
	fmt.Println("| variant | requests/s | p99 | vs prebuilt bytes |")
	fmt.Println("|---|---:|---:|---:|")
	order := append([]variant(nil), variants...)
	sort.SliceStable(order, func(i, j int) bool { return results[order[i].path].rps > results[order[j].path].rps })
	for _, v := range order {
		r := results[v.path]
		fmt.Printf("| %s | %.0f | %s | %.2fx |\n", v.name, r.rps, r.p99.Round(10*time.Microsecond), r.rps/limit)
	}
	fc, fib := results["/fibercache"].rps, results["/fiber-cache"].rps
	fmt.Printf("\nfibercache hit vs fiber's cache hit: %.2fx; fragments vs uncached loader: %.2fx; loader vs html/v2 (uncached): %.2fx\n",
		fc/fib, results["/fragments"].rps/results["/loader"].rps, results["/loader"].rps/results["/html-v2"].rps)
	fmt.Println()
	for _, v := range variants {
		fmt.Printf("- %s: %s\n", v.name, v.what)
	}
}
