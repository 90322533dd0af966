package fibercache

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"reflect"
	"unsafe"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/valyala/fasthttp"
)

// The request scan reads fasthttp's parsed header list itself instead of
// calling RequestHeader.VisitAll, which first makes fasthttp parse every
// cookie and write them back out, on every request: the cookie parser is
// the largest single cost of a page hit with a browser's request. The list
// read is the one VisitAll walks, so the scan sees exactly what it saw
// (headers a middleware in front set or removed included); the Cookie
// lines still in it are split here as fasthttp's cookie parser splits them
// (rawCookies), and cookies some middleware already had fasthttp collect
// are read where fasthttp keeps them.
//
// fasthttp offers no other way to walk its headers without collecting the
// cookies, so listView finds the two unexported fields by name, once, and
// checks their types and layout; should a fasthttp version differ, the
// scan goes through VisitAll as before (slower, never different).
//
// The response side (set) writes a hit's own headers into
// ResponseHeader's list the way SetCanonical does for a name that is not
// one fasthttp keeps apart, without SetCanonical's dispatch on the name.
type listView struct {
	ok        bool
	list      uintptr // offset of RequestHeader.h ([]argsKV)
	cookies   uintptr // offset of RequestHeader.cookies ([]argsKV)
	collected uintptr // offset of RequestHeader.cookiesCollected (bool)
	respOK    bool
	resp      uintptr // offset of ResponseHeader.h ([]argsKV)
	// dateNoop: fasthttp's SetCanonical drops a Date (it writes its own,
	// or none), as newListView saw.
	dateNoop bool
}

// kv mirrors fasthttp's argsKV; newListView checks the layout.
type kv struct {
	key     []byte
	value   []byte
	noValue bool
}

func newListView() listView {
	t := reflect.TypeOf(fasthttp.RequestHeader{})
	l, ok1 := t.FieldByName("h")
	c, ok2 := t.FieldByName("cookies")
	cc, ok3 := t.FieldByName("cookiesCollected")
	if !ok1 || !ok2 || !ok3 || cc.Type.Kind() != reflect.Bool || !kvSlice(l.Type) || !kvSlice(c.Type) {
		return listView{}
	}
	lv := listView{ok: true, list: l.Offset, cookies: c.Offset, collected: cc.Offset}
	if r, ok := reflect.TypeOf(fasthttp.ResponseHeader{}).FieldByName("h"); ok && kvSlice(r.Type) {
		lv.respOK, lv.resp = true, r.Offset
	}
	lv.dateNoop = setDateNoop()
	return lv
}

// set sets the response header name (canonical, and none of the names
// fasthttp's setSpecialHeader takes: Content-Type, Content-Length,
// Content-Encoding, Connection, Server, Set-Cookie, Transfer-Encoding,
// Trailer, Date) to value, as h.SetCanonical does: the first line of that
// name gets the value, else a line is appended; both are copied.
func (lv *listView) set(h *fasthttp.ResponseHeader, name, value []byte) {
	if !lv.respOK {
		h.SetCanonical(name, value)
		return
	}
	p := (*[]kv)(unsafe.Add(unsafe.Pointer(h), lv.resp))
	list := *p
	for i := range list {
		if string(list[i].key) == string(name) {
			list[i].value = append(list[i].value[:0], value...)
			list[i].noValue = false
			return
		}
	}
	n := len(list)
	if cap(list) > n {
		list = list[:n+1] // fasthttp's allocArg: the line's buffers are reused
	} else {
		list = append(list, kv{value: []byte{}})
	}
	e := &list[n]
	if string(e.key) != string(name) { // a reused line holds its last name
		e.key = append(e.key[:0], name...)
	}
	e.value = append(e.value[:0], value...)
	e.noValue = false
	*p = list
}

// hdrPair is one response header to set: name is a canonical Go string,
// compared and copied without a call when it is a constant.
type hdrPair struct {
	name  string
	value []byte
}

// served is what a served page adds to the response's header list, in
// this order (setServed): fixed (the page's stored list headers, names
// all distinct and none of the others), ETag (when etag is not empty),
// Age (when hasAge), X-Cache and Cache-Status (their values for kind and
// remaining, serve.go), then Cache-Control and Expires when cacheControl
// is not empty (Config.CacheControl).
type served struct {
	fixed        []hdrPair
	etag         []byte
	age          int64
	hasAge       bool
	kind         serveKind
	remaining    int64
	cacheControl []byte
	expires      []byte
}

// setServed sets sv's lines on h's list, each as h.SetCanonical would (the
// first line of that name gets the value, else a line is appended). The
// list is found once; only the lines already there are searched (none, on
// a response nothing in front wrote to); a reused line already holding the
// name keeps it; Age, X-Cache and Cache-Status are formatted straight into
// their lines.
func (lv *listView) setServed(h *fasthttp.ResponseHeader, sv *served) {
	if !lv.respOK {
		for _, pr := range sv.fixed {
			h.SetCanonical(s2b(pr.name), pr.value)
		}
		if len(sv.etag) > 0 {
			h.SetCanonical(hdrETag, sv.etag)
		}
		var buf [96]byte
		if sv.hasAge {
			h.SetCanonical(hdrAge, appendInt(buf[:0], sv.age))
		}
		h.SetCanonical(hdrXCache, appendXCache(buf[:0], sv.kind))
		h.SetCanonical(hdrCacheStatus, appendCacheStatus(buf[:0], sv.kind, sv.remaining))
		if len(sv.cacheControl) > 0 {
			h.SetCanonical(hdrCacheCtl, sv.cacheControl)
			h.SetCanonical(hdrExpiresB, sv.expires)
		}
		return
	}
	p := (*[]kv)(unsafe.Add(unsafe.Pointer(h), lv.resp))
	w := lines{list: *p, had: len(*p)}
	w.reserve(len(sv.fixed) + 6)
	if w.had > 0 {
		w.setServed(sv)
		*p = w.list
		return
	}
	// Nothing in front wrote a line: each is the next, its name (a
	// constant but the stored ones') compared in place. This is
	// lines.setServed with next, inlined, in place of line: one body
	// choosing between the two per line costs about 220 instructions a
	// hit (next no longer inlines, each constant compared through a call).
	for i := range sv.fixed {
		e := w.next(sv.fixed[i].name)
		e.value = append(e.value[:0], sv.fixed[i].value...)
	}
	if len(sv.etag) > 0 {
		e := w.next("ETag")
		e.value = append(e.value[:0], sv.etag...)
	}
	if sv.hasAge {
		e := w.next("Age")
		e.value = appendInt(e.value[:0], sv.age)
	}
	e := w.next("X-Cache")
	e.value = appendXCache(e.value[:0], sv.kind)
	e = w.next("Cache-Status")
	e.value = appendCacheStatus(e.value[:0], sv.kind, sv.remaining)
	if len(sv.cacheControl) > 0 {
		e = w.next("Cache-Control")
		e.value = append(e.value[:0], sv.cacheControl...)
		e = w.next("Expires")
		e.value = append(e.value[:0], sv.expires...)
	}
	*p = w.list
}

// setServed is listView.setServed on a list that had lines: each line
// replaces the first of its name there, if any.
func (w *lines) setServed(sv *served) {
	for i := range sv.fixed {
		e := w.line(sv.fixed[i].name)
		e.value = append(e.value[:0], sv.fixed[i].value...)
	}
	if len(sv.etag) > 0 {
		e := w.line("ETag")
		e.value = append(e.value[:0], sv.etag...)
	}
	if sv.hasAge {
		e := w.line("Age")
		e.value = appendInt(e.value[:0], sv.age)
	}
	e := w.line("X-Cache")
	e.value = appendXCache(e.value[:0], sv.kind)
	e = w.line("Cache-Status")
	e.value = appendCacheStatus(e.value[:0], sv.kind, sv.remaining)
	if len(sv.cacheControl) > 0 {
		e = w.line("Cache-Control")
		e.value = append(e.value[:0], sv.cacheControl...)
		e = w.line("Expires")
		e.value = append(e.value[:0], sv.expires...)
	}
}

// appendLine appends the line name: value to h's list, as fasthttp's
// parser adds one it reads (respOK).
func (lv *listView) appendLine(h *fasthttp.ResponseHeader, name string, value []byte) {
	p := (*[]kv)(unsafe.Add(unsafe.Pointer(h), lv.resp))
	w := lines{list: *p}
	w.reserve(1)
	e := w.next(name)
	e.value = append(e.value[:0], value...)
	*p = w.list
}

// lines writes a response's header list: had is how many lines it held
// before.
type lines struct {
	list []kv
	had  int
}

// line returns the line to hold name, valued (noValue false), for the
// caller to write its value: the first of the had lines already there
// named name, else the next line (next).
func (w *lines) line(name string) *kv {
	for i := range w.list[:w.had] {
		if string(w.list[i].key) == name {
			return w.at(i)
		}
	}
	return w.next(name)
}

// at returns line i, valued.
func (w *lines) at(i int) *kv {
	e := &w.list[i]
	e.noValue = false
	return e
}

// next appends a line to hold name, valued, for the caller to write its
// value; the list has room (reserve). As fasthttp's allocArg, a line
// within the capacity is reused with its buffers: it keeps its name when
// it already holds name. Small enough to be inlined, so that a constant
// name is compared in place.
func (w *lines) next(name string) *kv {
	n := len(w.list)
	w.list = w.list[:n+1]
	e := &w.list[n]
	if string(e.key) != name {
		e.key = append(e.key[:0], name...)
	}
	e.noValue = false
	return e
}

// reserve makes room for k more lines (fasthttp's allocArg: a new line's
// value is empty, not nil).
func (w *lines) reserve(k int) {
	n := len(w.list)
	if cap(w.list) >= n+k {
		return // the lines past n keep their buffers
	}
	w.list = w.list[:cap(w.list)]
	for len(w.list) < n+k {
		w.list = append(w.list, kv{value: []byte{}})
	}
	w.list = w.list[:n]
}

// respLines returns how many lines h's header list holds (respOK).
func (lv *listView) respLines(h *fasthttp.ResponseHeader) int {
	return len(*(*[]kv)(unsafe.Add(unsafe.Pointer(h), lv.resp)))
}

// hasLineFold reports whether h's header list has a line named name
// (lower case), whatever its case; true when the list cannot be read.
func (lv *listView) hasLineFold(h *fasthttp.ResponseHeader, name string) bool {
	if !lv.respOK {
		return true
	}
	for _, l := range *(*[]kv)(unsafe.Add(unsafe.Pointer(h), lv.resp)) {
		if len(l.key) == len(name) && utils.EqualFold(b2s(l.key), name) {
			return true
		}
	}
	return false
}

// s2b views s as bytes without copying; they must not be written.
func s2b(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// setDateNoop reports whether SetCanonical of a Date leaves a response
// header as it was: written out, it is the same as one never given it
// (both written at once, again should the second of fasthttp's own Date
// tick in between).
func setDateNoop() bool {
	for range 3 {
		var with, without fasthttp.ResponseHeader
		with.SetCanonical([]byte("Date"), []byte("Mon, 02 Jan 2006 15:04:05 GMT"))
		a, b := with.Header(), without.Header()
		if string(a) == string(b) {
			return true
		}
		if len(a) != len(b) {
			return false
		}
	}
	return false
}

// kvSlice reports whether t is a slice of a struct laid out as kv.
func kvSlice(t reflect.Type) bool {
	if t.Kind() != reflect.Slice || t.Elem().Kind() != reflect.Struct {
		return false
	}
	e, m := t.Elem(), reflect.TypeOf(kv{})
	if e.Size() != m.Size() || e.NumField() != m.NumField() {
		return false
	}
	for i := 0; i < m.NumField(); i++ {
		ef, mf := e.Field(i), m.Field(i)
		if ef.Name != mf.Name || ef.Offset != mf.Offset || ef.Type.Kind() != mf.Type.Kind() ||
			ef.Type.Size() != mf.Type.Size() || (mf.Type.Kind() == reflect.Slice && ef.Type.Elem().Kind() != reflect.Uint8) {
			return false
		}
	}
	return true
}

// of returns h's parsed header list, its collected cookies and whether
// cookies were collected (then no Cookie line is left in the list).
func (lv listView) of(h *fasthttp.RequestHeader) (list, cookies []kv, collected bool) {
	p := unsafe.Pointer(h)
	return *(*[]kv)(unsafe.Add(p, lv.list)), *(*[]kv)(unsafe.Add(p, lv.cookies)), *(*bool)(unsafe.Add(p, lv.collected))
}

// scanList is the scan's pass over the parsed headers (see listView). It
// reports false, having read nothing, when the request must go through
// VisitAll instead: the view is unavailable, the path varies on Cookie (its
// key holds the cookies as VisitAll joins them), or a UserHeader or
// credential header is named Cookie (it reads that joined line).
func (r *request) scanList(h *fasthttp.RequestHeader, m *middleware) bool {
	if !m.list.ok {
		return false
	}
	if r.cookieIdx >= 0 || (len(m.userHeader) == len(strCookie) || m.credLens&(1<<len(strCookie)) != 0) && m.cookieHeaderRead() {
		// A Vary'd Cookie is keyed as VisitAll joins the cookies; a
		// UserHeader or credential header named Cookie reads that one
		// joined line too (the raw lines, gone once some middleware had
		// fasthttp collect the cookies, are not it).
		return false
	}
	list, cookies, collected := m.list.of(h)
	// What VisitAll reports besides the list (Content-Length and Trailer
	// only when read: the body check reads them apart).
	if host := h.Host(); len(host) > 0 {
		if r.varyN == 0 && m.userHeader == "" && m.credLens&(1<<len(strHost)) == 0 {
			r.host = host // all visit would do
		} else {
			r.visit(strHost, host)
		}
	}
	if ct := h.ContentType(); len(ct) > 0 && r.wants(strContentType) {
		r.visit(strContentType, ct)
	}
	if ua := h.UserAgent(); len(ua) > 0 && r.wants(strUserAgent) {
		r.visit(strUserAgent, ua)
	}
	if r.wants(strContentLength) {
		if cl := h.Peek(fiber.HeaderContentLength); len(cl) > 0 {
			r.visit(strContentLength, cl)
		}
	}
	if r.wants(strTrailer) {
		if tr := h.Peek(fiber.HeaderTrailer); len(tr) > 0 {
			r.visit(strTrailer, tr)
		}
	}
	if collected {
		r.cookies = len(cookies) > 0
		for i := range cookies {
			r.visitCookie(cookies[i].key, cookies[i].value)
		}
	}
	anyCookie := false
	in, vl := &m.interest, r.varyLens // r.wants, read once for the loop
	for i := in.next(list, 0, vl); i < len(list); i = in.next(list, i+1, vl) {
		k, v := list[i].key, list[i].value
		if collected || len(k) != 6 || string(k) != "Cookie" && !utils.EqualFold(b2s(k), "Cookie") {
			r.visit(k, v)
			continue
		}
		// A Cookie line: all visit would find is r.cookies, set below
		// (no UserHeader or credential header is named Cookie here).
		if len(v) > 0 {
			anyCookie = r.rawCookies(v) || anyCookie
		}
	}
	if !collected {
		r.cookies = anyCookie // as VisitAll: a Cookie line with no cookie is none
	}
	if h.ConnectionClose() && r.wants(strConnection) {
		r.visit(strConnection, strClose)
	}
	return true
}

// cookieHeaderRead reports whether the UserHeader or a credential header
// is named Cookie (scanList checks their lengths first: no call for other
// configs).
func (m *middleware) cookieHeaderRead() bool {
	return len(m.userHeader) == len(strCookie) && utils.EqualFold(m.userHeader, "Cookie") ||
		m.credLens&(1<<len(strCookie)) != 0 && m.isCredentialHeader(strCookie)
}

var (
	strCookie        = []byte("Cookie")
	strHost          = []byte("Host")
	strContentType   = []byte("Content-Type")
	strUserAgent     = []byte("User-Agent")
	strContentLength = []byte("Content-Length")
	strTrailer       = []byte("Trailer")
	strConnection    = []byte("Connection")
	strClose         = []byte("close")
)

// rawCookies reads one Cookie line as fasthttp's cookie parser splits it:
// pairs separated by ';', the name before the first '=' (none without
// one), spaces trimmed, and a value's surrounding quotes; a pair with
// neither name nor value is skipped. It reports whether it read a cookie.
//
// A cookie named other than Config.UserCookie is harmless or a credential
// whatever its value: its name is read up to the '=' and its value is
// skipped with one IndexByte for the next ';', never trimmed. Without a
// UserCookie, the first cookie that is not harmless ends the walk: no
// later cookie can change what the scan found. A pair without a name, or
// the user cookie, is read whole (cookiePair).
func (r *request) rawCookies(b []byte) (found bool) {
	m := r.m
	for len(b) > 0 {
		for len(b) > 0 && b[0] == ' ' { // trimmed from a name or a value
			b = b[1:]
		}
		j := pairStop(b) // the first '=' or ';', or len(b)
		if j < len(b) && b[j] == '=' {
			e := j
			for e > 0 && b[e-1] == ' ' {
				e--
			}
			if name := b[:e]; len(name) > 0 && string(name) != m.userCookie {
				found = true
				if !m.harmless(name) {
					r.credentialed = true
					if m.userCookie == "" {
						return true
					}
				}
				k := bytes.IndexByte(b[j+1:], ';')
				if k < 0 {
					return found // the line's last cookie
				}
				b = b[j+2+k:]
				continue
			}
		}
		pair := b
		if k := bytes.IndexByte(b[j:], ';'); k >= 0 {
			pair, b = b[:j+k], b[j+k+1:]
		} else {
			b = nil
		}
		found = r.cookiePair(pair) || found
	}
	return found
}

// Eight bytes at a time (SWAR): in x = w^c*swarLo, the bytes of w equal
// to c are zero, and (x-swarLo)&^x&swarHi marks them (0x80); it may mark
// a byte above a marked one, never one below, so the lowest mark is the
// first match.
const (
	swarLo = 0x0101010101010101
	swarHi = 0x8080808080808080
)

// pairStop returns the index of the first '=' or ';' in b, len(b) if there
// is none: the end of a cookie's name.
func pairStop(b []byte) int {
	const eqs, semis = '=' * swarLo, ';' * swarLo
	rest := b
	for len(rest) >= 8 {
		w := binary.LittleEndian.Uint64(rest)
		x, y := w^eqs, w^semis
		if t := ((x-swarLo)&^x | (y-swarLo)&^y) & swarHi; t != 0 {
			return len(b) - len(rest) + bits.TrailingZeros64(t)>>3
		}
		rest = rest[8:]
	}
	for i, c := range rest {
		if c == '=' || c == ';' {
			return len(b) - len(rest) + i
		}
	}
	return len(b)
}

// cookiePair reads one pair of a Cookie line (no ';' in it) as rawCookies
// describes, and reports whether it was a cookie.
func (r *request) cookiePair(pair []byte) bool {
	var name, value []byte
	if eq := bytes.IndexByte(pair, '='); eq >= 0 {
		name, value = trimSpace(pair[:eq]), trimSpace(pair[eq+1:])
	} else {
		value = trimSpace(pair)
	}
	if len(value) > 1 && value[0] == '"' && value[len(value)-1] == '"' {
		value = value[1 : len(value)-1]
	}
	if len(name) == 0 && len(value) == 0 {
		return false
	}
	r.visitCookie(name, value)
	return true
}

// trimSpace trims the spaces fasthttp's cookie parser trims (' ' only).
func trimSpace(b []byte) []byte {
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	for len(b) > 0 && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	return b
}

// interest is a filter on header names: bit n of word c&31 is set when a
// name the scan reads is n bytes long (63: longer) and starts with the
// letter c (either case). Lines it rules out cannot change the scan.
type interest [32]uint64

func (in *interest) add(name string) {
	if name != "" {
		in[name[0]&31] |= 1 << min(len(name), 63)
	}
}

func (in *interest) has(k []byte) bool {
	return len(k) > 0 && in[k[0]&31]&(1<<min(len(k), 63)) != 0
}

// next returns the index of the first line of list from i on that the
// scan reads (in.has, or a length of vl, request.varyLens), len(list) when
// none is. It calls nothing, so the loop over the lines the scan rules out
// keeps its values in registers; without Vary names (vl 0) it tests one
// bit a line.
func (in *interest) next(list []kv, i int, vl uint64) int {
	if vl == 0 {
		for ; i < len(list); i++ {
			if k := list[i].key; len(k) > 0 && in[k[0]&31]&(1<<min(len(k), 63)) != 0 {
				return i
			}
		}
		return i
	}
	for ; i < len(list); i++ {
		k := list[i].key
		bit := uint64(1) << min(len(k), 63)
		if vl&bit != 0 || len(k) > 0 && in[k[0]&31]&bit != 0 {
			return i
		}
	}
	return i
}

// newInterest is the filter of every name the scan reads for m, but the
// Vary names of a path (request.varyLens).
func newInterest(m *middleware) interest {
	var in interest
	for _, n := range [...]string{"Host", "Cookie", "Pragma", "Upgrade", "Authorization", "Cache-Control",
		"If-None-Match", "If-Modified-Since", "Proxy-Authorization"} {
		in.add(n)
	}
	for _, n := range fwdHeaders {
		in.add(n)
	}
	for _, n := range methodOverrideHeaders {
		in.add(n)
	}
	for _, n := range m.credHeaders {
		in.add(n)
	}
	in.add(m.userHeader)
	return in
}

// wants reports whether the scan must read header k: a name of
// m.interest, or as long as one of the path's Vary names.
func (r *request) wants(k []byte) bool {
	return r.m.interest.has(k) || r.varyLens&(1<<min(len(k), 63)) != 0
}
