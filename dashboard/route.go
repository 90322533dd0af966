package dashboard

import (
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"
)

// routeResolver names the route a request belongs to. After the chain ran,
// c.Route() is the last route the request reached: the endpoint on a miss
// or a bypass, but a middleware registered with app.Use when the
// site-wide page cache answered a hit without calling the handler (fiber
// gives such a route the request's method and its own prefix, "GET /").
// Endpoint routes are told apart by their handlers, taken from
// app.GetRoutes(true), which leaves middleware out. A request that ended
// in a middleware has its path matched against the endpoint routes, as
// fiber's router would have matched it, and the answer is remembered per
// path in a bounded memo.
type routeResolver struct {
	max int // memo entries; the memo starts afresh when full

	mu        sync.RWMutex
	app       *fiber.App
	handlers  uint32              // app.HandlersCount() when endpoints was built
	endpoints []fiber.Route       // the app's routes, middleware left out
	labels    map[routeKey]string // an endpoint -> "GET /c/:slug"
	paths     map[pathKey]string  // method and path -> label
}

type pathKey struct{ method, path string }

// routeKey identifies an endpoint route: GetRoutes copies each Route but
// not its Handlers array, so the address of the first handler is the
// route's identity, with the method (app.Get registers a GET and a HEAD
// route on one array).
type routeKey struct {
	method  string
	handler *fiber.Handler
}

func (rr *routeResolver) label(c *fiber.Ctx) string {
	app, rt := c.App(), c.Route()
	k := pathKey{c.Method(), c.Path()}
	rr.mu.RLock()
	if rr.app != app || rr.handlers != app.HandlersCount() {
		rr.mu.RUnlock()
		rr.refresh(app)
		rr.mu.RLock()
	}
	var (
		l               string
		endpoint, known bool
	)
	if len(rt.Handlers) > 0 {
		l, endpoint = rr.labels[routeKey{rt.Method, &rt.Handlers[0]}]
	}
	if endpoint {
		_, known = rr.paths[k]
	} else {
		l, known = rr.paths[k]
	}
	eps := rr.endpoints
	rr.mu.RUnlock()
	switch {
	case known:
		return l
	case endpoint:
		rr.remember(k, l) // for the hits to come, which end in middleware
		return l
	}
	return rr.match(c, k, eps)
}

func (rr *routeResolver) refresh(app *fiber.App) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	rr.app, rr.handlers = app, app.HandlersCount()
	rr.endpoints = app.GetRoutes(true)
	rr.labels = make(map[routeKey]string, len(rr.endpoints))
	for i := range rr.endpoints {
		rt := &rr.endpoints[i]
		if len(rt.Handlers) > 0 {
			rr.labels[routeKey{rt.Method, &rt.Handlers[0]}] = rt.Method + " " + rt.Path
		}
	}
	rr.paths = nil // the routes changed: what was learnt may be wrong
}

func (rr *routeResolver) remember(k pathKey, label string) {
	rr.mu.Lock()
	if rr.paths == nil || len(rr.paths) >= rr.max {
		rr.paths = make(map[pathKey]string)
	}
	// c.Method() and c.Path() alias the request's buffers: copy them.
	rr.paths[pathKey{strings.Clone(k.method), strings.Clone(k.path)}] = label
	rr.mu.Unlock()
}

// match finds the first endpoint route of the request's method whose
// pattern matches its path; Other when there is none (a 404).
func (rr *routeResolver) match(c *fiber.Ctx, k pathKey, eps []fiber.Route) string {
	cfg := c.App().Config()
	label := Other
	for i := range eps {
		rt := &eps[i]
		if rt.Method == k.method && fiber.RoutePatternMatch(k.path, rt.Path, cfg) {
			label = rt.Method + " " + rt.Path
			break
		}
	}
	rr.remember(k, label)
	return label
}
