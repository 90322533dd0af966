package fibercache

import (
	"fmt"
	"strings"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/internal/keys"
	"github.com/gofiber/fiber/v2"
)

// Config configures New and Page. The zero value of a field means its
// default, given on the field and in ConfigDefault.
type Config struct {
	// Next skips the middleware when it returns true: the request goes on
	// untouched, without X-Cache.
	//
	// Optional. Default: nil
	Next func(c *fiber.Ctx) bool

	// Cache stores the pages.
	//
	// Optional. Default: nil, meaning cachekit.Default()
	Cache *cachekit.Cache

	// TTL is how long a page stays fresh when its response gives no
	// s-maxage, max-age or Expires (New), or in every case (Page, whose TTL
	// wins over the response's, as Django's cache_page does). It is a
	// heuristic freshness (RFC 9111 §4.2.2) for responses that say nothing,
	// Django's CACHE_MIDDLEWARE_SECONDS, kept short by default: a page that
	// wants longer says so with max-age. cachekit.DefaultTTL takes the
	// Cache's Config.DefaultTTL (300 s unless set); cachekit.NoExpiry keeps
	// pages fresh until invalidated, for at most cachekit.MaxStoreTTL. 0 means
	// the default (a config field); negative is an error. A response's
	// max-age=0 or s-maxage=0 still stores nothing.
	//
	// Optional. Default: time.Minute
	TTL time.Duration

	// Strict stores only what the response itself allows, as RFC 9111 has
	// a shared cache do: a response is stored only when it gives its own
	// freshness (s-maxage, max-age or Expires), never for Config.TTL (New
	// ignores TTL; Page's TTL still wins, as cache_page's does); every
	// final status may be stored then (Statuses nil means 200-599 but 206
	// and 304); and a CDN-Cache-Control response header (RFC 9213), when
	// it parses, replaces Cache-Control and Expires for this cache's own
	// decision, but for Cache-Control's no-store and private, which still
	// forbid storing. Credentials, Set-Cookie and the other rules of the
	// package doc still hold; a stale page with the handler's own ETag or
	// Last-Modified is revalidated with it (a 304 freshens the stored
	// page). Off (the default), a response without freshness is
	// stored for Config.TTL, as Django's cache middleware does.
	//
	// Optional. Default: false
	Strict bool

	// KeyPrefix starts every page key of this middleware (Django's
	// CACHE_MIDDLEWARE_KEY_PREFIX). Printable ASCII without spaces, '|' or
	// ':', at most 64 bytes. InvalidatePath reaches every prefix.
	//
	// Optional. Default: ""
	KeyPrefix string

	// Statuses are the response statuses that may be stored. 1xx, 206 and
	// 304 are refused.
	//
	// Optional. Default: []int{200}; under Strict, 200-599 but 206 and 304
	Statuses []int

	// HarmlessCookies are request cookies that do not make a request
	// personal (analytics and consent cookies): a request carrying only
	// these is served from and stored to the shared cache. A name ending
	// in '*' matches by prefix. Use an empty non-nil slice to count every
	// cookie as a credential.
	//
	// Optional. Default: ConfigDefault.HarmlessCookies (Google Analytics,
	// Facebook, Hotjar, Matomo, Clarity and cookie-consent cookies)
	HarmlessCookies []string

	// UserCookie and UserHeader opt in to per-user caching: a request that
	// carries this cookie (or header) is cached under a key holding a
	// digest of its value, so each user gets their own pages. Without
	// it, a request with cookies other than harmless ones or with
	// Authorization is never stored unless the response says public.
	//
	// Optional. Default: "" (no per-user caching)
	UserCookie string
	// Optional. Default: ""
	UserHeader string

	// CredentialHeaders are request headers that carry credentials, as
	// Authorization and Proxy-Authorization do (those two always count): a
	// request that sends one is never stored and is answered from the
	// cache only by a page stored as public. Use an empty non-nil slice for
	// none beyond those two. A header named here and as UserHeader
	// identifies the user instead.
	//
	// Optional. Default: ConfigDefault.CredentialHeaders (X-Api-Key,
	// Api-Key, X-Auth-Token, X-Access-Token, X-Session-Token, X-Csrf-Token,
	// X-Xsrf-Token, X-Amz-Security-Token)
	CredentialHeaders []string

	// HonorRequestNoCache makes a request's Cache-Control: no-cache (or
	// Pragma: no-cache, which browsers send on a hard reload) render the
	// page afresh and store the new copy. Off, as in Varnish and nginx: a
	// shared cache answers such requests from the cache, so no client can
	// make every request render. On, each such request drops the stored
	// page first (cachekit.Cache.Delete, which makes the core's hot layer
	// revalidate what it holds): turn it on only where clients are trusted.
	//
	// Optional. Default: false
	HonorRequestNoCache bool

	// LockTimeout bounds how long a request waits for another request's
	// render of the same page (nginx's proxy_cache_lock_timeout): past
	// it, the request renders its own (not stored), X-Cache: MISS with
	// detail=lock-timeout.
	//
	// Optional. Default: 5 * time.Second
	LockTimeout time.Duration

	// HitForMiss is how long a page whose response could not be stored
	// (Set-Cookie, private, a 404, ...) is remembered as such, in this
	// process (Varnish's hit-for-miss): meanwhile its requests go straight
	// to the handler, in parallel, instead of queueing behind one render
	// they cannot use (X-Cache: MISS, detail=uncacheable). The next
	// request after it renders through the cache again.
	//
	// Optional. Default: 5 * time.Second
	HitForMiss time.Duration

	// StaleWhileRevalidate is how long past its TTL a page is still served
	// (X-Cache: STALE) while one refresh runs in the background.
	// StaleIfError is how long past its TTL a page is served when a fresh
	// render fails (an error, or a 500, 502, 503 or 504). 0 takes the
	// response's own stale-while-revalidate / stale-if-error directives.
	// Responses with must-revalidate or proxy-revalidate are never served
	// stale.
	//
	// Optional. Default: 0 (the response's directives)
	StaleWhileRevalidate time.Duration
	// Optional. Default: 0 (the response's directives)
	StaleIfError time.Duration

	// CacheControl sends Cache-Control: public, max-age=<remaining> and
	// Expires on hits and stored misses whose handler set no Cache-Control
	// of its own (private instead of public for per-user pages). Off: the
	// handler's headers go out as they are.
	//
	// Optional. Default: false
	CacheControl bool

	// SurrogateHeaders passes Surrogate-Key and Surrogate-Control on to a
	// CDN in front (Fastly, Akamai, Varnish), on misses and on hits (stored
	// with the page), so that it can purge by the same tags and keep its
	// own lifetime. Off, Surrogate-Key is read for this cache's tags and
	// stripped, so tag names never reach a client, and Surrogate-Control
	// is not replayed. Turn it on only with a CDN that strips both.
	//
	// Optional. Default: false
	SurrogateHeaders bool

	// MaxBodySize is the largest body stored, in bytes.
	//
	// Optional. Default: 1 << 20 (1 MiB)
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
	CredentialHeaders: []string{
		"X-Api-Key", "Api-Key", "X-Auth-Token", "X-Access-Token", "X-Session-Token",
		"X-Csrf-Token", "X-Xsrf-Token", "X-Amz-Security-Token",
	},
	LockTimeout: 5 * time.Second,
	HitForMiss:  5 * time.Second,
	MaxBodySize: 1 << 20,
}

// configDefault applies the defaults to the fields left zero.
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
		if cfg.Strict {
			cfg.Statuses = strictStatuses()
		}
	}
	if cfg.HarmlessCookies == nil {
		cfg.HarmlessCookies = ConfigDefault.HarmlessCookies
	}
	if cfg.MaxBodySize == 0 {
		cfg.MaxBodySize = ConfigDefault.MaxBodySize
	}
	if cfg.CredentialHeaders == nil {
		cfg.CredentialHeaders = ConfigDefault.CredentialHeaders
	}
	if cfg.LockTimeout == 0 {
		cfg.LockTimeout = ConfigDefault.LockTimeout
	}
	if cfg.HitForMiss == 0 {
		cfg.HitForMiss = ConfigDefault.HitForMiss
	}
	return cfg
}

// strictStatuses is the Statuses default under Config.Strict: every final
// status a page can be (200-599) but 206 and 304.
func strictStatuses() []int {
	var st []int
	for s := 200; s <= 599; s++ {
		if s != fiber.StatusPartialContent && s != fiber.StatusNotModified {
			st = append(st, s)
		}
	}
	return st
}

// PurgeConfig configures Purge.
type PurgeConfig struct {
	// Next skips the handler when it returns true.
	//
	// Optional. Default: nil
	Next func(c *fiber.Ctx) bool

	// Cache is the cache to purge.
	//
	// Optional. Default: nil, meaning cachekit.Default()
	Cache *cachekit.Cache

	// Token must be sent in TokenHeader for a purge to happen. Empty
	// refuses every purge with 403.
	//
	// Optional. Default: "" (every purge refused)
	Token string

	// TokenHeader carries the token.
	//
	// Optional. Default: "X-Purge-Token"
	TokenHeader string

	// Method is the request method that purges (any case); others pass
	// through.
	//
	// Optional. Default: "PURGE"
	Method string
}

// PurgeConfigDefault is the default config of Purge.
var PurgeConfigDefault = PurgeConfig{
	TokenHeader: "X-Purge-Token",
	Method:      "PURGE",
}

// purgeConfigDefault applies the defaults to the fields left zero.
func purgeConfigDefault(config ...PurgeConfig) PurgeConfig {
	cfg := PurgeConfigDefault
	if len(config) > 0 {
		cfg = config[0]
	}
	if cfg.TokenHeader == "" {
		cfg.TokenHeader = PurgeConfigDefault.TokenHeader
	}
	if cfg.Method == "" {
		cfg.Method = PurgeConfigDefault.Method
	}
	cfg.Method = strings.ToUpper(cfg.Method)
	if cfg.Cache == nil {
		cfg.Cache = cachekit.Default()
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
	if cfg.TTL < 0 && cfg.TTL != cachekit.DefaultTTL {
		return fmt.Errorf("Config.TTL is negative (%v)", cfg.TTL)
	}
	if cfg.StaleWhileRevalidate < 0 {
		return fmt.Errorf("Config.StaleWhileRevalidate is negative (%v)", cfg.StaleWhileRevalidate)
	}
	if cfg.StaleIfError < 0 {
		return fmt.Errorf("Config.StaleIfError is negative (%v)", cfg.StaleIfError)
	}
	if cfg.LockTimeout < 0 {
		return fmt.Errorf("Config.LockTimeout is negative (%v)", cfg.LockTimeout)
	}
	if cfg.HitForMiss < 0 {
		return fmt.Errorf("Config.HitForMiss is negative (%v)", cfg.HitForMiss)
	}
	for _, name := range cfg.CredentialHeaders {
		if !isToken(name) || len(name) > 63 {
			return fmt.Errorf("Config.CredentialHeaders holds %q, which is not a header name (a token of at most 63 bytes)", name)
		}
	}
	if cfg.MaxBodySize < 0 {
		return fmt.Errorf("Config.MaxBodySize is negative (%d)", cfg.MaxBodySize)
	}
	if err := keys.CheckPrefix("Config.KeyPrefix", cfg.KeyPrefix, "|"); err != nil {
		return err
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
