package fragments

import (
	"crypto/sha256"
	"io"
	"slices"
	"strconv"
	"text/template/parse"

	"github.com/cachekit/cachekit/internal/parsetree"
)

// digest hashes a block's source: its {{cache}} action, its body, and
// every template the body calls, transitively, by name and source. It does
// not depend on the set beyond those, so the same block gets the same
// digest in every set.
func (rw *rewriter) digest(start *parse.ActionNode, body []parse.Node) [digestLen]byte {
	h := sha256.New()
	io.WriteString(h, "cachekit-fragment/2\x00")
	io.WriteString(h, start.String())
	for _, n := range body {
		io.WriteString(h, n.String())
	}
	names := rw.reached(body)
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

// reached returns the names of the templates body calls, transitively,
// sorted: independent of the order anything is visited in.
func (rw *rewriter) reached(body []parse.Node) []string {
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
			calls = append(calls, parsetree.Calls(t.Root)...)
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
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
