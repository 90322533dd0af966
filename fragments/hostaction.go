package fragments

import (
	"fmt"
	"slices"
	"text/template/parse"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/internal/parsetree"
)

// One {{cache}} block becomes a host action that calls the block's func and
// a body template of its own.

// block rewrites one {{cache}} block and returns the action that replaces
// it. The steps run in this order because each mutates nodes the next one
// reads: the digest reads the source as written, the arguments are then
// rewritten where the block stands, and the body last, in its own scope.
func (rw *rewriter) block(start *parse.ActionNode, bodyNodes []parse.Node) (parse.Node, error) {
	b, ha, err := rw.header(start)
	if err != nil {
		return nil, err
	}
	b.digest = rw.digest(start, bodyNodes)
	b.unlinked = rw.reachesRewritten(bodyNodes)
	if err := rw.placeArgs(start, ha); err != nil {
		return nil, err
	}
	body, used, err := rw.body(b, start, bodyNodes, ha)
	if err != nil {
		return nil, err
	}
	b.nvars = len(ha.vars)
	b.setArgs()
	b.funcName = fmt.Sprintf("%s_%d_%s", reserved, rw.next, identPart(b.name))
	b.bodyName = fmt.Sprintf("%s%s:%s#%d", bodyPrefix, rw.tmpl, b.name, rw.next)
	rw.next++
	if b.bodyTree, err = rw.bodyTree(b, used, body); err != nil {
		return nil, err
	}
	action, err := rw.hostAction(b, start.Pipe.Cmds[0].Args[0].(*parse.IdentifierNode), ha)
	if err != nil {
		return nil, err
	}
	rw.blocks = append(rw.blocks, b)
	return action, nil
}

// hostArgs are the arguments of a block's host action (see block.fn).
type hostArgs struct {
	link      *parse.VariableNode // always passed first: see block.link
	dot, root parse.Node          // passed when the body uses them
	vars      []parse.Node        // the outer variables the body uses
	ttl       parse.Node          // when it is computed at render: nil for a literal
	tags      []parse.Node        // the (tags ...) arguments, calling __cachekit_tags
	vary      []parse.Node
}

// header reads a {{cache "name" ttl vary... (tags ...)}} action: the block's
// name and literal ttl, and its remaining arguments as written.
func (rw *rewriter) header(start *parse.ActionNode) (*block, *hostArgs, error) {
	args := start.Pipe.Cmds[0].Args[1:]
	if len(args) == 0 {
		return nil, nil, rw.errorf(start, "", "{{cache}} has no name: {{cache \"name\" ttl vary...}}")
	}
	sn, ok := args[0].(*parse.StringNode)
	if !ok {
		return nil, nil, rw.errorf(start, "", "the name of a {{cache}} block must be a string literal, not %s", args[0])
	}
	name := sn.Text
	if name == "" {
		return nil, nil, rw.errorf(start, "", "the name of a {{cache}} block is empty")
	}
	rest := args[1:]
	if len(rest) == 0 || isTags(rest[0]) {
		return nil, nil, rw.errorf(start, name, "no ttl: give seconds, a duration such as \"5m\", or a time.Duration (0 renders every time, nil never expires)")
	}
	b := &block{
		name:      name,
		tmpl:      rw.tmpl,
		loc:       rw.location(start),
		cache:     rw.cache,
		keyPrefix: keyPrefix(name),
		tags:      []string{BlockTag(name)},
	}
	ttl, dyn, err := literalTTL(rest[0])
	if err != nil {
		return nil, nil, rw.errorf(start, name, "%v", err)
	}
	b.ttl, b.dynTTL = ttl, dyn
	ha := &hostArgs{}
	if dyn {
		ha.ttl = rest[0]
	}
	for _, a := range rest[1:] {
		if isTags(a) {
			ha.tags = append(ha.tags, a)
		} else {
			ha.vary = append(ha.vary, a)
		}
	}
	b.ntags, b.nvary = len(ha.tags), len(ha.vary)
	b.collide = rw.collide
	if b.nvary == 0 {
		b.staticEnc = []byte{encVersion}
		b.staticKey = string(b.appendKey(nil, b.staticEnc))
	}
	return b, ha, nil
}

// placeArgs rewrites the arguments of the host action, which are evaluated
// where the block stands, and makes the ones that pass its dot and $.
func (rw *rewriter) placeArgs(start *parse.ActionNode, ha *hostArgs) error {
	var err error
	if ha.ttl != nil {
		if ha.ttl, err = rw.expr(ha.ttl); err != nil {
			return err
		}
	}
	for _, a := range ha.tags {
		a.(*parse.PipeNode).Cmds[0].Args[0].(*parse.IdentifierNode).Ident = tagsName
	}
	for _, l := range [][]parse.Node{ha.tags, ha.vary} {
		for i, a := range l {
			if l[i], err = rw.expr(a); err != nil {
				return err
			}
		}
	}
	if ha.dot, err = rw.dotExpr(start); err != nil {
		return err
	}
	root, err := rw.varNode(rootVar)
	if err != nil {
		return err
	}
	if len(rw.open) == 0 {
		root.Ident[0] = "$"
	}
	ha.root = root
	// The link: $__cachekit_link, declared at the top of the template
	// (from $: a render's map data may carry a page's context under
	// cachekit.BindKey), or in the prologue of the enclosing block's body.
	if ha.link, err = rw.varNode(linkVar); err != nil {
		return err
	}
	return nil
}

// body rewrites the block's body in the block's own scope, and returns it
// with the outer variables it uses, in order of first use; it adds those to
// the host action's arguments. It sets whether the body uses dot and $, and
// leaves the variables the body declared in scope after the block, unusable.
func (rw *rewriter) body(b *block, start *parse.ActionNode, nodes []parse.Node, ha *hostArgs) (*parse.ListNode, []string, error) {
	ob := &openBlock{name: b.name, boundary: len(rw.vars), dotDepth: rw.dotDepth, rangeDepth: rw.rangeDepth}
	rw.open = append(rw.open, ob)
	body := &parse.ListNode{NodeType: parse.NodeList, Pos: start.Pos, Nodes: slices.Clone(nodes)}
	err := rw.list(body)
	rw.open = rw.open[:len(rw.open)-1]
	declared := slices.Clone(rw.vars[ob.boundary:])
	rw.vars = rw.vars[:ob.boundary]
	if err != nil {
		return nil, nil, err
	}
	// Resolved before the body's own variables come back into scope, which
	// may shadow them.
	for _, v := range ob.used {
		vn, err := rw.varNode(v)
		if err != nil {
			return nil, nil, err
		}
		if _, err := rw.resolve(vn, v); err != nil {
			return nil, nil, err
		}
		ha.vars = append(ha.vars, vn)
	}
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
	for _, d := range declared {
		rw.vars = append(rw.vars, scopedVar{name: d.name, poisoned: b.loc})
	}
	return body, ob.used, nil
}

// hostAction makes the action that replaces a block:
//
//	{{__cachekit_N ARGS}}, or in a block's body {{__cachekit_N_l $__cachekit_link ARGS}}
//
// with ARGS [.] [$] <outer vars> [ttl] <tags> <vary>. A block standing in
// its template itself is called without its link, which costs an argument
// per call; the template's linked copy, executed when a page's context is
// bound, calls it with the link (splitLinked). The function name keeps the
// position of the block's "cache".
func (rw *rewriter) hostAction(b *block, cacheIdent *parse.IdentifierNode, ha *hostArgs) (parse.Node, error) {
	host, err := snippet("{{" + b.funcName + "}}")
	if err != nil {
		return nil, err
	}
	action := host.Root.Nodes[0].(*parse.ActionNode)
	id := cacheIdent.Copy().(*parse.IdentifierNode)
	id.Ident = b.funcName
	args := []parse.Node{id}
	if len(rw.open) == 0 {
		rw.topFuncs[b.funcName] = true
	} else {
		id.Ident += linkedSuffix
		args = append(args, ha.link)
	}
	if b.passDot {
		args = append(args, ha.dot)
	}
	if b.passRoot {
		args = append(args, ha.root)
	}
	args = append(args, ha.vars...)
	if ha.ttl != nil {
		args = append(args, ha.ttl)
	}
	args = append(args, ha.tags...)
	args = append(args, ha.vary...)
	action.Pipe.Cmds[0].Args = args
	return action, nil
}

// linkedSuffix ends the name of a block's func that takes its link first.
const linkedSuffix = "_l"

func isTags(n parse.Node) bool {
	p, ok := n.(*parse.PipeNode)
	if !ok || len(p.Decl) > 0 || len(p.Cmds) != 1 || len(p.Cmds[0].Args) == 0 {
		return false
	}
	id, ok := p.Cmds[0].Args[0].(*parse.IdentifierNode)
	return ok && (id.Ident == "tags" || id.Ident == tagsName)
}

// literalTTL checks a literal ttl: seconds, a duration string, or nil for
// cachekit.NoExpiry; a negative literal is an error (write 0 to render every
// time). dyn is true when the ttl is computed at render.
func literalTTL(n parse.Node) (ttl time.Duration, dyn bool, err error) {
	switch n := n.(type) {
	case *parse.NumberNode:
		switch {
		case n.IsInt:
			if n.Int64 < 0 {
				return 0, false, fmt.Errorf("ttl %s is negative: write 0 to render every time", n.Text)
			}
			if n.Int64 > int64(1<<63-1)/int64(time.Second) {
				return 0, false, fmt.Errorf("ttl %s seconds is too large", n.Text)
			}
			return time.Duration(n.Int64) * time.Second, false, nil
		case n.IsUint:
			return 0, false, fmt.Errorf("ttl %s seconds is too large", n.Text)
		case n.IsFloat:
			if n.Float64 < 0 {
				return 0, false, fmt.Errorf("ttl %s is negative: write 0 to render every time", n.Text)
			}
			if n.Float64*float64(time.Second) >= 1<<63 {
				return 0, false, fmt.Errorf("ttl %s seconds is too large", n.Text)
			}
			return time.Duration(n.Float64 * float64(time.Second)), false, nil
		}
		return 0, false, fmt.Errorf("ttl %s is not a number of seconds", n.Text)
	case *parse.StringNode:
		d, err := parseTTL(n.Text, false)
		return d, false, err
	case *parse.NilNode: // Django's {% cache None %}
		return cachekit.NoExpiry, false, nil
	case *parse.BoolNode:
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
