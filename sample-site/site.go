package main

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/dashboard"
	"github.com/cachekit/cachekit/fibercache"
	"github.com/cachekit/cachekit/loader"
	"github.com/cachekit/cachekit/redisbus"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"github.com/gofiber/fiber/v2/middleware/recover"
	redisstore "github.com/gofiber/storage/redis/v3"
	goredis "github.com/redis/go-redis/v9"
)

//go:embed static
var static embed.FS

type siteConfig struct {
	DB         string
	Templates  string
	Dev        bool   // reload templates, no admin token
	AdminToken string // guards /_cache actions; empty only in Dev
	RedisURL   string // shared store; empty: the embedded one
	Reviews    int    // seed size of a new database; 0: DefaultReviews
	// MetricsEvery is the time between two points of the dashboard's
	// charts; 0: the dashboard's default (10 s). Tests draw them faster.
	MetricsEvery time.Duration
}

type site struct {
	cfg     siteConfig
	store   *Store
	cache   *cachekit.Cache
	memory  *cachekit.Memory // the embedded store, or the local one in Redis mode
	redis   *goredis.Client
	engine  *loader.Engine
	metrics *dashboard.Recorder // per-route and per-fragment figures for /_cache and /metrics
	app     *fiber.App
}

const sessionCookie = "session"

func newSite(cfg siteConfig) (*site, error) {
	if !cfg.Dev && cfg.AdminToken == "" {
		return nil, errors.New("an admin token is required outside -dev")
	}
	if cfg.Reviews == 0 {
		cfg.Reviews = DefaultReviews
	}
	s := &site{cfg: cfg, metrics: dashboard.NewRecorder(dashboard.RecorderConfig{Interval: cfg.MetricsEvery})}
	if err := s.openCache(); err != nil {
		return nil, err
	}
	store, err := OpenStore(cfg.DB, cfg.Reviews, s.cache)
	if err != nil {
		s.cache.Close()
		return nil, err
	}
	s.store = store
	s.engine = loader.New(cfg.Templates, ".html").Cache(s.cache)
	s.engine.Reload(cfg.Dev)
	if err := s.engine.Load(); err != nil {
		s.Close()
		return nil, fmt.Errorf("templates: %w", err)
	}
	s.app = fiber.New(fiber.Config{
		Views:                 s.engine,
		ViewsLayout:           "layouts/main",
		ErrorHandler:          s.errorPage,
		BodyLimit:             1 << 20, // a shop's forms are small: a larger body is a 413
		DisableStartupMessage: true,
	})
	s.routes()
	return s, nil
}

// openCache picks the store: Redis when a URL is given (two-level, with a
// local Memory in front and invalidations over pub/sub), the embedded
// Memory otherwise.
func (s *site) openCache() error {
	mem, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 64 << 20})
	if err != nil {
		return err
	}
	s.memory = mem
	// DefaultTTL is Django's TIMEOUT: what a call given cachekit.DefaultTTL
	// gets (300 s unless set).
	cfg := cachekit.Config{Prefix: "calmgoods", Storage: mem, Observe: s.metrics.Observe, DefaultTTL: 5 * time.Minute}
	if s.cfg.RedisURL != "" {
		opts, err := goredis.ParseURL(s.cfg.RedisURL)
		if err != nil {
			return fmt.Errorf("CACHEKIT_REDIS_URL: %w", err)
		}
		// go-redis ignores context deadlines unless ContextTimeoutEnabled
		// is set, and its own timeouts default to seconds: a frozen Redis
		// would hold every request that long. The Cache bounds each call by
		// its Timeout anyway; these make the client give up as soon too.
		opts.ContextTimeoutEnabled = true
		opts.DialTimeout = time.Second
		opts.ReadTimeout = 500 * time.Millisecond
		opts.WriteTimeout = 500 * time.Millisecond
		opts.PoolTimeout = 500 * time.Millisecond
		opts.DialerRetries, opts.DialerRetryTimeout = 1, time.Millisecond // a dead Redis fails at once
		s.redis = goredis.NewClient(opts)
		cfg.Storage = redisbus.Atomic(redisstore.NewFromConnection(s.redis)) // Add and Incr atomic across instances
		cfg.Local = mem
		cfg.Bus = redisbus.New(s.redis, "cachekit:calmgoods")
	}
	s.cache = cachekit.New(cfg)
	return s.cache.Err()
}

func (s *site) describe() string {
	mode := "production"
	if s.cfg.Dev {
		mode = "development: templates reload"
	}
	if s.redis != nil {
		return mode + ", Redis at " + s.redis.Options().Addr + " with a local Memory in front"
	}
	return mode + ", embedded store"
}

// Close stops the site's background work and closes its stores.
func (s *site) Close() {
	s.cache.Close()
	if s.redis != nil {
		s.redis.Close()
	}
	s.store.Close()
}

func (s *site) routes() {
	app := s.app
	app.Use(recover.New())
	app.Use(s.metrics.Handler()) // in front of the page cache: counts each answer under its route
	app.Use("/static", filesystem.New(filesystem.Config{Root: http.FS(static), PathPrefix: "static", MaxAge: 3600}))
	app.Use(s.session)
	app.Use(s.csrf()) // every form that changes something carries its token
	if s.cfg.Dev {
		// In front of the page cache: a template edit reaches the next
		// request, cached page or not (the loader drops the pages built
		// from the edited template).
		app.Use(s.engine.Watch())
	}
	// The whole site is cached for anonymous visitors; a session cookie
	// makes a request personal, and the defaults then step aside. The
	// CSRF cookie is harmless: an anonymous page carries no token.
	app.Use(fibercache.New(fibercache.Config{
		Cache:                s.cache,
		TTL:                  30 * time.Second,
		StaleWhileRevalidate: 30 * time.Second,
		StaleIfError:         10 * time.Minute,
		HarmlessCookies:      append(slices.Clone(fibercache.ConfigDefault.HarmlessCookies), csrfCookie),
		Next:                 uncached,
	}))

	app.Get("/", s.home)
	app.Get("/c/:slug", s.category)
	// One route with its own, longer TTL (Django's cache_page).
	app.Get("/p/:id", fibercache.Page(10*time.Minute, fibercache.Config{Cache: s.cache}), s.product)
	app.Get("/login", s.loginForm)
	app.Post("/login", s.login)
	app.Post("/logout", s.logout)
	app.Get("/account", s.account)
	app.Get("/cart", s.cart)
	app.Post("/cart/:id", s.addToCart)
	app.Use("/admin", s.requireAdmin)
	app.Get("/admin/products/:id", s.editForm)
	app.Post("/admin/products/:id", s.edit)
	s.monitoring(app)
	app.Use(func(c *fiber.Ctx) error { return fiber.ErrNotFound })
}

// session puts the logged-in user, if any, in c.Locals("user").
func (s *site) session(c *fiber.Ctx) error {
	if token := c.Cookies(sessionCookie); token != "" {
		u, err := s.store.Session(c.UserContext(), token)
		switch {
		case err == nil:
			c.Locals("user", &u)
		case !errors.Is(err, ErrNotFound):
			return err
		}
	}
	return c.Next()
}

func currentUser(c *fiber.Ctx) *User {
	u, _ := c.Locals("user").(*User)
	return u
}

// shop is the lazy data templates reach through .Shop: its queries run only
// when a {{cache}} block around them misses.
type shop struct {
	ctx   context.Context
	store *Store
}

// Categories lists the categories with their product counts.
func (sh shop) Categories() ([]Category, error) { return sh.store.Categories(sh.ctx) }

// CartCount is how many items the user has in the cart.
func (sh shop) CartCount(userID int) (int, error) {
	lines, err := sh.store.Cart(sh.ctx, userID)
	n := 0
	for _, l := range lines {
		n += l.Qty
	}
	return n, err
}

// render renders a page in the site layout with what every page needs.
func (s *site) render(c *fiber.Ctx, name, title string, data fiber.Map) error {
	data["Title"] = title
	data["User"] = currentUser(c)
	data["Shop"] = shop{ctx: c.UserContext(), store: s.store}
	data["CSRF"] = c.Locals(csrfKey) // empty on anonymous pages but /login's
	return c.Render(name, data)
}

// The pages tag nothing by hand: a page depends on what it was built from.
// The tags of its {{cache}} blocks (a card's product:<id>, the sidebar's
// categories) and of the cached reads its handler makes with
// c.UserContext() (the product page's product:<id>) reach the page by
// themselves, so an InvalidateTags of any of them renders it afresh.

func (s *site) home(c *fiber.Ctx) error {
	products, err := s.store.Products(c.UserContext(), "", 24)
	if err != nil {
		return err
	}
	return s.render(c, "pages/home", "Shop", fiber.Map{"Heading": "Best rated", "Products": products})
}

func (s *site) category(c *fiber.Ctx) error {
	slug := c.Params("slug")
	products, err := s.store.Products(c.UserContext(), slug, 48)
	if err != nil {
		return err
	}
	if len(products) == 0 {
		return fiber.ErrNotFound
	}
	return s.render(c, "pages/home", products[0].Category, fiber.Map{"Heading": products[0].Category, "Products": products})
}

// productParam returns the product the :id route parameter names; a 404
// when there is none.
func (s *site) productParam(c *fiber.Ctx) (Product, error) {
	id, err := strconv.Atoi(c.Params("id"))
	if err != nil || id <= 0 {
		return Product{}, fiber.ErrNotFound
	}
	p, err := s.store.Product(c.UserContext(), id)
	if errors.Is(err, ErrNotFound) {
		return Product{}, fiber.ErrNotFound
	}
	return p, err
}

func (s *site) product(c *fiber.Ctx) error {
	id, err := strconv.Atoi(c.Params("id"))
	if err != nil || id <= 0 {
		return fiber.ErrNotFound
	}
	// Cached under the product's tag: the page depends on it.
	p, err := cachekit.FetchContext(c.UserContext(), s.cache, productTag(id), cachekit.DefaultTTL, func(ctx context.Context) (Product, error) {
		return s.store.Product(ctx, id)
	}, productTag(id))
	if errors.Is(err, ErrNotFound) {
		return fiber.ErrNotFound
	}
	if err != nil {
		return err
	}
	reviews, err := s.store.RecentReviews(c.UserContext(), id, 5)
	if err != nil {
		return err
	}
	return s.render(c, "pages/product", p.Name, fiber.Map{"Product": p, "Reviews": reviews})
}

func productTag(id int) string { return "product:" + strconv.Itoa(id) }

func (s *site) loginForm(c *fiber.Ctx) error {
	users, err := s.store.Users(c.UserContext())
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store") // it carries the visitor's CSRF token
	return s.render(c, "pages/login", "Log in", fiber.Map{"Users": users, "Selected": ""})
}

func (s *site) login(c *fiber.Ctx) error {
	if s.loginBlocked(c) {
		return fiber.NewError(fiber.StatusTooManyRequests, "Too many failed logins from your address; try again in a quarter of an hour.")
	}
	name := c.FormValue("user")
	u, err := s.store.User(c.UserContext(), name)
	refuse := ""
	switch {
	case errors.Is(err, ErrNotFound):
		refuse = "User: there is no such customer."
	case err != nil:
		return err
	case u.Admin && !s.adminPassword(c.FormValue("password")):
		refuse = "Password: the admin logs in with the admin token as password."
	}
	if refuse != "" {
		s.loginFailed(c)
		users, err := s.store.Users(c.UserContext())
		if err != nil {
			return err
		}
		c.Status(fiber.StatusUnprocessableEntity)
		return s.render(c, "pages/login", "Log in", fiber.Map{"Users": users, "Error": refuse, "Selected": name})
	}
	token, err := s.store.Login(c.UserContext(), u)
	if err != nil {
		return err
	}
	c.Cookie(&fiber.Cookie{Name: sessionCookie, Value: token, Path: "/", HTTPOnly: true, SameSite: "Lax", MaxAge: 86400})
	rotateCSRF(c)
	return c.Redirect("/", fiber.StatusSeeOther)
}

func (s *site) logout(c *fiber.Ctx) error {
	if token := c.Cookies(sessionCookie); token != "" {
		if err := s.store.Logout(c.UserContext(), token); err != nil {
			return err
		}
	}
	c.ClearCookie(sessionCookie)
	rotateCSRF(c)
	return c.Redirect("/", fiber.StatusSeeOther)
}

func (s *site) account(c *fiber.Ctx) error {
	if currentUser(c) == nil {
		return c.Redirect("/login", fiber.StatusSeeOther)
	}
	return s.render(c, "pages/account", "Account", fiber.Map{})
}

func (s *site) cart(c *fiber.Ctx) error {
	data := fiber.Map{}
	if u := currentUser(c); u != nil {
		lines, err := s.store.Cart(c.UserContext(), u.ID)
		if err != nil {
			return err
		}
		data["Lines"] = lines
	}
	return s.render(c, "pages/cart", "Cart", data)
}

func (s *site) addToCart(c *fiber.Ctx) error {
	u := currentUser(c)
	if u == nil {
		return c.Redirect("/login", fiber.StatusSeeOther)
	}
	p, err := s.productParam(c)
	if err != nil {
		return err
	}
	if err := s.store.AddToCart(c.UserContext(), u.ID, p.ID); err != nil {
		return err
	}
	// The greeting fragment shows the cart count.
	s.invalidate(fmt.Sprintf("cart:%d", u.ID))
	return c.Redirect("/cart", fiber.StatusSeeOther)
}

func (s *site) editForm(c *fiber.Ctx) error {
	p, err := s.productParam(c)
	if err != nil {
		return err
	}
	fibercache.NeverCache(c) // Django's never_cache: the form holds this session's CSRF token
	form := productForm{Name: p.Name, Price: strings.TrimPrefix(p.Price(), "$"), Description: p.Description}
	return s.render(c, "pages/edit", "Edit "+p.Name, fiber.Map{"Product": p, "Form": form, "Saved": c.Query("saved") == "1"})
}

func (s *site) edit(c *fiber.Ctx) error {
	p, err := s.productParam(c)
	if err != nil {
		return err
	}
	id := p.ID
	form := productForm{Name: c.FormValue("name"), Price: c.FormValue("price"), Description: c.FormValue("description")}
	name, desc, cents, errs := parseProductForm(form)
	if len(errs) > 0 {
		c.Status(fiber.StatusUnprocessableEntity)
		c.Set(fiber.HeaderCacheControl, "no-store")
		return s.render(c, "pages/edit", "Edit "+p.Name, fiber.Map{"Product": p, "Form": form, "Errors": errs})
	}
	if err := s.store.UpdateProduct(c.UserContext(), id, name, desc, cents); err != nil {
		return err
	}
	// Every page and fragment that shows the product goes at once: its
	// card, the cached product, and every page built from either carry
	// product:<id>.
	s.invalidate(productTag(id))
	return c.Redirect(fmt.Sprintf("/admin/products/%d?saved=1", id), fiber.StatusSeeOther)
}

// invalidate drops what shows the tags. The change is saved already, so a
// cache that cannot take the invalidation now (Redis down or frozen) is not
// the user's failure: InvalidateTags has dropped this instance's copies,
// reads the tags' entries as misses here and retries the write in the
// background; the error is logged.
func (s *site) invalidate(tags ...string) {
	if err := s.cache.InvalidateTags(tags...); err != nil {
		slog.Warn("sample-site: invalidation not taken by the store now; retried in the background", "tags", tags, "err", err)
	}
}

func randomToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
