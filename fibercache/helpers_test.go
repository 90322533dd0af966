package fibercache

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp/fasthttputil"
)

// newCache returns a private cache on a small real Memory store.
func newCache(t testing.TB) *cachekit.Cache {
	t.Helper()
	m, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	c := cachekit.New(cachekit.Config{Storage: m})
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
	return c
}

func newApp() *fiber.App {
	return fiber.New(fiber.Config{DisableStartupMessage: true})
}

// result is one response, read whole.
type result struct {
	status int
	header http.Header
	body   string
}

func (r result) xcache() string      { return r.header.Get("X-Cache") }
func (r result) cacheStatus() string { return r.header.Get("Cache-Status") }

// do sends one request through app.Test: real HTTP/1.1 bytes through
// fasthttp's server. hdr holds name, value pairs; "Host" sets the host.
func do(t testing.TB, app *fiber.App, method, target string, hdr ...string) result {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return result{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// get is do with GET.
func get(t testing.TB, app *fiber.App, target string, hdr ...string) result {
	t.Helper()
	return do(t, app, http.MethodGet, target, hdr...)
}

// listen serves app on a loopback port until the test ends and returns
// its base URL. Tests whose requests overlap, or that start background
// refreshes, use it: app.Test rebuilds the router on every call.
func listen(t testing.TB, app *fiber.App) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(2 * time.Second) })
	return "http://" + ln.Addr().String()
}

// newClient returns an HTTP client whose idle connections close when the
// test ends (before the server's shutdown waits for them).
func newClient(t testing.TB, conns int) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// fetch does one request against a listening server.
func fetch(t testing.TB, client *http.Client, url string, hdr ...string) result {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Error(err)
		return result{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func expect(t testing.TB, what string, got, want any) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// counting returns a handler that renders "<prefix> <n>" with n the number
// of runs so far, and the counter.
func counting(prefix string) (fiber.Handler, *atomic.Int64) {
	var n atomic.Int64
	return func(c *fiber.Ctx) error {
		c.Type("html")
		return c.SendString(fmt.Sprintf("%s %d", prefix, n.Add(1)))
	}, &n
}

// inBubble runs f in a testing/synctest bubble: time.Sleep there takes no
// real time, and the cache's clock (time.Now) moves with it. Requests go
// through app.Test (an in-memory connection), never a listening server:
// network waits would keep the bubble's clock from moving. fasthttp starts
// a process-wide clock goroutine on its first request; it is started here,
// outside the bubble, so that the bubble's goroutines all end.
func inBubble(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	warm := newApp()
	warm.Get("/", func(c *fiber.Ctx) error { return nil })
	get(t, warm, "/")
	synctest.Test(t, f)
}

// listenInMemory is listen over fasthttp's in-memory listener, for tests
// in a synctest bubble (inBubble) only: its connections are channels, so a
// request waiting on one lets the bubble's clock move. Use the client it
// returns, which dials that listener.
func listenInMemory(t testing.TB, app *fiber.App, conns int) (string, *http.Client) {
	t.Helper()
	ln := fasthttputil.NewInmemoryListener()
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() {
		_ = app.ShutdownWithTimeout(2 * time.Second)
		// fasthttp's worker pool looks for its stop signal every 10s (its
		// MaxIdleWorkerDuration): let the bubble's clock get there, so that
		// its goroutine ends with the bubble.
		time.Sleep(11 * time.Second)
	})
	client := newClient(t, conns)
	client.Transport.(*http.Transport).DialContext = func(context.Context, string, string) (net.Conn, error) { return ln.Dial() }
	return "http://fibercache.test", client
}
