package fragments

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"html/template"
	"reflect"
	"slices"
	"sync"
	"text/template/parse"
	"time"
	"unsafe"

	"github.com/cachekit/cachekit"
)

// digestLen is the length of the source digest stored in front of every
// fragment.
const digestLen = 16

// A stored fragment is
//
//	digest (digestLen bytes) | uvarint len(enc) | enc | HTML
//
// where digest is the block's source digest (digest.go) and enc the
// canonical encoding of its vary values (hash.go; for a block without vary
// values, the encoding of none). A hit needs both to be the block's own:
// the key is only a hash of enc, which two values may share.

// block is one rewritten {{cache}} block of one template set. Its call
// method is bound into the set's func map at Rewrite; it keeps no state
// between calls.
type block struct {
	name     string
	funcName string
	tmpl     string // template holding the {{cache}} action
	loc      string // its "name:line:col"
	digest   [digestLen]byte
	unlinked bool // its body calls templates an earlier Rewrite changed, without a linked variant: never stored (link.go)
	// prefetched: it stands in a {{range}} whose blocks are read together,
	// and looks in its link for what the range read (prefetch.go)
	prefetched bool
	// static: its key and ttl are fixed and it stores (no vary values, a
	// literal ttl that stores, linked): a hit looks its one key up in the
	// hot layer before anything else (call)
	static bool
	// fixedTTL: a literal ttl that stores, linked, with vary values: call
	// tries the hot layer before anything else when they are of the usual
	// kinds (appendSimpleKey)
	fixedTTL bool

	ttl      time.Duration // when the ttl is a literal
	dynTTL   bool          // the ttl is an argument
	passDot  bool          // dot is an argument
	passRoot bool          // $ is an argument
	nvars    int           // outer variables passed
	ntags    int           // (tags ...) arguments passed
	nvary    int
	nargs    int // arguments of the host action, set by setArgs

	keyPrefix string   // "fragment:<name>:"
	staticKey string   // the key when there are no vary values
	staticEnc []byte   // the vary encoding when there are none
	tags      []string // implicit tags: [BlockTag(name)]
	// collide: every key of the block is one (a test's hook: see
	// collide_test.go), as if every vary encoding hashed alike
	collide bool

	cache    *cachekit.Cache
	bodyName string
	bodyTree *parse.Tree
	body     *template.Template
}

// frame is the data a block's body template executes with: the dot, $ and
// outer variables of the place the block stood.
type frame struct {
	dot, root reflect.Value
	vars      []reflect.Value
	// ctx is the context the body renders under: the fill's own
	// (cachekit.Policy.Context), so the blocks nested in the body record
	// their tags in the fill's entry; or, when the body renders uncached,
	// the one the block found around it.
	ctx context.Context
}

var errNoFrame = errors.New("fragments: this template is the body of a {{cache}} block and cannot be executed directly")

// frameDot, frameRoot and frameVar restore the block's surroundings in the
// body template. They return reflect.Values, which text/template unwraps, so
// a variable gets the very value (addressable or invalid) the block saw.
func frameDot(f *frame) (reflect.Value, error) {
	if f == nil {
		return reflect.Value{}, errNoFrame
	}
	return f.dot, nil
}

func frameRoot(f *frame) (reflect.Value, error) {
	if f == nil {
		return reflect.Value{}, errNoFrame
	}
	return f.root, nil
}

// frameLink is the link of the blocks nested in a body: the context the
// body renders under.
func frameLink(f *frame) (context.Context, error) {
	if f == nil {
		return nil, errNoFrame
	}
	return f.ctx, nil
}

var (
	stringType   = reflect.TypeFor[string]()
	bindKeyValue = reflect.ValueOf(cachekit.BindKey)
)

// bound reports whether topLink finds a link in root: the template's
// linked copy then executes instead of its plain one (link.go).
func bound(root reflect.Value) bool { return topLink(root) != nil }

// topLink is the link of the blocks of a template's linked copy, read once
// per execution from its $: when $ is a map with string keys (fiber.Map: c.Render's data,
// which fiber's c.Bind values join), the context.Context under
// cachekit.BindKey, which fibercache binds while a page renders; else nil.
// The blocks take it as a context.Context, which text/template passes on
// without an allocation.
func topLink(root reflect.Value) context.Context {
	for root.IsValid() && root.Kind() == reflect.Interface && !root.IsNil() {
		root = root.Elem()
	}
	if !root.IsValid() || root.Kind() != reflect.Map || root.Type().Key() != stringType || root.IsNil() {
		return nil
	}
	x := root.MapIndex(bindKeyValue)
	if !x.IsValid() || !x.CanInterface() {
		return nil
	}
	ctx, _ := x.Interface().(context.Context)
	return ctx
}

func frameVar(f *frame, i int) (reflect.Value, error) {
	if f == nil || i < 0 || i >= len(f.vars) {
		return reflect.Value{}, errNoFrame
	}
	return f.vars[i], nil
}

// tagList is what a (tags ...) argument evaluates to.
type tagList []reflect.Value

func tagsFunc(args ...reflect.Value) tagList { return args }

func (b *block) fail(err error) error {
	return &Error{Template: b.tmpl, Location: b.loc, Line: lineOf(b.loc), Block: b.name, Err: err}
}

// renderError marks a body that failed to render, as opposed to a failing
// cache.
type renderError struct{ err error }

func (e *renderError) Error() string { return e.err.Error() }

var bufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// setArgs counts the arguments the block's host action passes.
func (b *block) setArgs() {
	b.nargs = b.nvars + b.ntags + b.nvary
	stores := !b.dynTTL && !b.unlinked && (b.ttl > 0 || b.ttl == cachekit.DefaultTTL)
	b.static = stores && b.nvary == 0
	b.fixedTTL = stores && b.nvary > 0
	for _, p := range []bool{b.passDot, b.passRoot, b.dynTTL} {
		if p {
			b.nargs++
		}
	}
}

// fn returns the function the host action of a block standing in its
// template itself calls, without the link (hostAction):
//
//	{{__cachekit_N [.] [$] <outer vars> [ttl] <tags> <vary>}}
//
// Small arities get a func of their own: text/template calls a variadic
// func through a slice it allocates; these slices stay on the stack (call
// keeps none of its arguments). The func returns the fragment alone and
// reports an error by panicking with it, which text/template turns into the
// same "error calling" execution error as a returned one: a second result
// would cost an allocation per call.
func (b *block) fn() any {
	switch b.nargs {
	case 0:
		return func() template.HTML { return must(b.call(noLink, nil)) }
	case 1:
		return func(x reflect.Value) template.HTML { return must(b.call(noLink, []reflect.Value{x})) }
	case 2:
		return func(x, y reflect.Value) template.HTML { return must(b.call(noLink, []reflect.Value{x, y})) }
	case 3:
		return func(x, y, z reflect.Value) template.HTML {
			return must(b.call(noLink, []reflect.Value{x, y, z}))
		}
	}
	return func(args ...reflect.Value) template.HTML { return must(b.call(noLink, args)) }
}

// noLink is the link of a block with no fill around it: none.
var noLink context.Context

// fnLinked is fn with the block's link first, a context.Context, which
// text/template passes on as it is, nil included: the func of a block in a
// body, or in a template's linked copy.
func (b *block) fnLinked() any {
	switch b.nargs {
	case 0:
		return func(ctx context.Context) template.HTML { return must(b.call(ctx, nil)) }
	case 1:
		return func(ctx context.Context, x reflect.Value) template.HTML {
			return must(b.call(ctx, []reflect.Value{x}))
		}
	case 2:
		return func(ctx context.Context, x, y reflect.Value) template.HTML {
			return must(b.call(ctx, []reflect.Value{x, y}))
		}
	case 3:
		return func(ctx context.Context, x, y, z reflect.Value) template.HTML {
			return must(b.call(ctx, []reflect.Value{x, y, z}))
		}
	}
	return func(ctx context.Context, args ...reflect.Value) template.HTML { return must(b.call(ctx, args)) }
}

// must returns h, or panics with err for text/template to report.
func must(h template.HTML, err error) template.HTML {
	if err != nil {
		panic(err)
	}
	return h
}

// stored returns the fragment in v when v holds one this version of the
// block (its digest) stored for the vary encoding enc, without a copy: v
// is a stored value, which is never modified (cachekit.Result.Value), or a
// fresh render nothing else holds. ok is false for anything else: an entry
// of another version, of other vary values under the same key, or not a
// fragment.
func (b *block) stored(v, enc []byte) (_ template.HTML, ok bool) {
	n := len(enc)
	if n >= 0x80 {
		return b.storedLong(v, enc)
	}
	// The usual case: a one-byte length; a block without vary values has
	// a one-byte encoding, compared without a call.
	h := digestLen + 1 + n
	if len(v) < h || [digestLen]byte(v) != b.digest || v[digestLen] != byte(n) {
		return "", false
	}
	if n == 1 {
		if v[digestLen+1] != enc[0] {
			return "", false
		}
	} else if string(v[digestLen+1:h]) != string(enc) {
		return "", false
	}
	v = v[h:]
	return template.HTML(unsafe.String(unsafe.SliceData(v), len(v))), true
}

// storedLong is stored for an encoding of 128 bytes or more.
func (b *block) storedLong(v, enc []byte) (_ template.HTML, ok bool) {
	if len(v) <= digestLen || [digestLen]byte(v) != b.digest {
		return "", false
	}
	v = v[digestLen:]
	var lb [binary.MaxVarintLen64]byte
	w := binary.PutUvarint(lb[:], uint64(len(enc)))
	if len(v) < w+len(enc) || string(v[:w]) != string(lb[:w]) || string(v[w:w+len(enc)]) != string(enc) {
		return "", false
	}
	v = v[w+len(enc):]
	return template.HTML(unsafe.String(unsafe.SliceData(v), len(v))), true
}

// appendKey appends the key of the block's fragment for the vary
// encoding enc.
func (b *block) appendKey(dst, enc []byte) []byte {
	if b.collide {
		return append(append(dst, b.keyPrefix...), "00000000000000000000000000000000"...)
	}
	return appendKey(dst, b.keyPrefix, enc)
}

// callState is one call of a block on its way through the cache: the frame
// its body would render with and the fill that renders it. States are
// pooled, with their fill bound once, so a hit allocates nothing of its own.
type callState struct {
	b    *block
	f    frame
	vars [4]reflect.Value // backs f.vars for up to four outer variables
	ran  bool             // the fill ran: a render error is this call's own
	enc  []byte           // the vary encoding, stored with the fragment
	fill cachekit.Fill    // st.run
}

var callStates = sync.Pool{New: func() any {
	st := new(callState)
	st.fill = st.run
	return st
}}

// newCallState returns a pooled state for a call of b with the frame
// arguments args ([.] [$] <outer vars>) and the vary encoding enc, which it
// copies.
func newCallState(b *block, ctx context.Context, args []reflect.Value, enc []byte) *callState {
	st := callStates.Get().(*callState)
	st.b, st.ran = b, false
	st.enc = append(st.enc[:0], enc...)
	st.f.ctx = ctx
	if b.passDot {
		st.f.dot, args = args[0], args[1:]
	}
	if b.passRoot {
		st.f.root, args = args[0], args[1:]
	}
	st.f.vars = append(st.vars[:0], args...)
	return st
}

// release returns st to the pool, keeping nothing it referred to. It is
// called only once the cache is done with st.fill: not after a stale value
// was served, whose background refresh may still call it.
func (st *callState) release() {
	clear(st.f.vars)
	st.b, st.f = nil, frame{}
	if cap(st.enc) > 4<<10 {
		st.enc = nil
	}
	callStates.Put(st)
}

// run is the block's fill: the body renders under the fill's context, so
// the blocks nested in it record their tags in this fragment's entry.
func (st *callState) run(p *cachekit.Policy) ([]byte, error) {
	st.ran = true
	st.f.ctx = p.Context()
	v, err := st.b.render(&st.f, st.enc)
	if err != nil {
		return nil, &renderError{err}
	}
	return v, nil
}

// nframe is the number of arguments that make the body's frame.
func (b *block) nframe() int {
	n := b.nvars
	if b.passDot {
		n++
	}
	if b.passRoot {
		n++
	}
	return n
}

// call returns the fragment, from the cache or rendered.
// ctx is the block's link: the context of the fill (a page, an enclosing
// block's) that records what the fragment depends on, or nil.
func (b *block) call(ctx context.Context, args []reflect.Value) (template.HTML, error) {
	switch {
	case b.static:
		if h, ok := b.hot(ctx, b.staticKey, b.staticEnc); ok {
			return h, nil
		}
	case b.fixedTTL && len(args) == b.nargs:
		// The encoding and the key are made in eb and kb from vary
		// values of the usual kinds, which cannot panic; a hit in the
		// hot layer needs no string of its own (LookupHot keeps nothing
		// of the key).
		var eb [simpleEnc]byte
		if enc, ok := appendSimpleEnc(eb[:0], args[b.nargs-b.nvary:]); ok {
			var kb [128]byte
			k := b.appendKey(kb[:0], enc)
			if h, ok := b.hot(ctx, unsafe.String(unsafe.SliceData(k), len(k)), enc); ok {
				return h, nil
			}
			return b.callSlow(ctx, args, string(k), enc)
		}
	}
	return b.callSlow(ctx, args, "", nil)
}

// hot returns the fragment under key from the cache's hot layer, if it
// holds this block's version of it for the vary encoding enc
// (cachekit.Cache.LookupHot): a hit that sets up no fill, no Policy and
// no tags.
func (b *block) hot(ctx context.Context, key string, enc []byte) (template.HTML, bool) {
	if v, ok := b.cache.LookupHot(ctx, key); ok {
		return b.stored(v, enc)
	}
	return "", false
}

// callSlow is call past the hot layer; key and enc are the fragment's key
// and vary encoding when call made them, else "" and nil.
func (b *block) callSlow(ctx context.Context, args []reflect.Value, key string, enc []byte) (out template.HTML, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = "", b.fail(fmt.Errorf("panic: %v", r))
		}
	}()
	if len(args) != b.nargs {
		return "", b.fail(fmt.Errorf("internal error: %d arguments, want %d", len(args), b.nargs))
	}
	nf := b.nframe()
	rest := args[nf:]
	ttl := b.ttl
	if b.dynTTL {
		if ttl, err = toTTL(rest[0]); err != nil {
			return "", b.fail(err)
		}
		rest = rest[1:]
	}
	if (ttl <= 0 && ttl != cachekit.DefaultTTL) || b.unlinked { // 0 or negative: not stored (cachekit.NoExpiry)
		return b.renderNow(ctx, args[:nf])
	}
	var eb [simpleEnc]byte
	switch {
	case b.nvary == 0:
		key, enc = b.staticKey, b.staticEnc
	case key == "":
		// In eb for the usual kinds; the general encoding may keep its
		// buffer (a marshaler sees it), so it makes its own.
		vals := rest[b.ntags:]
		var ok bool
		if enc, ok = appendSimpleEnc(eb[:0], vals); !ok {
			if enc, err = appendEnc(nil, vals); err != nil {
				return "", b.fail(err)
			}
		}
		var kb [128]byte
		key = string(b.appendKey(kb[:0], enc))
		if h, ok := b.hot(ctx, key, enc); ok {
			return h, nil
		}
	}
	tags := b.tags
	if b.ntags > 0 {
		if tags, err = b.userTags(rest[:b.ntags]); err != nil {
			return "", b.fail(err)
		}
	}
	if b.prefetched && ctx != nil {
		if r, ok := take(ctx, key); ok {
			if h, ok := b.stored(r.Value, enc); ok {
				return h, nil
			}
		}
	}
	return b.load(ctx, args[:nf], key, enc, cachekit.Policy{TTL: ttl, Tags: tags})
}

// load reads the fragment under key through the cache, rendering it on a
// miss (the body with the frame arguments frameArgs) and storing it with
// enc, the vary encoding.
func (b *block) load(ctx context.Context, frameArgs []reflect.Value, key string, enc []byte, p cachekit.Policy) (template.HTML, error) {
	st := newCallState(b, ctx, frameArgs, enc)
	for attempt := 0; ; attempt++ {
		var r cachekit.Result
		var err error
		if ctx != nil {
			r, err = b.cache.LoadContext(ctx, key, p, st.fill)
		} else {
			r, err = b.cache.Load(key, p, st.fill)
		}
		if r.Status == cachekit.Stale {
			st = newCallState(b, ctx, frameArgs, enc) // a refresh may run the old one
		}
		if err != nil {
			if re, ok := errors.AsType[*renderError](err); ok && st.ran {
				st.release()
				return "", b.fail(re.err)
			}
			// The cache failed, or another caller's render did (with its
			// own data, maybe): render with ours, uncached.
			break
		}
		if h, ok := b.stored(r.Value, enc); ok {
			st.release()
			return h, nil
		}
		// Written by another version of this block (a deploy changed its
		// source), or for other vary values whose encoding hashes as
		// ours: a miss. Replace it once; if it keeps being written,
		// render uncached.
		if attempt > 0 {
			break
		}
		_ = b.cache.Delete(key)
	}
	st.release()
	return b.renderNow(ctx, frameArgs)
}

// renderNow renders the body uncached, under the block's link.
func (b *block) renderNow(ctx context.Context, frameArgs []reflect.Value) (template.HTML, error) {
	f := &frame{ctx: ctx}
	if b.passDot {
		f.dot, frameArgs = frameArgs[0], frameArgs[1:]
	}
	if b.passRoot {
		f.root, frameArgs = frameArgs[0], frameArgs[1:]
	}
	f.vars = slices.Clone(frameArgs)
	v, err := b.render(f, nil)
	if err != nil {
		return "", b.fail(err)
	}
	h, _ := b.stored(v, nil)
	return h, nil
}

// render executes the body and returns it as the block stores it, with
// the vary encoding enc.
func (b *block) render(f *frame, enc []byte) ([]byte, error) {
	buf := bufs.Get().(*bytes.Buffer)
	buf.Reset()
	buf.Write(b.digest[:])
	var n [binary.MaxVarintLen64]byte
	buf.Write(binary.AppendUvarint(n[:0], uint64(len(enc))))
	buf.Write(enc)
	err := b.body.Execute(buf, f)
	var out []byte
	if err == nil {
		out = bytes.Clone(buf.Bytes())
	}
	if buf.Cap() <= 1<<20 {
		bufs.Put(buf)
	}
	return out, err
}

func (b *block) userTags(vals []reflect.Value) ([]string, error) {
	tags := append(make([]string, 0, len(b.tags)+4), b.tags...)
	for _, tv := range vals {
		tl, ok := tv.Interface().(tagList)
		if !ok {
			return nil, fmt.Errorf("internal error: tags argument is %s", tv.Type())
		}
		for _, v := range tl {
			var err error
			if tags, err = appendTags(tags, v); err != nil {
				return nil, err
			}
		}
	}
	return tags, nil
}

func appendTags(tags []string, v reflect.Value) ([]string, error) {
	for v.IsValid() && (v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer) && !v.IsNil() {
		v = v.Elem()
	}
	switch {
	case !v.IsValid():
		return tags, errors.New("tags: a tag is nil")
	case v.Kind() == reflect.String:
		if v.String() == "" {
			return tags, errors.New("tags: a tag is empty")
		}
		return append(tags, v.String()), nil
	case v.Kind() == reflect.Slice || v.Kind() == reflect.Array:
		var err error
		for i := range v.Len() {
			if tags, err = appendTags(tags, v.Index(i)); err != nil {
				return tags, err
			}
		}
		return tags, nil
	}
	return tags, fmt.Errorf("tags: %s is not a string", v.Type())
}
