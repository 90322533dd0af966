package fibercache

import (
	"context"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
)

// A page depends on what it was built from: the render runs under the
// fill's context (cachekit.Policy.Context), which the handler gets as
// c.UserContext() and the template engine as the cachekit.BindKey value of
// c.Render's map (fiber's c.Bind), so the tags of every {{cache}} block
// rendered and every cachekit read made with it join the page's entry.

// pageContext is the context a page renders under: the fill's collector,
// with the deadline, cancellation and values of the user context the
// request had.
type pageContext struct {
	context.Context                 // the request's user context
	fill            context.Context // the fill's: cachekit's collector
}

func (p *pageContext) Value(key any) any {
	if v := p.fill.Value(key); v != nil {
		return v
	}
	return p.Context.Value(key)
}

// enterFill makes the page render of c run under fill, the context of the
// fill the page is built in (or a cache.Collect context), and returns what
// puts c back as it was.
func enterFill(c *fiber.Ctx, fill context.Context) (leave func()) {
	user := c.UserContext()
	ctx := &pageContext{Context: user, fill: fill}
	prevFill := c.Context().UserValue(fillKey{})
	c.SetUserContext(ctx)
	c.Context().SetUserValue(fillKey{}, ctx)
	_ = c.Bind(fiber.Map{cachekit.BindKey: ctx})
	return func() {
		c.SetUserContext(user)
		c.Context().SetUserValue(fillKey{}, prevFill)
		if prev, _ := prevFill.(context.Context); prev != nil {
			_ = c.Bind(fiber.Map{cachekit.BindKey: prev})
		} else {
			_ = c.Bind(fiber.Map{cachekit.BindKey: nil})
		}
	}
}

// fillContext returns the context of the page render c is in, or nil.
func fillContext(c *fiber.Ctx) context.Context {
	ctx, _ := c.Context().UserValue(fillKey{}).(context.Context)
	return ctx
}

// outerFill returns the context of the render of another instance (a site-
// wide New around a Page) that the request is in, so that the outer page
// depends on this one, hit or not; nil when there is none. depth is how
// many instances the request went through before this one: only then can
// there be one, and the hit path reads nothing more.
func (m *middleware) outerFill(c *fiber.Ctx, depth int) context.Context {
	if depth == 0 {
		return nil
	}
	return fillContext(c)
}
