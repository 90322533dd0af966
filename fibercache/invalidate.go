package fibercache

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
)

// InvalidatePath drops every cached variant of path (every query string,
// host, Vary value, user and key prefix), in two storage writes whatever
// their number: it replaces the nonce that all of the path's page keys
// hold. path is matched as routing matches it by default: case-insensitive,
// trailing slash ignored, and anything from '?' on ignored; give it decoded,
// as c.Path() reports it. nil cache means cachekit.Default().
//
// A record lost to eviction is made anew with a new nonce, so nothing
// invalidated comes back; a render that was running meanwhile cannot store
// its page under the new nonce.
func InvalidatePath(cache *cachekit.Cache, path string) error {
	if cache == nil {
		cache = cachekit.Default()
	}
	if path == "" {
		return fmt.Errorf("fibercache: InvalidatePath: empty path")
	}
	rkey := string(appendPathKey(nil, keyRecord, path))
	// The fence first, before the record is read: a render that makes or
	// rewrites the record reads the fence after its own record write, so
	// it sees this invalidation if it overwrote it, or made the record
	// after the read below found none; a record write it made before
	// reading an older fence is found by that read, and replaced. The
	// record (or tombstone) written below holds the fence: a render that
	// reads it keeps the record it writes only when the fence is still
	// that one (records.go, Fences).
	fence := newNonce()
	fkey := fenceKey(path)
	if err := cache.SetFence(fkey, fence, fenceTTL); err != nil {
		return fmt.Errorf("fibercache: invalidate %q: %w", path, err)
	}
	written := time.Now()
	r, _ := cache.Peek(rkey)
	if time.Since(written) >= fenceQuick/2 {
		// A slow store: the fence written above must still be there for
		// fenceQuick after the record write below (Fences).
		fence = newNonce()
		if err := cache.SetFence(fkey, fence, fenceTTL); err != nil {
			return fmt.Errorf("fibercache: invalidate %q: %w", path, err)
		}
	}
	rec, tomb, ok := decodeRecord(r.Value)
	if r.Status != cachekit.Hit || !ok || tomb {
		// No page of the path is reachable: a tombstone tells the path's
		// next first render the fence it starts under.
		if err := cache.Set(rkey, encodeTombstone(fence), fenceTTL); err != nil {
			return fmt.Errorf("fibercache: invalidate %q: %w", path, err)
		}
		return nil
	}
	// Keep the learned Vary list: the next render need not learn it again.
	// The new record lives as long as the old one was to: the pages it
	// keys are stored from now on, and extend it as they need.
	ttl := recordTTL(0)
	if !r.Expires.IsZero() {
		ttl = max(time.Until(r.Expires), time.Second)
	}
	if err := cache.Set(rkey, encodeRecord(newRecord(rec.vary, fence)), ttl); err != nil {
		return fmt.Errorf("fibercache: invalidate %q: %w", path, err)
	}
	return nil
}

// Purge returns a handler for cache purges, Varnish and Fastly style:
//
//	PURGE /blog/post-1                     drops every variant of the path
//	PURGE /  with Surrogate-Key: a b       invalidates the tags a and b
//
// A request without the configured token (compared in constant time), or
// any request when no token is configured, gets 403 and purges nothing.
// Requests with another method go on to the next handler, so it can be
// mounted site-wide. Fiber refuses unknown methods unless listed:
//
//	app := fiber.New(fiber.Config{RequestMethods: append(fiber.DefaultMethods, "PURGE")})
//	app.Use(fibercache.Purge(fibercache.PurgeConfig{Token: os.Getenv("PURGE_TOKEN")}))
func Purge(config ...PurgeConfig) fiber.Handler {
	cfg := purgeConfigDefault(config...)
	if err := cfg.Cache.Err(); err != nil {
		panic("fibercache: PurgeConfig.Cache cannot work: " + err.Error())
	}
	want := sha256.Sum256([]byte(cfg.Token))
	return func(c *fiber.Ctx) error {
		if (cfg.Next != nil && cfg.Next(c)) || c.Method() != cfg.Method {
			return c.Next()
		}
		got := sha256.Sum256([]byte(c.Get(cfg.TokenHeader)))
		if cfg.Token == "" || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			return c.Status(fiber.StatusForbidden).JSON(fiber.Map{"error": "purge refused"})
		}
		if keys := c.Get("Surrogate-Key"); strings.TrimSpace(keys) != "" {
			tags := strings.Fields(keys)
			if err := cfg.Cache.InvalidateTags(tags...); err != nil {
				return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": err.Error()})
			}
			return c.JSON(fiber.Map{"purged": "tags", "tags": tags})
		}
		path := c.Path()
		if err := InvalidatePath(cfg.Cache, path); err != nil {
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": err.Error()})
		}
		return c.JSON(fiber.Map{"purged": "path", "path": path})
	}
}

// invalidateUnsafe drops the stored pages a successful (2xx or 3xx)
// response to an unsafe method makes stale (RFC 9111 §4.4): those of the
// request's path, and of the path of its Location and Content-Location
// when they name the same host. Every variant of such a path goes (every
// query string, like InvalidatePath). Safe methods (OPTIONS, TRACE) and
// failed responses invalidate nothing; an invalidation that fails is
// left to the pages' own expiry.
func (m *middleware) invalidateUnsafe(c *fiber.Ctx, err error) {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions, fiber.MethodTrace:
		return
	}
	if st := c.Response().StatusCode(); err != nil || st < 200 || st > 399 {
		return
	}
	_ = InvalidatePath(m.cache, c.Path())
	h := &c.Response().Header
	for _, name := range [...]string{fiber.HeaderLocation, fiber.HeaderContentLocation} {
		if p, ok := sameHostPath(c, string(h.Peek(name))); ok {
			_ = InvalidatePath(m.cache, p)
		}
	}
}

// sameHostPath returns the path of the URI reference ref (absolute, or
// relative to the request), in the form c.Path() gives (percent-encoded
// unless fiber.Config.UnescapePath), when it names the request's host;
// ok false otherwise.
func sameHostPath(c *fiber.Ctx, ref string) (string, bool) {
	if ref == "" {
		return "", false
	}
	u, err := url.Parse(ref)
	if err != nil || u.Opaque != "" {
		return "", false
	}
	if u.Host != "" && !strings.EqualFold(u.Host, string(c.Request().Host())) {
		return "", false
	}
	// The path as c.Path() has it, which page keys hold: as sent
	// (percent-encoded) unless the app unescapes paths.
	p := u.EscapedPath()
	if c.App().Config().UnescapePath {
		p = u.Path
	}
	switch {
	case p == "":
		p = c.Path() // "?q" or "#f": the request's own path
	case !strings.HasPrefix(p, "/"):
		base := c.Path()
		p = base[:strings.LastIndexByte(base, '/')+1] + p
	}
	return path.Clean(p), true
}
