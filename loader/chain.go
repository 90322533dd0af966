package loader

import (
	"errors"
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/template/parse"

	"github.com/cachekit/cachekit/internal/parsetree"
)

// state is what renders read: the parsed files and the configuration of one
// Load, and the chains built from them so far. Only chains changes, by
// copy-on-write, so a render reads it with one atomic load and no lock.
type state struct {
	parsed  *parsedFiles
	cfg     *config
	chains  atomic.Pointer[map[chainKey]*chain]
	buildMu sync.Mutex // serialises chain builds (never taken to render a built chain)
}

func newState(parsed *parsedFiles, cfg *config) *state {
	st := &state{parsed: parsed, cfg: cfg}
	m := make(map[chainKey]*chain)
	st.chains.Store(&m)
	return st
}

// chainKey names a page and its layouts. With at most one layout it is built
// without allocating.
type chainKey struct {
	page    string
	layouts string // the layouts joined by "\x00"
}

func keyOf(page string, layouts []string) chainKey {
	switch len(layouts) {
	case 0:
		return chainKey{page: page}
	case 1:
		return chainKey{page: page, layouts: layouts[0]}
	}
	return chainKey{page: page, layouts: strings.Join(layouts, "\x00")}
}

// chain is what one Render executes: an html/template set holding copies of
// the templates a page and its layouts reach, the layout function compiled
// into {{template}} calls, and {{cache}} blocks rewritten.
type chain struct {
	root *template.Template
	deps []*file // the files whose trees it holds
	err  error   // why it could not be built
}

// chain returns the built chain of page and layouts, building it on first
// use. A chain that could not be built is returned with its error (and the
// files it was built from, for Reload mode).
func (st *state) chain(page string, layouts []string) (*chain, error) {
	key := keyOf(page, layouts)
	if c := (*st.chains.Load())[key]; c != nil {
		return c, c.err
	}
	st.buildMu.Lock()
	defer st.buildMu.Unlock()
	m := *st.chains.Load()
	if c := m[key]; c != nil {
		return c, c.err
	}
	c, err := st.build(page, layouts)
	if err != nil {
		var me *MissingError
		if errors.As(err, &me) && me.Caller == "" {
			// The page or a layout does not exist: the name may come from a
			// request, so remember nothing.
			return nil, err
		}
		// A broken chain stays broken until its files change: remember
		// that rather than build it again at every render.
		c.err = err
	}
	next := make(map[chainKey]*chain, len(m)+1)
	for k, v := range m {
		next[k] = v
	}
	next[key] = c
	st.chains.Store(&next)
	return c, c.err
}

// level is one step of a chain: the page (level 0) or a layout.
type level struct {
	root  ref
	name  string            // template name of the root
	reach []string          // names reached from the root, root first
	needs map[string]bool   // reached templates that call the layout function, directly or not
	as    map[string]string // names of this level's own copies, by template name
}

// execName is the name the level executes under: its own copy's, when it
// has one.
func (lv *level) execName() string {
	if as, ok := lv.as[lv.name]; ok {
		return as
	}
	return lv.name
}

// build makes the html/template set of one chain.
//
// Names resolve per chain: the page's own file first, then its layouts'
// files (innermost first), then html/v2's global order. Each layout's
// {{embed}} (the layout function as a lone action) becomes
// {{template "<next inner level>" $}}; when the layout reaches it through
// other templates (a partial that calls {{embed}}), those get a copy for that
// level too, so no function is ever swapped at render time.
func (st *state) build(page string, layouts []string) (*chain, error) {
	levels, err := st.levels(page, layouts)
	if err != nil {
		return nil, err
	}
	refs, err := st.reachAll(levels)
	if err != nil {
		return &chain{deps: refFiles(refs)}, err
	}
	plain := plainNames(levels)
	nameCopies(levels, plain)
	return st.assemble(levels, plain, refs)
}

// levels looks up the page and its layouts.
func (st *state) levels(page string, layouts []string) ([]*level, error) {
	pr, ok := st.parsed.global[page]
	if !ok {
		return nil, st.missing("template", page, nil)
	}
	levels := []*level{{root: pr, name: page}}
	for _, l := range layouts {
		lr, ok := st.parsed.global[l]
		if !ok {
			return nil, st.missing("layout", l, nil)
		}
		levels = append(levels, &level{root: lr, name: l})
	}
	return levels, nil
}

// reachAll finds what each level reaches and, for layouts, which of those
// need a copy of their own. It returns every template resolved, by name,
// also on error.
func (st *state) reachAll(levels []*level) (map[string]ref, error) {
	prio := make([]*file, 0, len(levels))
	for _, lv := range levels {
		if !containsFile(prio, lv.root.file) {
			prio = append(prio, lv.root.file)
		}
	}
	resolve := func(name string) (ref, bool) {
		for _, f := range prio {
			if t := f.trees[name]; t != nil && !t.empty {
				return ref{f, t}, true
			}
		}
		r, ok := st.parsed.global[name]
		return r, ok
	}
	refs := map[string]ref{}
	for _, lv := range levels {
		refs[lv.name] = lv.root
	}
	for i, lv := range levels {
		var err error
		lv.reach, err = st.reach(lv, resolve, refs)
		if err != nil {
			return refs, err
		}
		if i > 0 && st.cfg.layout != "" {
			lv.needs = st.needsCopy(lv.reach, refs)
		}
	}
	return refs, nil
}

// plainNames lists the templates the set holds as they are: everything the
// page reaches, and what layouts reach without a copy of their own.
func plainNames(levels []*level) []string {
	var plain []string
	seen := map[string]bool{}
	for i, lv := range levels {
		for _, name := range lv.reach {
			if (i == 0 || !lv.needs[name]) && !seen[name] {
				seen[name] = true
				plain = append(plain, name)
			}
		}
	}
	return plain
}

// nameCopies names each layout's copies: the template's own name when it is
// free, else name@layoutN.
func nameCopies(levels []*level, plain []string) {
	taken := make(map[string]bool, len(plain))
	for _, name := range plain {
		taken[name] = true
	}
	for i, lv := range levels[1:] {
		lv.as = map[string]string{}
		for _, name := range lv.reach {
			if !lv.needs[name] {
				continue
			}
			as := name
			if taken[as] {
				as = name + "@layout" + strconv.Itoa(i+1)
			}
			taken[as] = true
			lv.as[name] = as
		}
	}
}

// assemble copies the trees into a new set, compiles each layout's copies
// and rewrites the {{cache}} blocks.
func (st *state) assemble(levels []*level, plain []string, refs map[string]ref) (*chain, error) {
	root := levels[len(levels)-1].execName()
	set := template.New(root).Funcs(st.cfg.funcs)
	var deps []*file
	files := map[string]*file{}
	add := func(name string, r ref, edit func(*parse.Tree)) error {
		t := r.tree.Copy()
		t.Name = name
		if edit != nil {
			edit(t)
		}
		if _, err := set.AddParseTree(name, t); err != nil {
			return err // cannot happen: the set has not been executed
		}
		files[name] = r.file
		if !containsFile(deps, r.file) {
			deps = append(deps, r.file)
		}
		return nil
	}
	for _, name := range plain {
		if err := add(name, refs[name], nil); err != nil {
			return nil, err
		}
	}
	for i := 1; i < len(levels); i++ {
		lv, inner := levels[i], levels[i-1].execName()
		for _, name := range lv.reach {
			as, ok := lv.as[name]
			if !ok {
				continue
			}
			edit := func(t *parse.Tree) { compileLayout(t.Root, st.cfg.layout, inner, lv.as) }
			if err := add(as, refs[name], edit); err != nil {
				return nil, err
			}
		}
	}
	if err := rewriteFragments(set, st.cfg.cache, files); err != nil {
		return &chain{deps: deps}, err
	}
	return &chain{root: set.Lookup(root), deps: deps}, nil
}

// reach lists the templates reachable from a level's root, resolving each
// name once per chain (refs), and fails on a call of a template that does
// not exist.
func (st *state) reach(lv *level, resolve func(string) (ref, bool), refs map[string]ref) ([]string, error) {
	out := []string{lv.name}
	seen := map[string]bool{lv.name: true}
	for i := 0; i < len(out); i++ {
		caller := out[i]
		for _, name := range refs[caller].tree.calls {
			if seen[name] {
				continue
			}
			seen[name] = true
			if _, ok := refs[name]; !ok {
				r, ok := resolve(name)
				if !ok {
					return nil, st.missing("template", name, &caller)
				}
				refs[name] = r
			}
			out = append(out, name)
		}
	}
	return out, nil
}

// needsCopy finds the reached templates that call the layout function
// directly or through the templates they call.
func (st *state) needsCopy(reach []string, refs map[string]ref) map[string]bool {
	needs := map[string]bool{}
	for _, name := range reach {
		if hasLayoutCall(refs[name].tree.Root, st.cfg.layout) {
			needs[name] = true
		}
	}
	for changed := true; changed; {
		changed = false
		for _, name := range reach {
			if needs[name] {
				continue
			}
			for _, c := range refs[name].tree.calls {
				if needs[c] {
					needs[name] = true
					changed = true
					break
				}
			}
		}
	}
	return needs
}

// refFiles lists the files of the resolved templates.
func refFiles(refs map[string]ref) []*file {
	var files []*file
	for _, r := range refs {
		if !containsFile(files, r.file) {
			files = append(files, r.file)
		}
	}
	return files
}

func containsFile(files []*file, f *file) bool {
	for _, g := range files {
		if g == f {
			return true
		}
	}
	return false
}

// isLayoutCall reports whether n is the action {{embed}}: the layout
// function alone, with no arguments, pipeline or assignment.
func isLayoutCall(n parse.Node, layout string) bool {
	a, ok := n.(*parse.ActionNode)
	if !ok || a.Pipe == nil || len(a.Pipe.Decl) != 0 || len(a.Pipe.Cmds) != 1 || len(a.Pipe.Cmds[0].Args) != 1 {
		return false
	}
	id, ok := a.Pipe.Cmds[0].Args[0].(*parse.IdentifierNode)
	return ok && id.Ident == layout
}

func hasLayoutCall(root *parse.ListNode, layout string) bool {
	has := false
	parsetree.Inspect(root, func(n parse.Node) bool {
		has = has || isLayoutCall(n, layout)
		return !has
	})
	return has
}

// compileLayout replaces, in a copied tree, each {{embed}} with
// {{template "inner" $}} and renames the calls of templates that have a copy
// for this level.
func compileLayout(root *parse.ListNode, layout, inner string, as map[string]string) {
	parsetree.Inspect(root, func(n parse.Node) bool {
		if t, ok := n.(*parse.TemplateNode); ok {
			if to, ok := as[t.Name]; ok {
				t.Name = to
			}
		}
		return true
	})
	parsetree.Inspect(root, func(n parse.Node) bool {
		l, ok := n.(*parse.ListNode)
		if !ok {
			return true
		}
		for i, c := range l.Nodes {
			if !isLayoutCall(c, layout) {
				continue
			}
			a := c.(*parse.ActionNode)
			l.Nodes[i] = &parse.TemplateNode{
				NodeType: parse.NodeTemplate,
				Pos:      a.Pos,
				Line:     a.Line,
				Name:     inner,
				Pipe: &parse.PipeNode{
					NodeType: parse.NodePipe,
					Pos:      a.Pos,
					Line:     a.Line,
					Cmds: []*parse.CommandNode{{
						NodeType: parse.NodeCommand,
						Pos:      a.Pos,
						Args:     []parse.Node{&parse.VariableNode{NodeType: parse.NodeVariable, Pos: a.Pos, Ident: []string{"$"}}},
					}},
				},
			}
		}
		return true
	})
}

// missing is the error for a template or layout that does not exist, with
// the closest existing names. caller, when set, is the template that calls it.
func (st *state) missing(kind, name string, caller *string) error {
	e := &MissingError{Kind: kind, Name: name, Suggestions: suggest(name, st.parsed.names, st.cfg.ext)}
	if caller != nil {
		e.Caller = *caller
	}
	return e
}

// MissingError is returned by Render for a template or layout that does not
// exist, including a template that the rendered templates call.
type MissingError struct {
	Kind        string   // "template" or "layout"
	Name        string   // the name asked for
	Caller      string   // the template whose {{template}} names it, if any
	Suggestions []string // the closest existing names, closest first
}

// Error names the template and the closest existing names.
func (e *MissingError) Error() string {
	var b strings.Builder
	if e.Caller != "" {
		fmt.Fprintf(&b, "render: template %q calls %s %q, which does not exist", e.Caller, e.Kind, e.Name)
	} else {
		fmt.Fprintf(&b, "render: %s %q does not exist", e.Kind, e.Name)
	}
	if len(e.Suggestions) > 0 {
		b.WriteString("; did you mean ")
		for i, n := range e.Suggestions {
			if i > 0 {
				b.WriteString(" or ")
			}
			b.WriteString(strconv.Quote(n))
		}
		b.WriteString("?")
	}
	return b.String()
}
