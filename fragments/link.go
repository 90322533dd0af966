package fragments

import (
	"text/template/parse"

	"github.com/cachekit/cachekit/internal/parsetree"
)

// A block records its tags in the fill around it through its link (see
// block.go): the enclosing block's frame when it stands in that block's
// body, else its template's $. A block in a template that another block's
// body calls with {{template}} has no link to that block: its $ is the
// call's data. The outer block could then not know the inner one's tags,
// so it is never stored: its body renders every time (the inner blocks
// still cache).

// reachesBlocks reports whether body calls, through {{template}} and
// transitively, a template that holds a {{cache}} block.
func (rw *rewriter) reachesBlocks(body []parse.Node) bool {
	var calls []string
	for _, n := range body {
		calls = append(calls, parsetree.Calls(n)...)
	}
	seen := map[string]bool{}
	for len(calls) > 0 {
		name := calls[len(calls)-1]
		calls = calls[:len(calls)-1]
		if seen[name] {
			continue
		}
		seen[name] = true
		if t := rw.byName[name]; t != nil && t.Root != nil {
			if usesBlocks(t.Root) {
				return true
			}
			calls = append(calls, parsetree.Calls(t.Root)...)
		}
	}
	return false
}
