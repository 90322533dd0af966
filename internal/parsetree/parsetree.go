// Package parsetree walks text/template parse trees, the one walker that
// fragments (which rewrites {{cache}} blocks), loader (which follows
// {{template}} calls and compiles layouts) and their tests share.
package parsetree

import (
	"reflect"
	"slices"
	"text/template/parse"
)

// Inspect calls fn for n and then, when fn returns true, for every node
// under n, depth first and in source order: the nodes of a list, the pipe of
// an action or a {{template}} call, the declarations and commands of a pipe,
// the arguments of a command, the node of a chain, and the pipe, list and
// else list of an {{if}}, {{range}} or {{with}}. As with go/ast.Inspect, fn
// returning false skips the nodes under n only. Nil nodes, including nil
// pointers held in a parse.Node, are not visited.
func Inspect(n parse.Node, fn func(parse.Node) bool) {
	if isNil(n) || !fn(n) {
		return
	}
	switch n := n.(type) {
	case *parse.ListNode:
		inspectEach(n.Nodes, fn)
	case *parse.ActionNode:
		Inspect(n.Pipe, fn)
	case *parse.PipeNode:
		inspectEach(n.Decl, fn)
		inspectEach(n.Cmds, fn)
	case *parse.CommandNode:
		inspectEach(n.Args, fn)
	case *parse.ChainNode:
		Inspect(n.Node, fn)
	case *parse.IfNode:
		inspectBranch(&n.BranchNode, fn)
	case *parse.RangeNode:
		inspectBranch(&n.BranchNode, fn)
	case *parse.WithNode:
		inspectBranch(&n.BranchNode, fn)
	case *parse.TemplateNode:
		Inspect(n.Pipe, fn)
	}
}

func inspectEach[N parse.Node](nodes []N, fn func(parse.Node) bool) {
	for _, n := range nodes {
		Inspect(n, fn)
	}
}

func inspectBranch(b *parse.BranchNode, fn func(parse.Node) bool) {
	Inspect(b.Pipe, fn)
	Inspect(b.List, fn)
	Inspect(b.ElseList, fn)
}

// isNil reports whether n is nil or a nil pointer: the fields Inspect
// follows (a branch's else list, a {{template}} call's pipe) may be nil.
func isNil(n parse.Node) bool {
	if n == nil {
		return true
	}
	v := reflect.ValueOf(n)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// Calls returns the names of the templates n calls ({{template "name"}}),
// in order of first call, without repeats; nil when it calls none.
func Calls(n parse.Node) []string {
	var names []string
	Inspect(n, func(n parse.Node) bool {
		if t, ok := n.(*parse.TemplateNode); ok && !slices.Contains(names, t.Name) {
			names = append(names, t.Name)
		}
		return true
	})
	return names
}
