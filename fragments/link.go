package fragments

import (
	"context"
	"reflect"
	"strconv"
	"strings"
	"text/template/parse"

	"github.com/cachekit/cachekit/internal/parsetree"
)

// A block records its tags in the fill around it through its link (see
// block.go): the enclosing block's frame when it stands in that block's
// body, else its template's $. A template that a block's body calls with
// {{template}} gets its $ from the call's data, which knows nothing of the
// block: so, when the called template reaches blocks, the call is rewritten
// to a linked variant of it,
//
//	{{template "x" PIPE}}  →  {{template "__cachekit:linked:x" (__cachekit_frame $__cachekit_link PIPE)}}
//
// The variant is x rewritten as if it were a block's body: its dot and $
// are the call's data, read from the frame, and its blocks take the frame's
// link, so their tags reach the block around the call (and, through it,
// the page). Calls the variant makes are linked the same way, one variant
// per template however many blocks call it. The template x itself, executed
// directly or called from outside any block, is left as it was.

// A template T with blocks standing in it (not in a block's body) is
// rewritten into a plain copy and a linked one:
//
//	T:                     {{if __cachekit_bound $}}{{template "__cachekit:top:T" $}}{{else}}PLAIN{{end}}
//	__cachekit:top:T:      {{$__cachekit_link := __cachekit_top $}}LINKED
//
// where PLAIN calls each block's func without its link, and LINKED, the
// same nodes copied, calls it with the link. A render without a page's
// context bound (no map $ with a context under cachekit.BindKey) pays one
// call per execution for the check, and nothing per block.

// topPrefix starts the name of a template's linked copy.
const topPrefix = bodyPrefix + "top:"

// splitLinked returns the root that replaces the rewritten root of the
// template named name, and makes its linked copy.
func (rw *rewriter) splitLinked(name string, root *parse.ListNode) (*parse.ListNode, error) {
	linked := root.CopyList()
	parsetree.Inspect(linked, func(n parse.Node) bool {
		a, ok := n.(*parse.ActionNode)
		if !ok || a.Pipe == nil || len(a.Pipe.Cmds) != 1 || len(a.Pipe.Cmds[0].Args) == 0 {
			return true
		}
		cmd := a.Pipe.Cmds[0]
		if id, ok := cmd.Args[0].(*parse.IdentifierNode); ok && rw.topFuncs[id.Ident] {
			link, err := rw.varNode(linkVar)
			if err != nil {
				panic(err) // cannot happen: a fixed snippet
			}
			id.Ident += linkedSuffix
			cmd.Args = append([]parse.Node{id, link}, cmd.Args[1:]...)
		}
		return true
	})
	pre, err := snippet("{{" + linkVar + " := " + topName + " $}}")
	if err != nil {
		return nil, err
	}
	linked.Nodes = append(pre.Root.Nodes, linked.Nodes...)
	t := *rw.tree // keeps the source text, which error messages read
	t.Name = topPrefix + name
	t.Root = linked
	if rw.linkedTops == nil {
		rw.linkedTops = map[string]*parse.Tree{}
	}
	rw.linkedTops[t.Name] = &t
	sw, err := snippet("{{if " + boundName + " $}}{{template " + strconv.Quote(t.Name) + " $}}{{else}}{{end}}")
	if err != nil {
		return nil, err
	}
	ifNode := sw.Root.Nodes[0].(*parse.IfNode)
	ifNode.ElseList.Nodes = root.Nodes
	root.Nodes = []parse.Node{ifNode}
	return root, nil
}

// linkedPrefix starts the name of a template's linked variant.
const linkedPrefix = bodyPrefix + "linked:"

// frameFor is __cachekit_frame: the frame a linked variant executes with.
func frameFor(link context.Context, data reflect.Value) *frame {
	return &frame{dot: data, root: data, ctx: link}
}

// frameNoData is __cachekit_frame0, for a call without data ({{template "x"}}).
func frameNoData(link context.Context) *frame { return &frame{ctx: link} }

// reachesBlocks reports whether nodes call, through {{template}} and
// transitively, a template that holds a {{cache}} block.
func (rw *rewriter) reachesBlocks(nodes []parse.Node) bool {
	for _, name := range rw.reached(nodes) {
		if t := rw.byName[name]; t != nil && t.Root != nil && usesBlocks(t.Root) {
			return true
		}
	}
	return false
}

// reachesRewritten reports whether nodes call, transitively, a template
// whose blocks an earlier Rewrite of the set replaced and that has no
// linked variant: a block around such a call cannot know the inner blocks'
// tags, so it renders every time, storing nothing (the inner blocks still
// cache).
func (rw *rewriter) reachesRewritten(nodes []parse.Node) bool {
	for _, name := range rw.reached(nodes) {
		t := rw.byName[name]
		if t == nil || t.Root == nil || rw.set.Lookup(linkedPrefix+name) != nil {
			continue
		}
		found := false
		inspectIdents(t.Root, func(id string) {
			found = found || (strings.HasPrefix(id, reserved+"_") && id != tagsName)
		})
		if found {
			return true
		}
	}
	return false
}

// linkCall rewrites a {{template}} call inside a block's body whose target
// reaches blocks into a call of the target's linked variant.
func (rw *rewriter) linkCall(n *parse.TemplateNode) error {
	if !rw.reachesBlocks([]parse.Node{n}) {
		return nil
	}
	src := "{{template \"x\" " + frameName + " " + linkVar + " 0}}"
	if n.Pipe == nil {
		src = "{{template \"x\" " + frameNoDataName + " " + linkVar + "}}"
	}
	t, err := snippet("{{" + linkVar + " := 0}}" + src) // declared for the parser
	if err != nil {
		return err
	}
	call := t.Root.Nodes[1].(*parse.TemplateNode)
	if n.Pipe != nil {
		args := call.Pipe.Cmds[0].Args
		args[len(args)-1] = n.Pipe
	}
	n.Pipe = call.Pipe
	n.Name = rw.variant(n.Name)
	return nil
}

// variant returns the name of the linked variant of the template named
// name, queueing it to be made.
func (rw *rewriter) variant(name string) string {
	v := linkedPrefix + name
	if rw.variants == nil {
		rw.variants = map[string]*parse.Tree{}
	}
	if _, ok := rw.variants[v]; !ok {
		rw.variants[v] = nil
		rw.queue = append(rw.queue, name)
	}
	return v
}

// makeVariants makes the queued linked variants, and those they call.
func (rw *rewriter) makeVariants() error {
	for len(rw.queue) > 0 {
		name := rw.queue[0]
		rw.queue = rw.queue[1:]
		orig := rw.byName[name]
		rw.tmpl, rw.tree = name, orig
		rw.vars, rw.dotDepth, rw.rangeDepth = []scopedVar{{name: "$"}}, 0, 0
		// The whole template stands in a block's body: its dot and $ are
		// the frame's.
		rw.open = []*openBlock{{name: "", boundary: len(rw.vars)}}
		root := orig.Root.CopyList()
		if err := rw.list(root); err != nil {
			return err
		}
		rw.open = nil
		pre, err := snippet("{{" + linkVar + " := " + linkName + " .}}{{" + dotVar + " := " + dotName + " .}}{{" + rootVar + " := " + rootName + " .}}")
		if err != nil {
			return err
		}
		root.Nodes = append(pre.Root.Nodes, root.Nodes...)
		t := *orig // keeps the source text, which error messages read
		t.Name = linkedPrefix + name
		t.Root = root
		rw.variants[t.Name] = &t
	}
	return nil
}

// inspectIdents calls fn with every identifier under n.
func inspectIdents(n parse.Node, fn func(string)) {
	parsetree.Inspect(n, func(n parse.Node) bool {
		if id, ok := n.(*parse.IdentifierNode); ok {
			fn(id.Ident)
		}
		return true
	})
}
