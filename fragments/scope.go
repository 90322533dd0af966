package fragments

import (
	"slices"
	"text/template/parse"
)

// The walk that rewrites a template: dot, $ and variables inside a block
// become the body template's own, and every variable is checked against
// the scope the parser saw.

// scopedVar is a variable in scope where the walk stands, as the parser sees
// it.
type scopedVar struct {
	name     string
	poisoned string // declared inside the block at this location: unusable after it
}

// openBlock is a block whose body is being rewritten.
type openBlock struct {
	name       string
	boundary   int // len(vars) at the block: the variables below it are outer ones
	dotDepth   int
	rangeDepth int
	used       []string // outer variables the body uses, in order of first use
}

func (o *openBlock) use(name string) {
	if !slices.Contains(o.used, name) {
		o.used = append(o.used, name)
	}
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
		first := len(rw.blocks)
		if err := rw.node(l.Nodes[i]); err != nil {
			return err
		}
		if rn, ok := l.Nodes[i].(*parse.RangeNode); ok {
			decl, err := rw.prefetch(rn, first)
			if err != nil {
				return err
			}
			if decl != nil {
				out = append(out, decl)
			}
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
			if err := rw.pipe(n.Pipe); err != nil {
				return err
			}
		}
		if len(rw.open) > 0 {
			return rw.linkCall(n)
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
			rw.vars = append(rw.vars, scopedVar{name: name})
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
