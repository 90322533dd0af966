package fragments

import (
	"errors"
	"text/template/parse"
)

// Finding the blocks of a list: the {{cache}} and {{endcache}} actions that pair up.

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
