// Regression tests from the review of the restructure: each was a bug
// before the rule it checks held.
package fibercache

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
)

// writeLog is a real Memory that records every key written to it.
type writeLog struct {
	*cachekit.Memory
	mu   sync.Mutex
	keys []string
	ttls []time.Duration
}

func (w *writeLog) Set(key string, val []byte, exp time.Duration) error {
	w.mu.Lock()
	w.keys = append(w.keys, key)
	w.ttls = append(w.ttls, exp)
	w.mu.Unlock()
	return w.Memory.Set(key, val, exp)
}

// Rule 8: every key the cache writes expires, and nothing is written for a
// response that is not stored, so that no request pattern grows a store
// without bound. A scan of random paths that all answer 404 must write
// nothing (today: one record per path, with no expiry).
func TestNotStoredResponsesWriteNothing(t *testing.T) {
	m, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	w := &writeLog{Memory: m}
	c := cachekit.New(cachekit.Config{Storage: w})
	app := newApp()
	app.Use(New(Config{Cache: c}))
	app.Get("/*", func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusNotFound) })
	for i := 0; i < 20; i++ {
		r := get(t, app, fmt.Sprintf("/no-such-page-%d", i))
		expect(t, "status", r.status, fiber.StatusNotFound)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.keys) > 0 {
		t.Errorf("%d keys written for 20 responses that were not stored, e.g. %q (ttl %v)", len(w.keys), w.keys[0], w.ttls[0])
	}
}

// Rule 2: a request whose inputs are ambiguous (duplicate header lines)
// bypasses. fiber's c.Hostname reads the first X-Forwarded-Host line (and
// trusts it unless EnableTrustedProxyCheck is on), while the page key held
// the last one: behind a proxy that appends its own X-Forwarded-Host line,
// an attacker's line comes first, renders the page for their host, and the
// page is stored under the key of every ordinary request through the proxy.
func TestDuplicateForwardedHeaderBypasses(t *testing.T) {
	app := newApp()
	app.Use(New(Config{Cache: newCache(t)}))
	app.Get("/", func(c *fiber.Ctx) error {
		return c.SendString("<a href=\"" + c.Protocol() + "://" + c.Hostname() + "/login\">log in</a>")
	})
	attack := get(t, app, "/", "X-Forwarded-Host", "evil.example", "X-Forwarded-Host", "good.example")
	t.Logf("attacker: %s %q", attack.xcache(), attack.body)
	victim := get(t, app, "/", "X-Forwarded-Host", "good.example")
	if strings.Contains(victim.body, "evil.example") {
		t.Errorf("ordinary request served the attacker's page (%s): %q", victim.xcache(), victim.body)
	}
	expect(t, "duplicate forwarded header", attack.xcache(), "BYPASS")

	attack = get(t, app, "/", "X-Forwarded-Proto", "javascript", "X-Forwarded-Proto", "https")
	victim = get(t, app, "/", "X-Forwarded-Proto", "https")
	if strings.Contains(victim.body, "javascript") {
		t.Errorf("ordinary request served the attacker's page (%s): %q", victim.xcache(), victim.body)
	}
}

// Rule 2: a body on a GET makes the request ambiguous: the handler may read
// it (c.BodyParser on a search endpoint), and it is not part of the key.
func TestGetWithBodyBypasses(t *testing.T) {
	app := newApp()
	app.Use(New(Config{Cache: newCache(t)}))
	app.Get("/search", func(c *fiber.Ctx) error {
		q := string(c.Body())
		if q == "" {
			q = "everything"
		}
		return c.SendString("results for " + q)
	})
	req := httptest.NewRequest(http.MethodGet, "/search", strings.NewReader("<script>evil()</script>"))
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	expect(t, "GET with a body", resp.Header.Get("X-Cache"), "BYPASS")
	if r := get(t, app, "/search"); strings.Contains(r.body, "evil") {
		t.Errorf("a plain GET got the page rendered from another request's body (%s): %q", r.xcache(), r.body)
	}
}
