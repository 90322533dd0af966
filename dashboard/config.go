package dashboard

import (
	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
)

// Config configures the dashboard handler.
type Config struct {
	// Next defines a function to skip this handler when it returns true.
	//
	// Optional. Default: nil
	Next func(c *fiber.Ctx) bool

	// Cache is the cache the page shows and the forms invalidate.
	//
	// Optional. Default: cachekit.Default()
	Cache *cachekit.Cache

	// Memory is the embedded store whose entries, memory used against its
	// bound and evictions the page shows. Pass the Local store in the
	// two-level mode.
	//
	// Optional. Default: Cache.Storage() when it is a *cachekit.Memory,
	// else nil (no memory figures)
	Memory *cachekit.Memory

	// Recorder supplies the per-route and per-fragment figures and the
	// history the charts draw; mount its Handler and pass its Observe to
	// cachekit.Config. Without one the page shows the cache-wide counters
	// only, and its charts fill as the page is viewed.
	//
	// Optional. Default: a private NewRecorder()
	Recorder *Recorder

	// Token guards the invalidate forms: a POST must carry it (typed into
	// the form) and a form nonce this handler issued. Empty: the page is
	// read-only and every POST is refused with 403 Forbidden. The page
	// itself is shown to whoever reaches the route: put the route behind
	// the app's own authentication (or Next) when its figures, route
	// patterns and fragment names are not for everyone.
	//
	// Optional. Default: ""
	Token string

	// Title heads the page.
	//
	// Optional. Default: "Cache"
	Title string
}

// ConfigDefault is the default config.
var ConfigDefault = Config{
	Next:     nil,
	Cache:    nil, // cachekit.Default(), resolved by New
	Memory:   nil,
	Recorder: nil,
	Token:    "",
	Title:    "Cache",
}

func configDefault(config ...Config) Config {
	cfg := ConfigDefault
	if len(config) > 0 {
		cfg = config[0]
	}
	if cfg.Cache == nil {
		cfg.Cache = cachekit.Default()
	}
	if cfg.Memory == nil {
		if m, ok := cfg.Cache.Storage().(*cachekit.Memory); ok {
			cfg.Memory = m
		}
	}
	if cfg.Recorder == nil {
		cfg.Recorder = NewRecorder()
	}
	if cfg.Title == "" {
		cfg.Title = ConfigDefault.Title
	}
	return cfg
}
