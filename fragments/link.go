package fragments

import (
	"text/template/parse"
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
	for _, name := range rw.reached(body) {
		if t := rw.byName[name]; t != nil && t.Root != nil && usesBlocks(t.Root) {
			return true
		}
	}
	return false
}
