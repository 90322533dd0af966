package fragments

import (
	"context"
	"reflect"
	"strings"
	"text/template/parse"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/internal/parsetree"
)

// Collections: the blocks of a {{range}} are read together. When the body
// of a range holds blocks whose keys depend only on the range's element
// and index, on variables declared outside the range and on constants,
//
//	{{range $i, $p := PIPE}}…{{cache "card" 300 $p.ID}}…{{end}}
//
// becomes
//
//	{{$__cachekit_link := __cachekit_pfnew [LINK]}}
//	{{range $i, $p := __cachekit_pf_N $__cachekit_link OUTER... (PIPE)}}…{{__cachekit_M_l $__cachekit_link …}}…{{end}}
//
// __cachekit_pf_N gets the collection PIPE evaluates to (once, where the
// range evaluated it), computes the key of each block for each element,
// reads them all with one cachekit.Cache.Prefetch (a multi-get for the
// entries and one for their tags on a store that has one), keeps the Batch
// in the context __cachekit_pfnew made, and returns the collection for the
// range to iterate. Each block call takes its fresh value from the Batch
// (Batch.Take, which also records its tags in the fill around it) and reads
// the cache as before when the Batch has nothing for its key: a key the
// prefetch computed differently from the block is only a wasted read.
// On the embedded Memory (cachekit.Cache.Remote is false) a read costs no
// round trip, and ranges are left as they are.

const (
	pfNewName = "__cachekit_pfnew"
	pfPrefix  = "__cachekit_pf_"
	// maxPrefetch bounds the iterations one prefetch reads keys for.
	maxPrefetch = 1024
)

// rangePrefetch is the prefetch of one range.
type rangePrefetch struct {
	cache  *cachekit.Cache
	blocks []pfBlock
}

// pfBlock is a block of a range body and how to compute its vary values.
type pfBlock struct {
	b    *block
	vary []pfArg
}

// pfArg computes one vary value from an iteration.
type pfArg struct {
	from   int // argConst, argElem, argIndex, or argOuter+i for outer variable i
	val    reflect.Value
	fields []string
}

const (
	argConst = iota
	argElem
	argIndex
	argOuter
)

type pfKey struct{}

// pfHolder is the Batch of one execution of a prefetched range, and the one
// of the range around it.
type pfHolder struct {
	parent *pfHolder
	batch  *cachekit.Batch
}

// pfNew is __cachekit_pfnew: the link, with a holder for the Batch.
func pfNew(link context.Context) context.Context {
	if link == nil {
		return context.WithValue(context.Background(), pfKey{}, &pfHolder{})
	}
	parent, _ := link.Value(pfKey{}).(*pfHolder)
	return context.WithValue(link, pfKey{}, &pfHolder{parent: parent})
}

// take returns the prefetched fresh value of key, if a range around the
// block read it.
func take(ctx context.Context, key string) (cachekit.Result, bool) {
	h, _ := ctx.Value(pfKey{}).(*pfHolder)
	for ; h != nil; h = h.parent {
		if r, ok := h.batch.Take(ctx, key); ok {
			return r, true
		}
	}
	return cachekit.Result{}, false
}

// fn is __cachekit_pf_N: args are the outer variables, then the collection.
func (p *rangePrefetch) fn(link context.Context, args ...any) reflect.Value {
	coll := args[len(args)-1]
	if coll == nil {
		return reflect.Value{}
	}
	v := reflect.ValueOf(coll)
	if v.Kind() == reflect.Array {
		// Passed as a value, the array lost the addressability its
		// elements had in place (pointer-receiver methods): iterate an
		// addressable copy.
		a := reflect.New(v.Type()).Elem()
		a.Set(v)
		v = a
	}
	if link == nil {
		return v
	}
	h, _ := link.Value(pfKey{}).(*pfHolder)
	if h == nil {
		return v
	}
	outer := make([]reflect.Value, len(args)-1)
	for i, a := range args[:len(args)-1] {
		outer[i] = reflect.ValueOf(a)
	}
	if keys := p.keys(outer, v); len(keys) > 0 {
		h.batch = p.cache.Prefetch(link, keys...)
	}
	return v
}

// keys returns the key of each block for each iteration of a range over
// coll (a slice, an array or a map: another collection is not prefetched).
func (p *rangePrefetch) keys(outer []reflect.Value, coll reflect.Value) []string {
	coll, _ = indirectValue(coll)
	var keys []string
	seen := map[string]bool{}
	add := func(index, elem reflect.Value) {
		for _, pb := range p.blocks {
			if k, ok := pb.key(outer, index, elem); ok && !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	switch coll.Kind() {
	case reflect.Slice, reflect.Array:
		for i := range min(coll.Len(), maxPrefetch) {
			add(reflect.ValueOf(i), coll.Index(i))
		}
	case reflect.Map:
		for n, it := 0, coll.MapRange(); n < maxPrefetch && it.Next(); n++ {
			add(it.Key(), it.Value())
		}
	}
	return keys
}

// key computes the block's key for one iteration, as its call will.
func (pb *pfBlock) key(outer []reflect.Value, index, elem reflect.Value) (string, bool) {
	var buf [4]reflect.Value
	vals := buf[:0]
	for _, a := range pb.vary {
		var v reflect.Value
		switch {
		case a.from == argConst:
			v = a.val
		case a.from == argElem:
			v = elem
		case a.from == argIndex:
			v = index
		default:
			v = outer[a.from-argOuter]
		}
		for _, f := range a.fields {
			var ok bool
			if v, ok = fieldOf(v, f); !ok {
				return "", false
			}
		}
		vals = append(vals, v)
	}
	var eb [simpleEnc]byte
	enc, ok := appendSimpleEnc(eb[:0], vals)
	if !ok {
		var err error
		if enc, err = appendEnc(nil, vals); err != nil {
			return "", false
		}
	}
	var kb [128]byte
	return string(pb.b.appendKey(kb[:0], enc)), true
}

// indirectValue is text/template's indirect: through pointers and
// interfaces, stopping at nil.
func indirectValue(v reflect.Value) (reflect.Value, bool) {
	for ; v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface; v = v.Elem() {
		if v.IsNil() {
			return v, true
		}
	}
	return v, false
}

// fieldOf is text/template's .name on v for a struct field or a map key;
// ok is false for anything else (a method, which text/template would call,
// a nil pointer), which is not prefetched.
func fieldOf(v reflect.Value, name string) (reflect.Value, bool) {
	if !v.IsValid() {
		return v, false
	}
	ptr := v
	if ptr.Kind() != reflect.Interface && ptr.Kind() != reflect.Pointer && ptr.CanAddr() {
		ptr = ptr.Addr()
	}
	if ptr.MethodByName(name).IsValid() {
		return v, false
	}
	v, isNil := indirectValue(v)
	if isNil {
		return v, false
	}
	switch v.Kind() {
	case reflect.Struct:
		tf, ok := v.Type().FieldByName(name)
		if !ok || !tf.IsExported() {
			return v, false
		}
		f, err := v.FieldByIndexErr(tf.Index)
		return f, err == nil
	case reflect.Map:
		nv := reflect.ValueOf(name)
		if !nv.Type().AssignableTo(v.Type().Key()) {
			return v, false
		}
		return v.MapIndex(nv), true
	}
	return v, false
}

// prefetch makes the prefetch of the range rn, whose body the walk has
// just rewritten (the blocks from rw.blocks[first:] on), and returns the
// declaration to put before it, or nil when none of its blocks can be
// prefetched.
func (rw *rewriter) prefetch(rn *parse.RangeNode, first int) (parse.Node, error) {
	if !rw.cache.Remote() || rn.Pipe == nil || rn.Pipe.IsAssign || len(rn.Pipe.Decl) > 2 || first == len(rw.blocks) {
		return nil, nil
	}
	byFunc := map[string]*block{}
	for _, b := range rw.blocks[first:] {
		byFunc[b.funcName] = b
	}
	declared := map[string]bool{}
	parsetree.Inspect(rn.List, func(n parse.Node) bool {
		if p, ok := n.(*parse.PipeNode); ok {
			for _, d := range p.Decl {
				declared[d.Ident[0]] = true
			}
		}
		return true
	})
	elemVar, indexVar := "", ""
	switch len(rn.Pipe.Decl) {
	case 1:
		elemVar = rn.Pipe.Decl[0].Ident[0]
	case 2:
		indexVar, elemVar = rn.Pipe.Decl[0].Ident[0], rn.Pipe.Decl[1].Ident[0]
	}
	top := len(rw.open) == 0
	p := &rangePrefetch{cache: rw.cache}
	var outer []string
	var actions []*parse.ActionNode
	for _, a := range hostActions(rn.List) {
		id := a.Pipe.Cmds[0].Args[0].(*parse.IdentifierNode)
		b := byFunc[strings.TrimSuffix(id.Ident, linkedSuffix)]
		if b == nil || b.unlinked || (!b.dynTTL && b.ttl <= 0 && b.ttl != cachekit.DefaultTTL) {
			continue
		}
		args := a.Pipe.Cmds[0].Args
		pb := pfBlock{b: b}
		ok := true
		for _, n := range args[len(args)-b.nvary:] {
			arg, name, good := pfArgOf(n, elemVar, indexVar, declared)
			if !good {
				ok = false
				break
			}
			if name != "" {
				i := indexOf(outer, name)
				if i < 0 {
					i, outer = len(outer), append(outer, name)
				}
				arg.from = argOuter + i
			}
			pb.vary = append(pb.vary, arg)
		}
		if !ok {
			continue
		}
		p.blocks = append(p.blocks, pb)
		actions = append(actions, a)
	}
	if len(p.blocks) == 0 {
		return nil, nil
	}
	// The blocks standing in the template itself take the link now: the
	// Batch travels in it.
	for i, a := range actions {
		b := p.blocks[i].b
		if id := a.Pipe.Cmds[0].Args[0].(*parse.IdentifierNode); id.Ident == b.funcName {
			link, err := rw.varNode(linkVar)
			if err != nil {
				return nil, err
			}
			id.Ident += linkedSuffix
			a.Pipe.Cmds[0].Args = append([]parse.Node{id, link}, a.Pipe.Cmds[0].Args[1:]...)
			delete(rw.topFuncs, b.funcName)
		}
		b.prefetched = true
	}
	// Named after its first block, whose func name is unique in the set.
	name := pfPrefix + strings.TrimPrefix(p.blocks[0].b.funcName, reserved+"_")
	rw.prefetches = append(rw.prefetches, namedPrefetch{name, p})
	src := "{{" + linkVar + " := " + pfNewName
	if top {
		rw.topFuncs[pfNewName] = true // its linked copy passes the link (splitLinked)
	} else {
		src += linkedSuffix + " " + linkVar
	}
	src += "}}{{" + name + " " + linkVar
	for _, o := range outer {
		src += " " + o
	}
	src += " 0}}"
	decls := ""
	for _, o := range outer {
		if o != "$" {
			decls += "{{" + o + " := 0}}"
		}
	}
	t, err := snippet("{{" + linkVar + " := 0}}" + decls + src)
	if err != nil {
		return nil, err
	}
	nodes := t.Root.Nodes
	decl := nodes[len(nodes)-2].(*parse.ActionNode)
	call := nodes[len(nodes)-1].(*parse.ActionNode).Pipe.Cmds[0]
	inner := rn.Pipe.CopyPipe()
	inner.Decl, inner.IsAssign = nil, false
	call.Args[len(call.Args)-1] = inner
	call.Pos = rn.Pipe.Pos
	rn.Pipe.Cmds = []*parse.CommandNode{call}
	return decl, nil
}

// namedPrefetch is a range prefetch and the name of its func.
type namedPrefetch struct {
	name string
	p    *rangePrefetch
}

// hostActions returns the host actions of blocks in l where the range's
// dot holds: not under a nested range or with.
func hostActions(l *parse.ListNode) []*parse.ActionNode {
	var out []*parse.ActionNode
	if l == nil {
		return nil
	}
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.ActionNode:
			if n.Pipe != nil && len(n.Pipe.Decl) == 0 && len(n.Pipe.Cmds) == 1 && len(n.Pipe.Cmds[0].Args) > 0 {
				if id, ok := n.Pipe.Cmds[0].Args[0].(*parse.IdentifierNode); ok && strings.HasPrefix(id.Ident, reserved+"_") {
					out = append(out, n)
				}
			}
		case *parse.IfNode:
			out = append(out, hostActions(n.List)...)
			out = append(out, hostActions(n.ElseList)...)
		case *parse.ListNode:
			out = append(out, hostActions(n)...)
		}
	}
	return out
}

// pfArgOf compiles a vary argument: a constant, the element or the index
// (with fields), or an outer variable (with fields), whose name it
// returns. good is false for anything else.
func pfArgOf(n parse.Node, elemVar, indexVar string, declared map[string]bool) (arg pfArg, outer string, good bool) {
	switch n := n.(type) {
	case *parse.StringNode:
		return pfArg{from: argConst, val: reflect.ValueOf(n.Text)}, "", true
	case *parse.BoolNode:
		return pfArg{from: argConst, val: reflect.ValueOf(n.True)}, "", true
	case *parse.NumberNode:
		if n.IsInt && !n.IsComplex && !strings.ContainsAny(n.Text, ".eEpPxX_'") && int64(int(n.Int64)) == n.Int64 {
			return pfArg{from: argConst, val: reflect.ValueOf(int(n.Int64))}, "", true
		}
	case *parse.DotNode:
		return pfArg{from: argElem}, "", true
	case *parse.FieldNode:
		return pfArg{from: argElem, fields: n.Ident}, "", true
	case *parse.VariableNode:
		name, fields := n.Ident[0], n.Ident[1:]
		switch {
		case declared[name]:
		case name == elemVar:
			return pfArg{from: argElem, fields: fields}, "", true
		case name == indexVar:
			return pfArg{from: argIndex, fields: fields}, "", true
		default:
			return pfArg{fields: fields}, name, true
		}
	}
	return pfArg{}, "", false
}

func indexOf(l []string, s string) int {
	for i, x := range l {
		if x == s {
			return i
		}
	}
	return -1
}
