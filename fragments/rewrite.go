package fragments

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"text/template/parse"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/internal/parsetree"
)

// How a block is rewritten. In the set's parse trees,
//
//	{{cache "name" ttl vary... (tags ...)}} BODY {{endcache}}
//
// becomes one action in the host template,
//
//	{{__cachekit_N LINK . $ $v1 $v2 [ttl] (__cachekit_tags ...) vary...}}
//
// where LINK is $__cachekit_link, the context the fragment's dependencies
// are recorded in (see block.go), declared once at the top of a template
// with blocks, {{$__cachekit_link := __cachekit_top $}}, and in the
// prologue of a block's body,
// where $v1, $v2 are the variables declared outside the block that BODY
// uses (. and $ are passed only when BODY uses them), and BODY moves into a
// template of its own:
//
//	{{$__cachekit_link := __cachekit_link .}}
//	{{$__cachekit_dot := __cachekit_dot .}}{{$__cachekit_root := __cachekit_root .}}
//	{{$v1 := __cachekit_var . 0}}{{$v2 := __cachekit_var . 1}}BODY'
//
// BODY' is BODY with every use of the block's dot (., .Field) turned into
// $__cachekit_dot and every $ into $__cachekit_root. __cachekit_N is bound
// at Rewrite to a closure over the block; it looks the fragment up and, on
// a miss, executes the body template with a frame holding dot, $ and the
// variables as the reflect.Values text/template had, so that even
// addressable and missing values mean what they meant in place.
//
// New nodes are made by parsing small snippets with text/template/parse
// (its node constructors are unexported) and grafting them; every node
// taken from the template keeps its position, so errors still name the
// right file and line.

const (
	reserved        = "__cachekit"
	bodyPrefix      = "__cachekit:"
	tagsName        = "__cachekit_tags"
	dotName         = "__cachekit_dot"
	rootName        = "__cachekit_root"
	linkName        = "__cachekit_link"
	topName         = "__cachekit_top"
	boundName       = "__cachekit_bound"
	varName         = "__cachekit_var"
	frameName       = "__cachekit_frame"
	frameNoDataName = "__cachekit_frame0"
	dotVar          = "$__cachekit_dot"
	rootVar         = "$__cachekit_root"
	linkVar         = "$__cachekit_link"
)

// Rewrite turns every {{cache}}…{{endcache}} block in every template of the
// html/template set into a block cached in c. Call it once the set holds all
// its templates and before its first Execute; templates parsed later need
// another call. Errors name the template, line and column of the faulty
// action; on error the set is left unchanged.
//
// Rewrite changes the set's parse trees in place (their roots), adds one
// template per block (named "__cachekit:...") and functions named
// "__cachekit_..." to the set. The trees must not be shared with another
// set (html/template's Clone copies them). Sets are independent: Rewrite
// keeps no state outside the set, and the same block gets the same key in
// every set it is part of.
func Rewrite(set *template.Template, c *cachekit.Cache) error {
	return rewrite(set, c, false)
}

// rewrite is Rewrite; collide makes every key of each block one, whatever
// its vary values (a test's hook: collide_test.go).
func rewrite(set *template.Template, c *cachekit.Cache, collide bool) (err error) {
	if set == nil {
		return errors.New("fragments: Rewrite of a nil template set")
	}
	if c == nil {
		return errors.New("fragments: Rewrite with a nil *cachekit.Cache")
	}
	if err := c.Err(); err != nil {
		return fmt.Errorf("fragments: Rewrite: the Cache cannot work: %w", err)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("fragments: Rewrite: internal error: %v", r)
		}
	}()

	rw, tmpls, todo := newRewriter(set, c)
	rw.collide = collide
	if len(todo) == 0 {
		return nil
	}
	// Check every block's HTML context on the untouched trees.
	if err := checkContexts(tmpls, rw.byName); err != nil {
		return err
	}
	roots, err := rw.rewriteTrees(todo)
	if err != nil {
		return err
	}
	if err := rw.checkNames(); err != nil {
		return err
	}
	return rw.commit(roots)
}

// newRewriter returns a rewriter for the set, with its templates sorted by
// name and those that mention cache or endcache.
func newRewriter(set *template.Template, c *cachekit.Cache) (rw *rewriter, tmpls, todo []*template.Template) {
	existing := 0
	for _, t := range set.Templates() {
		switch {
		case strings.HasPrefix(t.Name(), reserved):
			existing++
		case t.Tree != nil && t.Tree.Root != nil:
			tmpls = append(tmpls, t)
		}
	}
	slices.SortFunc(tmpls, func(a, b *template.Template) int { return strings.Compare(a.Name(), b.Name()) })
	rw = &rewriter{
		set:    set,
		cache:  c,
		next:   existing,
		byName: make(map[string]*parse.Tree, len(tmpls)),
	}
	for _, t := range tmpls {
		rw.byName[t.Name()] = t.Tree
		if usesBlocks(t.Tree.Root) {
			todo = append(todo, t)
		}
	}
	return rw, tmpls, todo
}

// rewriteTrees rewrites a copy of the root of each tree (once, however many
// templates share it) and returns the new roots, not yet in place.
func (rw *rewriter) rewriteTrees(todo []*template.Template) (map[*parse.Tree]*parse.ListNode, error) {
	roots := map[*parse.Tree]*parse.ListNode{}
	for _, t := range todo {
		if roots[t.Tree] != nil {
			continue
		}
		rw.tmpl, rw.tree = t.Name(), t.Tree
		rw.vars, rw.open, rw.dotDepth, rw.rangeDepth = []scopedVar{{name: "$"}}, nil, 0, 0
		root := t.Tree.Root.CopyList()
		rw.topFuncs = map[string]bool{}
		if err := rw.list(root); err != nil {
			return nil, err
		}
		if len(rw.topFuncs) > 0 {
			var err error
			if root, err = rw.splitLinked(t.Name(), root); err != nil {
				return nil, err
			}
		}
		roots[t.Tree] = root
	}
	return roots, rw.makeVariants()
}

// checkNames refuses two blocks of one name with different sources: one
// name, one fragment.
func (rw *rewriter) checkNames() error {
	seen := map[string]*block{}
	for _, b := range rw.blocks {
		if o := seen[b.name]; o != nil && o.digest != b.digest {
			return &Error{Template: b.tmpl, Location: b.loc, Line: lineOf(b.loc), Block: b.name,
				Err: fmt.Errorf("another block has this name but a different body (%s): blocks with one name share their cache entries; give each block its own name", o.loc)}
		}
		seen[b.name] = b
	}
	return nil
}

// commit adds the body templates, then the funcs, then puts the new roots
// in place.
func (rw *rewriter) commit(roots map[*parse.Tree]*parse.ListNode) error {
	for _, b := range rw.blocks {
		bt, err := rw.set.AddParseTree(b.bodyName, b.bodyTree)
		if err != nil {
			return fmt.Errorf("fragments: Rewrite: %w", err)
		}
		b.body = bt
	}
	for name, tree := range rw.linkedTops {
		if _, err := rw.set.AddParseTree(name, tree); err != nil {
			return fmt.Errorf("fragments: Rewrite: %w", err)
		}
	}
	for name, tree := range rw.variants {
		if _, err := rw.set.AddParseTree(name, tree); err != nil {
			return fmt.Errorf("fragments: Rewrite: %w", err)
		}
	}
	funcs := template.FuncMap{
		tagsName:        tagsFunc,
		dotName:         frameDot,
		rootName:        frameRoot,
		linkName:        frameLink,
		topName:         topLink,
		boundName:       bound,
		varName:         frameVar,
		frameName:       frameFor,
		frameNoDataName: frameNoData,
	}
	if rw.cache.Remote() {
		// Over a shared store every render runs the linked copies, under a
		// memo of tag generations (cachekit.Cache.TagMemo): each tag the
		// render's blocks carry is read once per render, not once per
		// block. A page's context (cachekit.BindKey) carries the memo of
		// its fill, which every template it renders shares.
		c := rw.cache
		funcs[boundName] = func(reflect.Value) bool { return true }
		funcs[topName] = func(root reflect.Value) context.Context { return c.TagMemo(topLink(root)) }
	}
	if len(rw.prefetches) > 0 {
		funcs[pfNewName] = func() context.Context { return pfNew(context.Background()) }
		funcs[pfNewName+linkedSuffix] = pfNew
	}
	for _, np := range rw.prefetches {
		funcs[np.name] = np.p.fn
	}
	for _, b := range rw.blocks {
		funcs[b.funcName] = b.fn()
		funcs[b.funcName+linkedSuffix] = b.fnLinked()
	}
	rw.set.Funcs(funcs)
	for tree, root := range roots {
		tree.Root = root
	}
	return nil
}

// usesBlocks reports whether the tree mentions cache or endcache at all.
func usesBlocks(n parse.Node) bool {
	found := false
	parsetree.Inspect(n, func(n parse.Node) bool {
		if id, ok := n.(*parse.IdentifierNode); ok && (id.Ident == "cache" || id.Ident == "endcache") {
			found = true
		}
		return !found
	})
	return found
}

// rewriter is the state of one Rewrite of one set.
type rewriter struct {
	set     *template.Template
	cache   *cachekit.Cache
	byName  map[string]*parse.Tree // the set's trees as parsed, by template name
	next    int                    // number of the next block, unique in the set
	blocks  []*block               // the blocks rewritten so far
	collide bool                   // see rewrite

	srcMemo map[string]string // template sources, by name (see source)

	variants map[string]*parse.Tree // linked variants by name, nil until made (link.go)
	queue    []string               // templates whose variant is still to be made
	// linked copies of the templates with blocks of their own, by name,
	// executed when a page's context is bound (link.go)
	linkedTops map[string]*parse.Tree

	// the template being rewritten
	tmpl       string
	tree       *parse.Tree
	vars       []scopedVar // variables in scope, as the parser sees them
	open       []*openBlock
	dotDepth   int // with/range bodies entered: dot is rebound
	rangeDepth int
	topFuncs   map[string]bool // funcs of the blocks standing in the template itself, not in a body
	prefetches []namedPrefetch // the ranges whose blocks are read together (prefetch.go)
}

func (rw *rewriter) errorf(n parse.Node, block, format string, args ...any) error {
	loc := rw.location(n)
	return &Error{Template: rw.tmpl, Location: loc, Line: lineOf(loc), Block: block, Err: fmt.Errorf(format, args...)}
}

// location returns "name:line:col" of n, or the template name when the
// tree cannot say.
func (rw *rewriter) location(n parse.Node) (loc string) {
	defer func() {
		if recover() != nil {
			loc = rw.tmpl
			if a, ok := n.(*parse.ActionNode); ok {
				loc += ":" + strconv.Itoa(a.Line)
			}
		}
	}()
	loc, _ = rw.tree.ErrorContext(n)
	return loc
}
