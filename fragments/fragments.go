// Package fragments adds Django's {% cache %} block to html/template, done
// the Rails way: a block's key holds a digest of its own source, so a
// deploy never serves a fragment rendered by an older template.
//
//	{{cache "sidebar" 300 .User.ID}} ...expensive HTML... {{endcache}}
//	{{cache "product" "5m" .ID (tags "products" "catalog")}} ... {{endcache}}
//
// The first argument is the block's name, a string literal. The second is
// its time to live: integer seconds, a Go duration string ("5m") or a
// time.Duration value, or nil for a block that never expires (Django's
// {% cache None %}); 0 renders the body every time and stores nothing. A
// ttl computed at render means what a TTL means in the core
// (cachekit.NoExpiry): negative stores nothing, cachekit.DefaultTTL is the
// Cache's Config.DefaultTTL. A negative literal is an error at Rewrite.
// Any further arguments are vary values: each is part of the key (hashed,
// so any length and any value works, except funcs and channels). A
// (tags "a" "b") argument attaches invalidation tags, dropped with
// cachekit.Cache.InvalidateTags. Blocks nest (Russian-doll caching): an
// outer hit skips the inner blocks, and an outer block carries the tags of
// every block rendered in its body, hits included, so invalidating an inner
// block's tag renders the outer one afresh. A block executed with a map as
// $ holding a context under cachekit.BindKey (fibercache binds one while a
// page renders) records its tags in the page the same way. A block whose
// body calls templates holding blocks ({{template "card" .}}) carries their
// tags too: the call is rewritten to a linked copy of the called template
// (see link.go).
//
// Inside a block, dot, $ and every variable declared before the block mean
// what they mean outside it. On a hit the stored HTML is written; on a miss
// the body renders with exactly the data it would have had without the
// block, is stored and is written. Concurrent misses on one key render the
// body once (the core's coalescing). A body that fails stores nothing.
//
// Use it with any html/template set: add Funcs before parsing so the blocks
// parse, then call Rewrite once the set is complete and before its first
// Execute. The cachekit loader does this for every template it loads.
//
//	t := template.Must(template.New("page").Funcs(fragments.Funcs()).Parse(src))
//	if err := fragments.Rewrite(t, cache); err != nil { ... }
//	err := t.Execute(w, data)
//
// # Keys and invalidation
//
// A block stores under the key "fragment:<name>:<hash of the vary values>"
// (see Key) with the implicit tag "fragment:<name>" (see BlockTag), so
// Invalidate(c, name, vary...) deletes one variant and Invalidate(c, name)
// drops every variant in O(1). The hash is a 128-bit wyhash of the vary
// values' canonical encoding (the same in every process and version), so a
// key never holds the raw values; that encoding is stored in the value, in
// front of the HTML, after the digest of the block's source (its text, and
// the text of every template it calls, transitively). A hit needs both to
// be the block's own: an entry written by a different version of the
// block, or for other vary values whose encoding hashes alike, reads as a
// miss and is replaced. The name is the block's identity, as in Django:
// two blocks with one name share their entries, and Rewrite refuses a set in
// which two blocks have the same name but different source.
//
// # Escaping
//
// The body is moved into a template of its own, which html/template escapes
// starting in HTML text, and the block writes its output back as
// template.HTML. That is exactly how the body would have been escaped in
// place when the block starts and ends in HTML text, which is therefore
// required: a block that starts or ends inside a tag, an attribute value,
// an HTML comment, or a <script>, <style>, <textarea> or <title> element,
// or in a template called from such a place, is an error at Rewrite naming
// the file and line. The check follows html/template's own HTML state
// machine, but not its JavaScript one: a "</script>" inside a JavaScript
// string is taken as the end of the script.
//
// # Limits
//
// A block cannot assign a variable declared outside it ({{$x = ...}}), use
// {{break}} or {{continue}} for a {{range}} outside it, or declare a
// variable used after its {{endcache}}: on a hit the body does not run, so
// those could not take effect. Rewrite reports each as an error.
//
// Vary values are read when the block renders and hashed by value
// (structs field by field, unexported fields included): vary on IDs and
// plain values rather than on structs other goroutines modify.
//
// Names starting with "__cachekit" (templates, functions, variables) are
// reserved. A user function named cache or endcache cannot be used along
// with blocks; one named tags can, if added after Funcs: among the
// arguments of {{cache}}, (tags ...) still means the block's tags.
//
// # How it fits together
//
// One block, from parse to render, by file: rewrite.go finds the templates
// that use blocks and commits the result; context.go checks each block's
// HTML context; pairs.go matches {{cache}} with {{endcache}}; scope.go walks
// a template, rewriting dot, $ and variables and checking their scope;
// hostaction.go turns one block into its host action and body template
// (nodes.go makes the new nodes, digest.go hashes the block's source). At
// render, block.go looks the fragment up in the cache (the hot layer first,
// cachekit.Cache.LookupHot, under a key made on the stack) or renders the body,
// under a key made by hash.go from the vary values (wyhash.go hashes their
// encoding), and records its tags in
// the fill it renders in, found through its link (link.go: a template's
// plain and linked copies, and the linked variants of templates a body
// calls). On a shared store, prefetch.go makes a {{range}} read the blocks
// of all its iterations together before the first (cachekit.Cache.Prefetch),
// and every render runs under a memo of the tag generations it read
// (cachekit.Cache.TagMemo), so a tag is read once per render.
package fragments

import (
	"errors"
	"fmt"
	"html/template"
	"reflect"
	"strconv"
	"strings"

	"github.com/cachekit/cachekit"
)

// Funcs returns the placeholder functions cache, endcache and tags that let
// {{cache}} blocks parse. Add them before parsing:
//
//	template.New("x").Funcs(fragments.Funcs())
//
// Rewrite then replaces every block; executing a block that was not
// rewritten fails with an error saying so.
func Funcs() template.FuncMap {
	return template.FuncMap{
		"cache":    placeholderCache,
		"endcache": placeholderEndcache,
		"tags":     placeholderTags,
	}
}

var errNotRewritten = errors.New("fragments: {{cache}} block executed without fragments.Rewrite: call fragments.Rewrite(set, cache) after parsing and before Execute")

func placeholderCache(...any) (string, error)    { return "", errNotRewritten }
func placeholderEndcache(...any) (string, error) { return "", errNotRewritten }
func placeholderTags(...any) (string, error) {
	return "", errors.New("fragments: tags is only meaningful among the arguments of {{cache}}")
}

// Invalidate removes cached fragments of the block named name from c: the
// one variant for the given vary values, or every variant of the block when
// no vary value is given (in O(1), through the tag every block carries
// implicitly, see BlockTag). Pass the vary values the block was given, in its
// order; they are compared by value: integers of any type with the same
// value are equal, as are strings of any string type (but for a type with
// a String, Error or Format method, whose values are its own).
func Invalidate(c *cachekit.Cache, name string, vary ...any) error {
	if c == nil {
		return errors.New("fragments: Invalidate with a nil *cachekit.Cache")
	}
	if name == "" {
		return errors.New("fragments: Invalidate with an empty block name")
	}
	if len(vary) == 0 {
		return c.InvalidateTags(BlockTag(name))
	}
	key, err := Key(name, vary...)
	if err != nil {
		return err
	}
	return c.Delete(key)
}

// Key returns the cache key under which the block named name stores its
// fragment for the given vary values: "fragment:<name>:" and the 32 hex
// digits of the hash of their encoding. Two lists of values may share a
// key (the stored encoding tells their fragments apart); Invalidate then
// deletes the entry whichever of them wrote it.
func Key(name string, vary ...any) (string, error) {
	vals := make([]reflect.Value, len(vary))
	for i, v := range vary {
		vals[i] = reflect.ValueOf(v)
	}
	sum, err := hashVary(vals)
	if err != nil {
		return "", fmt.Errorf("fragments: key of %q: %w", name, err)
	}
	return keyPrefix(name) + sum, nil
}

// BlockTag returns the tag every fragment of the block named name carries
// implicitly, "fragment:<name>", so c.InvalidateTags(fragments.BlockTag(name))
// is Invalidate(c, name). It names a block's fragments; a page is tagged with
// fibercache.Tag instead.
func BlockTag(name string) string { return "fragment:" + name }

// keyPrefix starts the key of every fragment of the block named name:
// "fragment:<name>:".
func keyPrefix(name string) string { return BlockTag(name) + ":" }

// Error is a malformed {{cache}} block found by Rewrite, or a block that
// failed at render.
type Error struct {
	// Template is the name of the template holding the block.
	Template string
	// Location is "name:line:col" of the offending action, as text/template
	// reports positions (name is the name the file was parsed under).
	Location string
	// Line is the line of Location, 0 when unknown.
	Line int
	// Block is the block's name, when known.
	Block string
	// Err says what is wrong.
	Err error
}

// Error returns "fragments: <location>: {{cache "name"}}: <what is wrong>".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("fragments: ")
	switch {
	case e.Location != "" && e.Template != "" && !strings.HasPrefix(e.Location, e.Template+":"):
		fmt.Fprintf(&b, "%s (template %q): ", e.Location, e.Template)
	case e.Location != "":
		b.WriteString(e.Location)
		b.WriteString(": ")
	case e.Template != "":
		fmt.Fprintf(&b, "template %q: ", e.Template)
	}
	if e.Block != "" {
		fmt.Fprintf(&b, "{{cache %q}}: ", e.Block)
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns e.Err.
func (e *Error) Unwrap() error { return e.Err }

// lineOf returns the line of a "name:line:col" location, or 0.
func lineOf(loc string) int {
	i := strings.LastIndexByte(loc, ':')
	if i < 0 {
		return 0
	}
	j := strings.LastIndexByte(loc[:i], ':')
	if j < 0 {
		return 0
	}
	n, err := strconv.Atoi(loc[j+1 : i])
	if err != nil {
		return 0
	}
	return n
}
