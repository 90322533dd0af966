package loader

import (
	"context"
	"reflect"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
)

// Reload mode and the caches in front of the engine. A page cache
// (fibercache) keeps a page rendered from a template after the template
// changed; in Reload mode the engine tags what it renders with the
// templates it was built from, and drops them when a template changes:
//
//   - A render whose data carries a fill's context under cachekit.BindKey
//     (fibercache binds one while it renders a page) attaches to that fill
//     the tag TemplateTag(name) of every template file of the chain: the
//     page's entry is written under them.
//   - Whenever Reload mode parses a file again (changed, removed, broken)
//     or finds a new one, it invalidates the tags of the templates it
//     changes through the engine's Cache (Engine.Cache), so every page
//     built from them is rendered afresh at its next request.
//   - A page answered from the cache runs no render, so nothing would look
//     at the files: Check (or the Watch handler in front of the page
//     cache) looks at every file before the request reaches it.
//
// The page cache must use the engine's Cache (or one on the same storage,
// prefix and version): the tags live there. Outside Reload mode nothing is
// tagged: templates change only with a Load, at a deploy.

// templateTagPrefix starts the tag of each template.
const templateTagPrefix = "template:"

// TemplateTag returns the tag that, in Reload mode, every page rendered
// from the template name carries, in the fill its render runs under:
// "template:" + name ("template:partials/nav").
func TemplateTag(name string) string { return templateTagPrefix + name }

// maxTagPasses bounds how often a render tags the files of its chain and
// checks them again, when each check finds a file the last pass had not
// tagged (edits landing while it renders).
const maxTagPasses = 4

// bindContext returns the context a render's data carries under
// cachekit.BindKey (c.Render's map, which fiber's c.Bind values join), or
// nil.
func bindContext(binding interface{}) context.Context {
	var v interface{}
	switch m := binding.(type) {
	case nil:
		return nil
	case fiber.Map:
		v = m[cachekit.BindKey]
	case map[string]interface{}:
		v = m[cachekit.BindKey]
	default:
		r := reflect.ValueOf(binding)
		if r.Kind() != reflect.Map || r.Type().Key().Kind() != reflect.String || r.IsNil() {
			return nil
		}
		x := r.MapIndex(reflect.ValueOf(cachekit.BindKey).Convert(r.Type().Key()))
		if !x.IsValid() || !x.CanInterface() {
			return nil
		}
		v = x.Interface()
	}
	ctx, _ := v.(context.Context)
	return ctx
}

// reloadTagged is reloadChain for a render under a fill's context: each
// template file of the chain returned has its tag's generation read (by
// cachekit.AddTags) before a check of that file found it unchanged, so an
// edit after the check, found by a later check, moves a generation the
// page was written under.
func (e *Engine) reloadTagged(ctx context.Context, st *state, page string, layouts []string) (*chain, error) {
	tagged := map[string]bool{}
	// The chain as built so far, tagged before its check: usually the
	// check then finds it unchanged and one pass is enough.
	if c := st.built(page, layouts); c != nil {
		e.tagFiles(ctx, c.deps, tagged)
	}
	for pass := 1; ; pass++ {
		c, err := e.reloadChain(st, page, layouts)
		if c == nil {
			return nil, err
		}
		if !e.tagFiles(ctx, c.deps, tagged) || pass == maxTagPasses {
			return c, err
		}
		// Files this render had not tagged before checking them: check
		// again, now that their generations are read.
		st = e.state.Load()
	}
}

// tagFiles attaches the tags of files not in tagged to the fill of ctx and
// reports whether there were any.
func (e *Engine) tagFiles(ctx context.Context, files []*file, tagged map[string]bool) bool {
	var tags []string
	for _, f := range files {
		if !tagged[f.name] {
			tagged[f.name] = true
			tags = append(tags, TemplateTag(f.name))
		}
	}
	if len(tags) == 0 {
		return false
	}
	// An error (the store is down) makes the fill unstorable: nothing to do.
	_ = cachekit.AddTags(ctx, tags...)
	return true
}

// built returns the chain of page and layouts if this state has built it.
func (st *state) built(page string, layouts []string) *chain {
	return (*st.chains.Load())[keyOf(page, layouts)]
}

// changedTags returns the tags to invalidate for a reload that replaces
// the files of changed (nil: removed) in cur: the templates of each, as
// before and after. When a file is added or removed, a name may now
// resolve to another file's template, so every template's tag is.
func changedTags(cur *parsedFiles, changed map[string]*file, broke []string) []string {
	seen := map[string]bool{}
	var tags []string
	add := func(name string) {
		if !seen[name] {
			seen[name] = true
			tags = append(tags, TemplateTag(name))
		}
	}
	all := false
	for path, nf := range changed {
		old := cur.byPath[path]
		if old == nil || nf == nil {
			all = true
			continue
		}
		add(old.name)
		add(nf.name)
	}
	for _, name := range broke {
		add(name)
	}
	if all {
		for _, f := range cur.files {
			add(f.name)
		}
		for _, nf := range changed {
			if nf != nil {
				add(nf.name)
			}
		}
	}
	return tags
}

// dropPages invalidates tags through the cache of st: the pages built from
// the templates that changed render afresh. A store that cannot take it now
// has the invalidation retried by the Cache (InvalidateTags), and this
// instance reads those entries as misses meanwhile.
func dropPages(st *state, tags []string) {
	if len(tags) == 0 || st == nil || st.cfg.cache == nil {
		return
	}
	_ = st.cfg.cache.InvalidateTags(tags...)
}

// allTags returns the tags of every template of a and b.
func allTags(a, b *parsedFiles) []string {
	seen := map[string]bool{}
	var tags []string
	for _, p := range []*parsedFiles{a, b} {
		for _, f := range p.files {
			if !seen[f.name] {
				seen[f.name] = true
				tags = append(tags, TemplateTag(f.name))
			}
		}
	}
	return tags
}

// Check, in Reload mode, looks at every template file now, as a render
// does for the files of its chain: it parses again those that changed (or
// are new), forgets those removed, and invalidates the tags of the
// templates that changed (TemplateTag), so that pages a cache keeps from
// them render afresh. It returns the first parse error found (the file's
// last good version keeps serving the pages that do not use it). Outside
// Reload mode it does nothing.
//
// A render checks its own chain; Check is for what answers without a
// render: call it in front of a page cache (Watch), so that a template
// edit reaches the next request of every visitor. It walks the whole
// template directory, a stat per file: meant for development.
func (e *Engine) Check() error {
	if !e.reload.Load() {
		return nil
	}
	st := e.state.Load()
	if st == nil {
		_, err := e.lazyLoad()
		return err
	}
	if e.version.Load() != st.cfg.version {
		_, err := e.reloadConfig()
		return err
	}
	now := time.Now().UnixNano()
	_, err := e.update(nil, true)
	e.lastScan.Store(now)
	return err
}

// Watch returns a Fiber handler that runs Check and passes the request on:
// mount it in front of the page cache (app.Use(engine.Watch()) before
// fibercache.New) so that, in Reload mode, a template edit reaches the
// next request even when the cache would answer it. A parse error does not
// fail the request: the renders that use the broken file return it. Outside
// Reload mode it only passes the request on.
func (e *Engine) Watch() fiber.Handler {
	return func(c *fiber.Ctx) error {
		_ = e.Check()
		return c.Next()
	}
}
