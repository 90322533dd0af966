package fragments

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/template/parse"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/internal/parsetree"
)

// How a block is rewritten. In the set's parse trees,
//
//	{{cache "name" ttl vary... (tags ...)}} BODY {{endcache}}
//
// becomes one action in the host template,
//
//	{{__cachekit_N . $ $v1 $v2 [ttl] (__cachekit_tags ...) vary...}}
//
// where $v1, $v2 are the variables declared outside the block that BODY
// uses (. and $ are passed only when BODY uses them), and BODY moves into a
// template of its own:
//
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
	reserved   = "__cachekit"
	bodyPrefix = "__cachekit:"
	tagsName   = "__cachekit_tags"
	dotName    = "__cachekit_dot"
	rootName   = "__cachekit_root"
	varName    = "__cachekit_var"
	dotVar     = "$__cachekit_dot"
	rootVar    = "$__cachekit_root"
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
	return rewrite(set, c)
}

func rewrite(set *template.Template, c *cachekit.Cache) (err error) {
	if set == nil {
		return errors.New("fragments: Rewrite of a nil template set")
	}
	if c == nil {
		return errors.New("fragments: Rewrite with a nil *cachekit.Cache")
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("fragments: Rewrite: internal error: %v", r)
		}
	}()

	var tmpls []*template.Template
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

	rw := &rewriter{
		set:    set,
		cache:  c,
		next:   existing,
		byName: make(map[string]*parse.Tree, len(tmpls)),
	}
	var todo []*template.Template
	for _, t := range tmpls {
		rw.byName[t.Name()] = t.Tree
		if usesBlocks(t.Tree.Root) {
			todo = append(todo, t)
		}
	}
	if len(todo) == 0 {
		return nil
	}

	// Check every block's HTML context on the untouched trees.
	if err := checkContexts(tmpls, rw.byName); err != nil {
		return err
	}

	type swap struct {
		tree *parse.Tree
		root *parse.ListNode
	}
	var swaps []swap
	done := map[*parse.Tree]bool{}
	for _, t := range todo {
		if done[t.Tree] {
			continue
		}
		done[t.Tree] = true
		rw.tmpl, rw.tree = t.Name(), t.Tree
		rw.vars, rw.open, rw.dotDepth, rw.rangeDepth = []varEnt{{name: "$"}}, nil, 0, 0
		root := t.Tree.Root.CopyList()
		if err := rw.list(root); err != nil {
			return err
		}
		swaps = append(swaps, swap{t.Tree, root})
	}

	// One name, one fragment.
	seen := map[string]*block{}
	for _, b := range rw.blocks {
		if o := seen[b.name]; o != nil && o.digest != b.digest {
			return &Error{Template: b.tmpl, Location: b.loc, Line: lineOf(b.loc), Block: b.name,
				Err: fmt.Errorf("another block has this name but a different body (%s): blocks with one name share their cache entries; give each block its own name", o.loc)}
		}
		seen[b.name] = b
	}

	// Commit: body templates, then funcs, then the new roots.
	for _, b := range rw.blocks {
		bt, err := set.AddParseTree(b.bodyName, b.bodyTree)
		if err != nil {
			return fmt.Errorf("fragments: Rewrite: %w", err)
		}
		b.body = bt
	}
	funcs := template.FuncMap{
		tagsName: tagsFunc,
		dotName:  frameDot,
		rootName: frameRoot,
		varName:  frameVar,
	}
	for _, b := range rw.blocks {
		funcs[b.funcName] = b.fn()
	}
	set.Funcs(funcs)
	for _, s := range swaps {
		s.tree.Root = s.root
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

type varEnt struct {
	name     string
	poisoned string // declared inside the block at this location: unusable after it
}

// openBlock is a block whose body is being rewritten.
type openBlock struct {
	name       string
	boundary   int // len(vars) at the block: entries below are outer variables
	dotDepth   int
	rangeDepth int
	used       []string // outer variables the body uses, in order of first use
}

func (o *openBlock) use(name string) {
	if !slices.Contains(o.used, name) {
		o.used = append(o.used, name)
	}
}

type rewriter struct {
	set    *template.Template
	cache  *cachekit.Cache
	byName map[string]*parse.Tree
	next   int
	blocks []*block

	srcMemo map[string]string

	// the template being rewritten
	tmpl       string
	tree       *parse.Tree
	vars       []varEnt // variables in scope, as the parser sees them
	open       []*openBlock
	dotDepth   int // with/range bodies entered: dot is rebound
	rangeDepth int
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

const (
	notBlock = iota
	blockStart
	blockEnd
)

// blockKind classifies an action as {{cache ...}}, {{endcache}} or neither.
func blockKind(n parse.Node) (int, error) {
	a, ok := n.(*parse.ActionNode)
	if !ok || a.Pipe == nil || len(a.Pipe.Cmds) == 0 || len(a.Pipe.Cmds[0].Args) == 0 {
		return notBlock, nil
	}
	id, ok := a.Pipe.Cmds[0].Args[0].(*parse.IdentifierNode)
	if !ok {
		return notBlock, nil
	}
	switch id.Ident {
	case "cache":
		if len(a.Pipe.Decl) > 0 || len(a.Pipe.Cmds) > 1 {
			return notBlock, errors.New("{{cache}} must be an action of its own: no variable, no pipeline")
		}
		return blockStart, nil
	case "endcache":
		if len(a.Pipe.Decl) > 0 || len(a.Pipe.Cmds) > 1 || len(a.Pipe.Cmds[0].Args) > 1 {
			return notBlock, errors.New("{{endcache}} takes no arguments")
		}
		return blockEnd, nil
	}
	return notBlock, nil
}

// pairs matches the outermost {{cache}}/{{endcache}} pairs of one list.
func (rw *rewriter) pairs(l *parse.ListNode) (map[int]int, error) {
	var stack []int
	var m map[int]int
	for i, n := range l.Nodes {
		k, err := blockKind(n)
		if err != nil {
			return nil, rw.errorf(n, "", "%v", err)
		}
		switch k {
		case blockStart:
			stack = append(stack, i)
		case blockEnd:
			if len(stack) == 0 {
				return nil, rw.errorf(n, "", "{{endcache}} without a {{cache}} before it at the same level (a block opens and closes in the same {{if}}, {{range}}, {{with}} or {{define}})")
			}
			s := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				if m == nil {
					m = map[int]int{}
				}
				m[s] = i
			}
		}
	}
	if len(stack) > 0 {
		n := l.Nodes[stack[0]]
		return nil, rw.errorf(n, startName(n), "no {{endcache}} for this block at the same level (a block opens and closes in the same {{if}}, {{range}}, {{with}} or {{define}})")
	}
	return m, nil
}

// startName returns the name of a {{cache}} action when it has a literal one.
func startName(n parse.Node) string {
	if a, ok := n.(*parse.ActionNode); ok && len(a.Pipe.Cmds[0].Args) > 1 {
		if s, ok := a.Pipe.Cmds[0].Args[1].(*parse.StringNode); ok {
			return s.Text
		}
	}
	return ""
}

// list rewrites the blocks of l and checks the rest of it, in place.
func (rw *rewriter) list(l *parse.ListNode) error {
	if l == nil {
		return nil
	}
	pairs, err := rw.pairs(l)
	if err != nil {
		return err
	}
	out := make([]parse.Node, 0, len(l.Nodes))
	for i := 0; i < len(l.Nodes); i++ {
		if e, ok := pairs[i]; ok {
			host, err := rw.block(l.Nodes[i].(*parse.ActionNode), l.Nodes[i+1:e])
			if err != nil {
				return err
			}
			out = append(out, host)
			i = e
			continue
		}
		if err := rw.node(l.Nodes[i]); err != nil {
			return err
		}
		out = append(out, l.Nodes[i])
	}
	l.Nodes = out
	return nil
}

func (rw *rewriter) node(n parse.Node) error {
	switch n := n.(type) {
	case *parse.ActionNode:
		return rw.pipe(n.Pipe)
	case *parse.IfNode:
		return rw.branch(&n.BranchNode, false, false)
	case *parse.WithNode:
		return rw.branch(&n.BranchNode, true, false)
	case *parse.RangeNode:
		return rw.branch(&n.BranchNode, true, true)
	case *parse.TemplateNode:
		if n.Pipe != nil {
			return rw.pipe(n.Pipe)
		}
	case *parse.BreakNode, *parse.ContinueNode:
		if o := rw.innermost(); o != nil && o.rangeDepth == rw.rangeDepth {
			return rw.errorf(n, o.name, "%s inside the block refers to a {{range}} outside it, which a cached block cannot do", n)
		}
	case *parse.ListNode:
		return rw.list(n)
	}
	return nil
}

func (rw *rewriter) innermost() *openBlock {
	if len(rw.open) == 0 {
		return nil
	}
	return rw.open[len(rw.open)-1]
}

func (rw *rewriter) branch(b *parse.BranchNode, rebindsDot, isRange bool) error {
	mark := len(rw.vars)
	defer func() { rw.vars = rw.vars[:mark] }()
	if err := rw.pipe(b.Pipe); err != nil {
		return err
	}
	if rebindsDot {
		rw.dotDepth++
	}
	if isRange {
		rw.rangeDepth++
	}
	err := rw.list(b.List)
	if rebindsDot {
		rw.dotDepth--
	}
	if isRange {
		rw.rangeDepth--
	}
	if err != nil {
		return err
	}
	// As for the parser, variables declared in the list stay in scope in
	// the else list.
	return rw.list(b.ElseList)
}

// pipe checks and rewrites a pipeline, then declares its variables.
func (rw *rewriter) pipe(p *parse.PipeNode) error {
	if p == nil {
		return nil
	}
	for _, cmd := range p.Cmds {
		for i, a := range cmd.Args {
			na, err := rw.expr(a)
			if err != nil {
				return err
			}
			cmd.Args[i] = na
		}
	}
	for _, d := range p.Decl {
		name := d.Ident[0]
		if name == "$" && len(rw.open) > 0 {
			d.Ident[0] = rootVar
		}
		if !p.IsAssign {
			rw.vars = append(rw.vars, varEnt{name: name})
			continue
		}
		k, err := rw.resolve(d, name)
		if err != nil {
			return err
		}
		for _, o := range rw.open {
			if k >= 0 && k < o.boundary {
				return rw.errorf(d, o.name, "assigns %s, declared outside the block: on a cache hit the body does not run, so the assignment could not take effect", name)
			}
		}
	}
	return nil
}

// expr checks and rewrites one argument.
func (rw *rewriter) expr(n parse.Node) (parse.Node, error) {
	switch n := n.(type) {
	case *parse.IdentifierNode:
		if n.Ident == "cache" || n.Ident == "endcache" {
			return n, rw.errorf(n, "", "%s must be an action of its own: {{cache \"name\" ttl vary...}} ... {{endcache}}", n.Ident)
		}
	case *parse.DotNode:
		if rw.blockDot() {
			return rw.dotVarNode(n, nil)
		}
	case *parse.FieldNode:
		if rw.blockDot() {
			return rw.dotVarNode(n, n.Ident)
		}
	case *parse.VariableNode:
		name := n.Ident[0]
		if name == "$" && len(rw.open) > 0 {
			n.Ident[0] = rootVar
		}
		_, err := rw.resolve(n, name)
		return n, err
	case *parse.ChainNode:
		nn, err := rw.expr(n.Node)
		n.Node = nn
		return n, err
	case *parse.PipeNode:
		return n, rw.pipe(n)
	}
	return n, nil
}

// blockDot reports whether dot, here, is the dot of the innermost block
// being rewritten.
func (rw *rewriter) blockDot() bool {
	o := rw.innermost()
	return o != nil && o.dotDepth == rw.dotDepth
}

// resolve finds the variable a reference names, records it as used by the
// blocks it is outside of, and refuses variables a block declared.
func (rw *rewriter) resolve(n parse.Node, name string) (int, error) {
	k := -1
	for i := len(rw.vars) - 1; i >= 0; i-- {
		if rw.vars[i].name == name {
			k = i
			break
		}
	}
	if k < 0 {
		return k, nil // the parser accepted it; leave it to text/template
	}
	if p := rw.vars[k].poisoned; p != "" {
		return k, rw.errorf(n, "", "%s is declared inside the {{cache}} block at %s and used after it: on a cache hit the body does not run; declare it before the block", name, p)
	}
	if name == "$" {
		return k, nil // passed to every block as its root
	}
	for _, o := range rw.open {
		if k < o.boundary {
			o.use(name)
		}
	}
	return k, nil
}

// block rewrites one {{cache}} block and returns the action that replaces it.
func (rw *rewriter) block(start *parse.ActionNode, bodyNodes []parse.Node) (parse.Node, error) {
	cmd := start.Pipe.Cmds[0]
	args := cmd.Args[1:]
	if len(args) == 0 {
		return nil, rw.errorf(start, "", "{{cache}} has no name: {{cache \"name\" ttl vary...}}")
	}
	sn, ok := args[0].(*parse.StringNode)
	if !ok {
		return nil, rw.errorf(start, "", "the name of a {{cache}} block must be a string literal, not %s", args[0])
	}
	name := sn.Text
	if name == "" {
		return nil, rw.errorf(start, "", "the name of a {{cache}} block is empty")
	}
	rest := args[1:]
	if len(rest) == 0 || isTags(rest[0]) {
		return nil, rw.errorf(start, name, "no ttl: give seconds, a duration such as \"5m\", or a time.Duration (0 renders every time)")
	}
	b := &block{
		name:      name,
		tmpl:      rw.tmpl,
		loc:       rw.location(start),
		cache:     rw.cache,
		keyPrefix: keyPrefix(name),
		tags:      []string{Tag(name)},
	}
	ttlNode := rest[0]
	ttl, dyn, err := literalTTL(ttlNode)
	if err != nil {
		return nil, rw.errorf(start, name, "%v", err)
	}
	b.ttl, b.dynTTL = ttl, dyn
	b.digest = rw.digest(start, bodyNodes)
	var tagArgs, vary []parse.Node
	for _, a := range rest[1:] {
		if isTags(a) {
			id := a.(*parse.PipeNode).Cmds[0].Args[0].(*parse.IdentifierNode)
			id.Ident = tagsName
			tagArgs = append(tagArgs, a)
		} else {
			vary = append(vary, a)
		}
	}
	b.ntags, b.nvary = len(tagArgs), len(vary)
	if b.nvary == 0 {
		key, err := hashVary(nil)
		if err != nil {
			return nil, err
		}
		b.staticKey = b.keyPrefix + key
	}

	// The arguments are evaluated where the block stands.
	if dyn {
		if ttlNode, err = rw.expr(ttlNode); err != nil {
			return nil, err
		}
	}
	for i, a := range tagArgs {
		if tagArgs[i], err = rw.expr(a); err != nil {
			return nil, err
		}
	}
	for i, a := range vary {
		if vary[i], err = rw.expr(a); err != nil {
			return nil, err
		}
	}
	dotArg, err := rw.dotExpr(start)
	if err != nil {
		return nil, err
	}
	rootArg, err := rw.varNode(rootVar)
	if err != nil {
		return nil, err
	}
	if len(rw.open) == 0 {
		rootArg.Ident[0] = "$"
	}

	// The body, with the block's own scope.
	ob := &openBlock{name: name, boundary: len(rw.vars), dotDepth: rw.dotDepth, rangeDepth: rw.rangeDepth}
	rw.open = append(rw.open, ob)
	body := &parse.ListNode{NodeType: parse.NodeList, Pos: start.Pos, Nodes: slices.Clone(bodyNodes)}
	err = rw.list(body)
	rw.open = rw.open[:len(rw.open)-1]
	declared := slices.Clone(rw.vars[ob.boundary:])
	rw.vars = rw.vars[:ob.boundary]
	if err != nil {
		return nil, err
	}
	var varArgs []parse.Node
	for _, v := range ob.used {
		vn, err := rw.varNode(v)
		if err != nil {
			return nil, err
		}
		if _, err := rw.resolve(vn, v); err != nil {
			return nil, err
		}
		varArgs = append(varArgs, vn)
	}
	b.nvars = len(varArgs)
	// Pass dot and $ only when the body uses them.
	parsetree.Inspect(body, func(n parse.Node) bool {
		if v, ok := n.(*parse.VariableNode); ok {
			switch v.Ident[0] {
			case dotVar:
				b.passDot = true
			case rootVar:
				b.passRoot = true
			}
		}
		return true
	})
	// Variables the body declared are in the parser's scope after the
	// block, but unusable.
	for _, d := range declared {
		rw.vars = append(rw.vars, varEnt{name: d.name, poisoned: b.loc})
	}

	b.setArgs()
	b.funcName = fmt.Sprintf("%s_%d_%s", reserved, rw.next, identPart(name))
	b.bodyName = fmt.Sprintf("%s%s:%s#%d", bodyPrefix, rw.tmpl, name, rw.next)
	rw.next++
	if b.bodyTree, err = rw.bodyTree(b, ob.used, body); err != nil {
		return nil, err
	}

	// The action that replaces the block.
	host, err := snippet("{{" + b.funcName + "}}")
	if err != nil {
		return nil, err
	}
	action := host.Root.Nodes[0].(*parse.ActionNode)
	hcmd := action.Pipe.Cmds[0]
	id := cmd.Args[0].Copy().(*parse.IdentifierNode) // keeps the position of "cache"
	id.Ident = b.funcName
	hcmd.Args = []parse.Node{id}
	if b.passDot {
		hcmd.Args = append(hcmd.Args, dotArg)
	}
	if b.passRoot {
		hcmd.Args = append(hcmd.Args, rootArg)
	}
	hcmd.Args = append(hcmd.Args, varArgs...)
	if dyn {
		hcmd.Args = append(hcmd.Args, ttlNode)
	}
	hcmd.Args = append(hcmd.Args, tagArgs...)
	hcmd.Args = append(hcmd.Args, vary...)
	rw.blocks = append(rw.blocks, b)
	return action, nil
}

func isTags(n parse.Node) bool {
	p, ok := n.(*parse.PipeNode)
	if !ok || len(p.Decl) > 0 || len(p.Cmds) != 1 || len(p.Cmds[0].Args) == 0 {
		return false
	}
	id, ok := p.Cmds[0].Args[0].(*parse.IdentifierNode)
	return ok && (id.Ident == "tags" || id.Ident == tagsName)
}

// literalTTL checks a literal ttl. dyn is true when the ttl is computed at
// render.
func literalTTL(n parse.Node) (ttl time.Duration, dyn bool, err error) {
	switch n := n.(type) {
	case *parse.NumberNode:
		switch {
		case n.IsInt:
			if n.Int64 < 0 {
				return 0, false, fmt.Errorf("ttl %s is negative", n.Text)
			}
			if n.Int64 > int64(1<<63-1)/int64(time.Second) {
				return 0, false, fmt.Errorf("ttl %s seconds is too large", n.Text)
			}
			return time.Duration(n.Int64) * time.Second, false, nil
		case n.IsUint:
			return 0, false, fmt.Errorf("ttl %s seconds is too large", n.Text)
		case n.IsFloat:
			if n.Float64 < 0 {
				return 0, false, fmt.Errorf("ttl %s is negative", n.Text)
			}
			if n.Float64*float64(time.Second) >= 1<<63 {
				return 0, false, fmt.Errorf("ttl %s seconds is too large", n.Text)
			}
			return time.Duration(n.Float64 * float64(time.Second)), false, nil
		}
		return 0, false, fmt.Errorf("ttl %s is not a number of seconds", n.Text)
	case *parse.StringNode:
		d, err := parseTTL(n.Text)
		return d, false, err
	case *parse.BoolNode, *parse.NilNode:
		return 0, false, fmt.Errorf("ttl %s is not seconds or a duration", n)
	}
	return 0, true, nil
}

// identPart turns a block name into something usable in a func name.
func identPart(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			b[i] = '_'
		}
	}
	if len(b) > 32 {
		b = b[:32]
	}
	return string(b)
}

// snippet parses a piece of template source made by Rewrite.
func snippet(src string) (*parse.Tree, error) {
	t := parse.New("fragments")
	t.Mode = parse.SkipFuncCheck
	if _, err := t.Parse(src, "{{", "}}", map[string]*parse.Tree{}); err != nil {
		return nil, fmt.Errorf("fragments: internal error: %w", err)
	}
	return t, nil
}

// varNode returns a new variable node for name ("$x").
func (rw *rewriter) varNode(name string) (*parse.VariableNode, error) {
	t, err := snippet("{{$}}")
	if err != nil {
		return nil, err
	}
	v := t.Root.Nodes[0].(*parse.ActionNode).Pipe.Cmds[0].Args[0].(*parse.VariableNode)
	v.Ident = []string{name}
	return v, nil
}

// dotExpr is the argument that passes the dot where a block stands: . or,
// inside an enclosing block's body, that body's $__cachekit_dot.
func (rw *rewriter) dotExpr(at parse.Node) (parse.Node, error) {
	if rw.blockDot() {
		return rw.dotVarNode(at, nil)
	}
	t, err := snippet("{{.}}")
	if err != nil {
		return nil, err
	}
	return t.Root.Nodes[0].(*parse.ActionNode).Pipe.Cmds[0].Args[0], nil
}

// dotVarNode returns $__cachekit_dot.fields standing for a use of the
// block's dot (. or .fields). It is parsed at the line and column of orig,
// so execution errors still point at the template's own source.
func (rw *rewriter) dotVarNode(orig parse.Node, fields []string) (parse.Node, error) {
	prefix, parseName := "", ""
	if loc := rw.location(orig); loc != "" {
		parts := strings.Split(loc, ":")
		if len(parts) >= 3 {
			line, err1 := strconv.Atoi(parts[len(parts)-2])
			col, err2 := strconv.Atoi(parts[len(parts)-1])
			if err1 == nil && err2 == nil && line >= 1 && line < 1<<20 && col >= 0 && col < 1<<20 {
				prefix = strings.Repeat("\n", line-1) + strings.Repeat(" ", max(col-2, 0))
				parseName = strings.Join(parts[:len(parts)-2], ":")
			}
		}
	}
	t, err := snippet(prefix + "{{$}}")
	if err != nil {
		return nil, err
	}
	if parseName != "" {
		t.ParseName = parseName
	}
	l := t.Root.Nodes
	v := l[len(l)-1].(*parse.ActionNode).Pipe.Cmds[0].Args[0].(*parse.VariableNode)
	v.Ident = append([]string{dotVar}, fields...)
	return v, nil
}

// bodyTree builds the template a block's body moves to.
func (rw *rewriter) bodyTree(b *block, vars []string, body *parse.ListNode) (*parse.Tree, error) {
	var src strings.Builder
	if b.passDot {
		fmt.Fprintf(&src, "{{%s := %s .}}", dotVar, dotName)
	}
	if b.passRoot {
		fmt.Fprintf(&src, "{{%s := %s .}}", rootVar, rootName)
	}
	if src.Len() == 0 && len(vars) == 0 {
		src.WriteString("{{/* cachekit */}}") // an empty root would not replace a template
	}
	for i, v := range vars {
		fmt.Fprintf(&src, "{{%s := %s . %d}}", v, varName, i)
	}
	pre, err := snippet(src.String())
	if err != nil {
		return nil, err
	}
	root := pre.Root
	root.Nodes = append(root.Nodes, body.Nodes...)
	// A shallow copy keeps the source text, which error messages about
	// the body's nodes read.
	t := *rw.tree
	t.Name = b.bodyName
	t.Root = root
	return &t, nil
}

// digest hashes a block's source: its {{cache}} action, its body, and
// every template the body calls, transitively, by name and source. It does
// not depend on the set beyond those, so the same block gets the same
// digest in every set.
func (rw *rewriter) digest(start *parse.ActionNode, body []parse.Node) [digestLen]byte {
	h := sha256.New()
	io.WriteString(h, "cachekit-fragment/1\x00")
	io.WriteString(h, start.String())
	var calls []string
	for _, n := range body {
		io.WriteString(h, n.String())
		calls = append(calls, parsetree.Calls(n)...)
	}
	// The closure of called templates, sorted: independent of the order
	// anything is visited in.
	seen := map[string]bool{}
	for len(calls) > 0 {
		name := calls[len(calls)-1]
		calls = calls[:len(calls)-1]
		if seen[name] {
			continue
		}
		seen[name] = true
		if t := rw.byName[name]; t != nil {
			calls = append(calls, parsetree.Calls(t.Root)...)
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		io.WriteString(h, "\x00template\x00")
		io.WriteString(h, strconv.Quote(n))
		io.WriteString(h, "\x00")
		io.WriteString(h, rw.source(n))
	}
	var d [digestLen]byte
	copy(d[:], h.Sum(nil))
	return d
}

// source returns a template's source as parsed (before any rewrite).
func (rw *rewriter) source(name string) string {
	if s, ok := rw.srcMemo[name]; ok {
		return s
	}
	s := "\x00missing"
	if t := rw.byName[name]; t != nil && t.Root != nil {
		s = t.Root.String()
	}
	if rw.srcMemo == nil {
		rw.srcMemo = map[string]string{}
	}
	rw.srcMemo[name] = s
	return s
}
