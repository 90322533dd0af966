package fibercache

import (
	"fmt"
	"strings"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
)

// Config configures New and Page. The zero value of a field means its
// value in ConfigDefault.
type Config struct {
	// Next skips the middleware when it returns true: the request goes on
	// untouched, without X-Cache.
	Next func(c *fiber.Ctx) bool

	// Cache stores the pages. nil means cachekit.Default().
	Cache *cachekit.Cache

	// TTL is how long a page stays fresh when its response gives no
	// s-maxage, max-age or Expires (New), or in every case (Page, whose TTL
	// wins over the response's, as Django's cache_page does).
	TTL time.Duration

	// KeyPrefix starts every page key of this middleware (Django's
	// CACHE_MIDDLEWARE_KEY_PREFIX). Printable ASCII without spaces, '|' or
	// ':', at most 64 bytes. InvalidatePath reaches every prefix.
	KeyPrefix string

	// Statuses are the response statuses that may be stored. nil means
	// {200}. 1xx, 206 and 304 are refused.
	Statuses []int

	// HarmlessCookies are request cookies that do not make a request
	// personal (analytics and consent cookies): a request carrying only
	// these is served from and stored to the shared cache. A name ending
	// in '*' matches by prefix. nil means ConfigDefault's list; use an
	// empty non-nil slice to count every cookie as a credential.
	HarmlessCookies []string

	// UserCookie and UserHeader opt in to per-user caching: a request that
	// carries this cookie (or header) is cached under a key holding a
	// digest of its value, so each user gets their own entries. Without
	// it, a request with cookies other than harmless ones or with
	// Authorization is never stored unless the response says public.
	UserCookie string
	UserHeader string

	// StaleWhileRevalidate is how long past its TTL a page is still served
	// (X-Cache: STALE) while one refresh runs in the background.
	// StaleIfError is how long past its TTL a page is served when a fresh
	// render fails (an error, or a 500, 502, 503 or 504). 0 takes the
	// response's own stale-while-revalidate / stale-if-error directives.
	// Responses with must-revalidate or proxy-revalidate are never served
	// stale.
	StaleWhileRevalidate time.Duration
	StaleIfError         time.Duration

	// CacheControl sends Cache-Control: public, max-age=<remaining> and
	// Expires on hits and stored misses whose handler set no Cache-Control
	// of its own (private instead of public for per-user pages). Off by
	// default: the handler's headers go out as they are.
	CacheControl bool

	// MaxBodySize is the largest body stored, in bytes. 0 means 1 MiB.
	MaxBodySize int
}

// ConfigDefault is the default config.
var ConfigDefault = Config{
	Next:     nil,
	Cache:    nil,
	TTL:      time.Minute,
	Statuses: []int{fiber.StatusOK},
	HarmlessCookies: []string{
		"_ga", "_ga_*", "_gid", "_gat", "_gat_*", "_gcl_*", "__utm*",
		"_fbp", "_fbc", "_hj*", "_pk_*", "_clck", "_clsk", "cookieconsent_status",
	},
	MaxBodySize: 1 << 20,
}

func configDefault(config ...Config) Config {
	if len(config) < 1 {
		return ConfigDefault
	}
	cfg := config[0]
	if cfg.TTL == 0 {
		cfg.TTL = ConfigDefault.TTL
	}
	if cfg.Statuses == nil {
		cfg.Statuses = ConfigDefault.Statuses
	}
	if cfg.HarmlessCookies == nil {
		cfg.HarmlessCookies = ConfigDefault.HarmlessCookies
	}
	if cfg.MaxBodySize == 0 {
		cfg.MaxBodySize = ConfigDefault.MaxBodySize
	}
	return cfg
}

// check reports the first thing in cfg that cannot work.
func (cfg *Config) check() error {
	if cfg.Cache != nil {
		if err := cfg.Cache.Err(); err != nil {
			return fmt.Errorf("Config.Cache cannot work: %w", err)
		}
	}
	if cfg.TTL < 0 {
		return fmt.Errorf("Config.TTL is negative (%v)", cfg.TTL)
	}
	if cfg.StaleWhileRevalidate < 0 {
		return fmt.Errorf("Config.StaleWhileRevalidate is negative (%v)", cfg.StaleWhileRevalidate)
	}
	if cfg.StaleIfError < 0 {
		return fmt.Errorf("Config.StaleIfError is negative (%v)", cfg.StaleIfError)
	}
	if cfg.MaxBodySize < 0 {
		return fmt.Errorf("Config.MaxBodySize is negative (%d)", cfg.MaxBodySize)
	}
	if len(cfg.KeyPrefix) > 64 {
		return fmt.Errorf("Config.KeyPrefix is %d bytes long; at most 64", len(cfg.KeyPrefix))
	}
	for i := 0; i < len(cfg.KeyPrefix); i++ {
		if c := cfg.KeyPrefix[i]; c <= ' ' || c >= 0x7f || c == '|' || c == ':' {
			return fmt.Errorf("Config.KeyPrefix %q has byte %q at %d; use printable ASCII without spaces, '|' or ':'", cfg.KeyPrefix, c, i)
		}
	}
	if len(cfg.Statuses) == 0 {
		return fmt.Errorf("Config.Statuses is empty: nothing could be stored (nil means {200})")
	}
	for _, s := range cfg.Statuses {
		switch {
		case s < 200 || s > 599:
			return fmt.Errorf("Config.Statuses holds %d, which is not a final HTTP status (200-599)", s)
		case s == fiber.StatusPartialContent || s == fiber.StatusNotModified:
			return fmt.Errorf("Config.Statuses holds %d: partial and not-modified responses cannot be stored as pages", s)
		}
	}
	for _, name := range cfg.HarmlessCookies {
		n := strings.TrimSuffix(name, "*")
		if n == "" || !isToken(n) {
			return fmt.Errorf("Config.HarmlessCookies holds %q, which is not a cookie name (a token, optionally ending in '*')", name)
		}
		if cfg.UserCookie != "" && (name == cfg.UserCookie || strings.HasSuffix(name, "*") && strings.HasPrefix(cfg.UserCookie, n)) {
			return fmt.Errorf("Config.UserCookie %q is also matched by Config.HarmlessCookies %q: a cookie cannot both identify a user and be harmless", cfg.UserCookie, name)
		}
	}
	if cfg.UserCookie != "" && !isToken(cfg.UserCookie) {
		return fmt.Errorf("Config.UserCookie %q is not a cookie name", cfg.UserCookie)
	}
	if cfg.UserHeader != "" && !isToken(cfg.UserHeader) {
		return fmt.Errorf("Config.UserHeader %q is not a header name", cfg.UserHeader)
	}
	return nil
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return s != ""
}
