package fragments

import (
	"bytes"
	"fmt"
	"html/template"
	"strings"
	"text/template/parse"
)

// A block's body is escaped by html/template on its own, starting in HTML
// text, and its output goes back into the page as template.HTML, which
// html/template writes unchanged in HTML text. That equals escaping the body
// in place only when the block starts and ends in HTML text, so Rewrite
// checks it, following html/template's own HTML state machine over the
// text of each template (transition.go in html/template). Actions are
// opaque, except that they move a tag to its attribute-name state as the
// escaper's nudge does. Within <script>, <style>, <textarea> and <title>
// only the end tag matters; html/template's JavaScript states are not
// followed.

type hstate uint8

const (
	hText hstate = iota
	hTag
	hAttrName
	hAfterName
	hBeforeValue
	hAttr
	hComment
	hRaw // content of script, style, textarea, title
	hUnknown
)

type hdelim uint8

const (
	delimNone hdelim = iota
	delimDQ
	delimSQ
	delimSpace
)

type helem uint8

const (
	elNone helem = iota
	elScript
	elStyle
	elTextarea
	elTitle
	elMeta
)

var elemNames = map[string]helem{"script": elScript, "style": elStyle, "textarea": elTextarea, "title": elTitle, "meta": elMeta}

var elemEndMarkers = [...]string{elScript: "script", elStyle: "style", elTextarea: "textarea", elTitle: "title", elMeta: ""}

// hctx is an HTML context.
type hctx struct {
	state    hstate
	delim    hdelim
	elem     helem
	typeAttr bool // the attribute is the type of a <script>
}

func (c hctx) String() string {
	switch c.state {
	case hText:
		return "HTML text"
	case hTag, hAttrName, hAfterName, hBeforeValue:
		return "an HTML tag"
	case hAttr:
		return "an attribute value"
	case hComment:
		return "an HTML comment"
	case hRaw:
		return "a <" + elemEndMarkers[c.elem] + "> element"
	}
	return "an HTML context fragments cannot determine (branches before it end in different contexts, or malformed HTML)"
}

var unknownCtx = hctx{state: hUnknown}

func join(a, b hctx) hctx {
	if a == b {
		return a
	}
	return unknownCtx
}

// nudge is html/template's: an action in a tag is an attribute (name or
// unquoted value).
func (c hctx) nudge() hctx {
	switch c.state {
	case hTag, hAfterName:
		c.state, c.typeAttr = hAttrName, false
	case hBeforeValue:
		c.state, c.delim, c.typeAttr = hAttr, delimSpace, false
	}
	return c
}

// text returns the context after s.
func (c hctx) text(s []byte) hctx {
	for len(s) > 0 && c.state != hUnknown {
		c1, n := c.step(s)
		if n == 0 && c1 == c {
			return unknownCtx // cannot happen; never loop
		}
		c, s = c1, s[n:]
	}
	return c
}

// step is html/template's contextAfterText.
func (c hctx) step(s []byte) (hctx, int) {
	if c.delim == delimNone {
		i := len(s)
		if c.elem != elNone {
			if j := indexTagEnd(s, elemEndMarkers[c.elem]); j != -1 {
				if j == 0 {
					return hctx{}, 0
				}
				i = j
			}
		}
		return c.transition(s[:i])
	}
	// In an attribute value.
	ends := `"`
	switch c.delim {
	case delimSQ:
		ends = "'"
	case delimSpace:
		ends = " \t\n\f\r>"
	}
	i := bytes.IndexAny(s, ends)
	if i == -1 {
		return c, len(s)
	}
	if c.delim == delimSpace {
		if bytes.ContainsAny(s[:i], "\"'<=`") {
			return unknownCtx, len(s) // html/template rejects this
		}
	}
	elem := c.elem
	if c.elem == elScript && c.typeAttr && !isJSType(string(s[:i])) {
		elem = elNone
	}
	if c.delim != delimSpace {
		i++
	}
	return hctx{state: hTag, elem: elem}, i
}

func (c hctx) transition(s []byte) (hctx, int) {
	switch c.state {
	case hText:
		return tText(c, s)
	case hTag:
		return tTag(c, s)
	case hAttrName:
		i, ok := eatAttrName(s, 0)
		if !ok {
			return unknownCtx, len(s)
		}
		if i != len(s) {
			c.state = hAfterName
		}
		return c, i
	case hAfterName:
		i := eatWhiteSpace(s, 0)
		if i == len(s) {
			return c, len(s)
		}
		if s[i] != '=' {
			c.state, c.typeAttr = hTag, false
			return c, i
		}
		c.state = hBeforeValue
		return c, i + 1
	case hBeforeValue:
		i := eatWhiteSpace(s, 0)
		if i == len(s) {
			return c, len(s)
		}
		c.delim = delimSpace
		switch s[i] {
		case '\'':
			c.delim, i = delimSQ, i+1
		case '"':
			c.delim, i = delimDQ, i+1
		}
		c.state = hAttr
		return c, i
	case hComment:
		if i := bytes.Index(s, []byte("-->")); i != -1 {
			return hctx{}, i + 3
		}
		return c, len(s)
	}
	return c, len(s) // hAttr, hRaw, hUnknown
}

func tText(c hctx, s []byte) (hctx, int) {
	k := 0
	for {
		i := k + bytes.IndexByte(s[k:], '<')
		if i < k || i+1 == len(s) {
			return c, len(s)
		} else if i+4 <= len(s) && bytes.Equal([]byte("<!--"), s[i:i+4]) {
			return hctx{state: hComment}, i + 4
		}
		i++
		end := false
		if s[i] == '/' {
			if i+1 == len(s) {
				return c, len(s)
			}
			end, i = true, i+1
		}
		j, e := eatTagName(s, i)
		if j != i {
			if end {
				e = elNone
			}
			return hctx{state: hTag, elem: e}, j
		}
		k = j
	}
}

func tTag(c hctx, s []byte) (hctx, int) {
	i := eatWhiteSpace(s, 0)
	if i == len(s) {
		return c, len(s)
	}
	if s[i] == '>' {
		switch c.elem {
		case elNone, elMeta:
			return hctx{}, i + 1
		}
		return hctx{state: hRaw, elem: c.elem}, i + 1
	}
	j, ok := eatAttrName(s, i)
	if !ok || i == j {
		return unknownCtx, len(s)
	}
	c.typeAttr = c.elem == elScript && strings.EqualFold(string(s[i:j]), "type")
	if j == len(s) {
		c.state = hAttrName
	} else {
		c.state = hAfterName
	}
	return c, j
}

func eatAttrName(s []byte, i int) (int, bool) {
	for j := i; j < len(s); j++ {
		switch s[j] {
		case ' ', '\t', '\n', '\f', '\r', '=', '>':
			return j, true
		case '\'', '"', '<':
			return -1, false
		}
	}
	return len(s), true
}

func asciiAlpha(c byte) bool    { return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' }
func asciiAlphaNum(c byte) bool { return asciiAlpha(c) || '0' <= c && c <= '9' }

func eatTagName(s []byte, i int) (int, helem) {
	if i == len(s) || !asciiAlpha(s[i]) {
		return i, elNone
	}
	j := i + 1
	for j < len(s) {
		x := s[j]
		if asciiAlphaNum(x) {
			j++
			continue
		}
		if (x == ':' || x == '-') && j+1 < len(s) && asciiAlphaNum(s[j+1]) {
			j += 2
			continue
		}
		break
	}
	return j, elemNames[strings.ToLower(string(s[i:j]))]
}

func eatWhiteSpace(s []byte, i int) int {
	for j := i; j < len(s); j++ {
		switch s[j] {
		case ' ', '\t', '\n', '\f', '\r':
		default:
			return j
		}
	}
	return len(s)
}

// indexTagEnd finds "</tag" followed by a separator, case-insensitively.
func indexTagEnd(s []byte, tag string) int {
	res := 0
	for len(s) > 0 {
		i := bytes.Index(s, []byte("</"))
		if i == -1 {
			return -1
		}
		s = s[i+2:]
		if len(tag) <= len(s) && strings.EqualFold(tag, string(s[:len(tag)])) {
			s = s[len(tag):]
			if len(s) > 0 && strings.IndexByte("> \t\n\f/", s[0]) != -1 {
				return res + i
			}
			res += len(tag)
		}
		res += i + 2
	}
	return -1
}

func isJSType(mimeType string) bool {
	mimeType, _, _ = strings.Cut(mimeType, ";")
	mimeType = strings.TrimSpace(strings.ToLower(mimeType))
	switch mimeType {
	case "", "application/ecmascript", "application/javascript", "application/json",
		"application/ld+json", "application/x-ecmascript", "application/x-javascript",
		"module", "text/ecmascript", "text/javascript", "text/javascript1.0",
		"text/javascript1.1", "text/javascript1.2", "text/javascript1.3",
		"text/javascript1.4", "text/javascript1.5", "text/jscript",
		"text/livescript", "text/x-ecmascript", "text/x-javascript":
		return true
	}
	return false
}

// tracker follows HTML contexts through the templates of a set.
type tracker struct {
	trees map[string]*parse.Tree
	memo  map[trackKey]hctx
	busy  map[trackKey]bool
	calls []callSite
	tree  *parse.Tree
	name  string
	err   error
}

type trackKey struct {
	name string
	c    hctx
}

type callSite struct {
	loc  string
	from string
	c    hctx
}

// checkContexts reports the first block, in any template, that starts or
// ends outside HTML text, including blocks in templates called from
// elsewhere than HTML text.
func checkContexts(tmpls []*template.Template, trees map[string]*parse.Tree) error {
	tk := &tracker{trees: trees, memo: map[trackKey]hctx{}, busy: map[trackKey]bool{}}
	for _, t := range tmpls {
		tk.template(t.Name(), hctx{})
		if tk.err != nil {
			return tk.err
		}
	}
	return nil
}

func (tk *tracker) template(name string, c hctx) hctx {
	key := trackKey{name, c}
	if out, ok := tk.memo[key]; ok {
		return out
	}
	if tk.busy[key] {
		return unknownCtx // recursion: html/template finds a fixed point; be conservative
	}
	t := tk.trees[name]
	if t == nil {
		return c
	}
	tk.busy[key] = true
	prevTree, prevName := tk.tree, tk.name
	tk.tree, tk.name = t, name
	out := tk.list(t.Root, c)
	tk.tree, tk.name = prevTree, prevName
	delete(tk.busy, key)
	tk.memo[key] = out
	return out
}

func (tk *tracker) list(l *parse.ListNode, c hctx) hctx {
	if l == nil {
		return c
	}
	for _, n := range l.Nodes {
		if tk.err != nil {
			return c
		}
		switch n := n.(type) {
		case *parse.TextNode:
			c = c.text(n.Text)
		case *parse.ActionNode:
			if k, _ := blockKind(n); k != notBlock {
				if c.state != hText {
					tk.fail(n, k, c)
				}
				continue
			}
			if len(n.Pipe.Decl) == 0 {
				c = c.nudge()
			}
		case *parse.IfNode:
			c = tk.branch(&n.BranchNode, c, false)
		case *parse.WithNode:
			c = tk.branch(&n.BranchNode, c, false)
		case *parse.RangeNode:
			c = tk.branch(&n.BranchNode, c, true)
		case *parse.TemplateNode:
			tk.calls = append(tk.calls, callSite{loc: tk.location(n), from: tk.name, c: c})
			c = tk.template(n.Name, c)
			tk.calls = tk.calls[:len(tk.calls)-1]
		}
	}
	return c
}

func (tk *tracker) branch(b *parse.BranchNode, c hctx, isRange bool) hctx {
	c1 := tk.list(b.List, c)
	if isRange && c1 != c {
		c1 = unknownCtx
	}
	c2 := c
	if b.ElseList != nil {
		c2 = tk.list(b.ElseList, c)
	}
	return join(c1, c2)
}

func (tk *tracker) location(n parse.Node) (loc string) {
	defer func() {
		if recover() != nil {
			loc = tk.name
		}
	}()
	loc, _ = tk.tree.ErrorContext(n)
	return loc
}

func (tk *tracker) fail(n *parse.ActionNode, kind int, c hctx) {
	loc := tk.location(n)
	var msg string
	if kind == blockStart {
		msg = "the block starts inside " + c.String()
	} else {
		msg = "the block ends inside " + c.String() + " (its body leaves the HTML text it started in)"
	}
	msg += "; a {{cache}} block must start and end in HTML text, outside tags, attributes, comments, <script>, <style>, <textarea> and <title>"
	for i := len(tk.calls) - 1; i >= 0; i-- {
		cs := tk.calls[i]
		msg += fmt.Sprintf("; template %q is called at %s, in %s", tk.nameAt(i), cs.loc, cs.c)
	}
	block := ""
	if kind == blockStart {
		block = startName(n)
	}
	tk.err = &Error{Template: tk.name, Location: loc, Line: lineOf(loc), Block: block, Err: fmt.Errorf("%s", msg)}
}

// nameAt returns the name of the template called at tk.calls[i].
func (tk *tracker) nameAt(i int) string {
	if i+1 < len(tk.calls) {
		return tk.calls[i+1].from
	}
	return tk.name
}
