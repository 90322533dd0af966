package fragments

import (
	"fmt"
	"strconv"
	"strings"
	"text/template/parse"
)

// New nodes and trees, made by parsing small snippets (text/template/parse
// keeps its node constructors unexported).

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
	fmt.Fprintf(&src, "{{%s := %s .}}", linkVar, linkName)
	if b.passDot {
		fmt.Fprintf(&src, "{{%s := %s .}}", dotVar, dotName)
	}
	if b.passRoot {
		fmt.Fprintf(&src, "{{%s := %s .}}", rootVar, rootName)
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
