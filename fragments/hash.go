package fragments

import (
	"bytes"
	"encoding"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sync"
)

// Vary values are encoded by value into a canonical encoding, and a block's
// fragment is addressed by a 128-bit hash of it (hashEnc): the key names the
// block and the hash, never the raw values. The fragment is stored with the
// encoding itself (see storedFragment in block.go) and a hit compares it:
// two values whose encodings hash alike (by chance, or made to) share a key
// but never a fragment, as the second one's read is a miss and its render
// replaces the entry.
//
// The encoding normalises what a template cannot tell apart: integers of any
// type with the same value, strings of any string type, pointers and
// interfaces and what they point to; but a value of a type fmt prints
// through its own method (String, Error, Format: appendPrinter) is encoded
// with its type's name, as are the keys of a map keyed by an interface
// type (1 and int64(1) are two keys there). Structs are encoded field by field
// (unexported fields included, so two values that differ only there get
// different keys) unless they implement encoding.BinaryMarshaler or
// encoding.TextMarshaler (time.Time, netip.Addr, ...), which define their
// canonical form. Funcs, channels and unsafe pointers cannot be encoded.
// Each value's encoding is prefix-free (a kind byte, then fixed-size or
// length-prefixed parts), so a list of values is told apart from any other.

const maxHashDepth = 64

// encVersion starts every encoding: 2 since the encoding is stored with
// the fragment and keys are hashEnc's (1 was keyed by SHA-256).
const encVersion = 2

var hashBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// hashVary returns the hex hash of vals' encoding.
func hashVary(vals []reflect.Value) (string, error) {
	var dst [2 * 16]byte
	b, err := appendVaryHash(dst[:0], vals)
	return string(b), err
}

// simpleEnc is the room made on the stack for the encoding of the usual
// vary values (an id and a short string take about 30 bytes); a longer one
// grows on the heap.
const simpleEnc = 80

// appendSimpleEnc appends the encoding of vals when they are of the usual
// kinds (integers, strings, booleans, floats, nil, through pointers and
// interfaces), encoded with no reflect beyond their kind (appendSimple), to
// the same bytes as appendValue gives them: ok is false when a value is of
// another kind. It cannot panic, so a block encodes its values in a stack
// buffer and looks a hit up with them before anything else.
func appendSimpleEnc(dst []byte, vals []reflect.Value) (_ []byte, ok bool) {
	b := append(dst, encVersion)
	for i := range vals {
		if b, ok = appendSimple(b, vals[i]); !ok {
			return dst, false
		}
	}
	return b, true
}

// appendEnc appends the encoding of vals: appendSimpleEnc's when it can,
// else the general one (appendValue), which gives the usual kinds the same
// bytes: one encoding, whichever path made it.
func appendEnc(dst []byte, vals []reflect.Value) ([]byte, error) {
	if out, ok := appendSimpleEnc(dst, vals); ok {
		return out, nil
	}
	b := append(dst, encVersion)
	var err error
	for i, v := range vals {
		if b, err = appendValue(b, v, 0); err != nil {
			return dst, fmt.Errorf("vary value %d: %w", i+1, err)
		}
	}
	return b, nil
}

// appendVaryHash appends the hex hash of vals' encoding to dst.
func appendVaryHash(dst []byte, vals []reflect.Value) ([]byte, error) {
	var sb [simpleEnc]byte
	if enc, ok := appendSimpleEnc(sb[:0], vals); ok {
		return appendHashHex(dst, enc), nil
	}
	bp := hashBufs.Get().(*[]byte)
	enc, err := appendEnc((*bp)[:0], vals)
	if err == nil {
		dst = appendHashHex(dst, enc)
	}
	if cap(enc) <= 64<<10 {
		*bp = enc[:0]
		hashBufs.Put(bp)
	}
	return dst, err
}

// appendKey appends the key of the fragment of the block whose keys start
// with prefix for the vary encoding enc.
func appendKey(dst []byte, prefix string, enc []byte) []byte {
	return appendHashHex(append(dst, prefix...), enc)
}

// appendHashHex appends the 32 lower-case hex digits of hashEnc(enc).
func appendHashHex(dst []byte, enc []byte) []byte {
	hi, lo := hashEnc(enc)
	return appendHex128(dst, hi, lo)
}

// hashEnc is the 128-bit hash a vary encoding is keyed by: wyhash (final
// version 4, with its default secret; wyhash) of enc under two seeds. It
// is fixed here, not the runtime's hash, so it is the same in every
// process, on every platform and in every Go version: instances sharing a
// store agree on every key. It is not a cryptographic hash and need not
// be: the stored encoding, compared on every hit, is what keeps two
// values' fragments apart (a collision only makes them take turns in one
// entry, each read by the other a miss).
func hashEnc(enc []byte) (hi, lo uint64) {
	return wyhash(enc, hashSeedHi), wyhash(enc, hashSeedLo)
}

const (
	hashSeedHi = 0x63616368656b6974 // "cachekit"
	hashSeedLo = 0x667261676d656e74 // "fragment"
)

// appendHex128 appends the lower-case hex of hi then lo, as
// hex.AppendEncode of their big-endian bytes does, eight bytes at a time
// (hex8).
func appendHex128(dst []byte, hi, lo uint64) []byte {
	var h [32]byte
	a, b := hex8(hi)
	binary.BigEndian.PutUint64(h[0:], a)
	binary.BigEndian.PutUint64(h[8:], b)
	a, b = hex8(lo)
	binary.BigEndian.PutUint64(h[16:], a)
	binary.BigEndian.PutUint64(h[24:], b)
	return append(dst, h[:]...)
}

// hex8 returns the 16 lower-case hex digits of x, most significant first,
// as two big-endian words of eight ASCII bytes each.
func hex8(x uint64) (hi, lo uint64) {
	return hex4(uint32(x >> 32)), hex4(uint32(x))
}

// hex4 returns the 8 hex digits of x as a big-endian word: each nibble is
// spread into a byte of its own, then turned into '0'-'9' or 'a'-'f'
// without a branch.
func hex4(x uint32) uint64 {
	v := uint64(x)
	v = (v | v<<16) & 0x0000ffff0000ffff
	v = (v | v<<8) & 0x00ff00ff00ff00ff
	v = (v | v<<4) & 0x0f0f0f0f0f0f0f0f
	letters := ((v + 0x0606060606060606) >> 4) & 0x0101010101010101 // 1 where the nibble is >= 10
	return v + 0x3030303030303030 + letters*('a'-'0'-10)
}

// appendSimple appends the encoding of v as appendValue does, when v is of
// a usual kind (through at most a few pointers and interfaces); ok is false
// for anything else, which appendValue encodes.
func appendSimple(b []byte, v reflect.Value) (_ []byte, ok bool) {
	for range 4 {
		if !v.IsValid() {
			return append(b, 'n'), true
		}
		if k := v.Kind(); k == reflect.Interface || k == reflect.Pointer {
			if v.IsNil() {
				return append(b, 'n'), true
			}
			v = v.Elem()
			continue
		}
		return appendScalar(b, v)
	}
	return b, false
}

// appendScalar appends the encoding of v when it is a bool, a number other
// than complex, or a string (appendValue's encoding of those); ok is false
// for any other kind.
func appendScalar(b []byte, v reflect.Value) (_ []byte, ok bool) {
	switch v.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.String:
		b = appendPrinter(b, v)
	default:
		return b, false
	}
	switch v.Kind() {
	case reflect.Bool:
		if v.Bool() {
			return append(b, 'b', 1), true
		}
		return append(b, 'b', 0), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return binary.BigEndian.AppendUint64(append(b, 'i'), uint64(v.Int())), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := v.Uint()
		if u <= math.MaxInt64 {
			return binary.BigEndian.AppendUint64(append(b, 'i'), u), true
		}
		return binary.BigEndian.AppendUint64(append(b, 'u'), u), true
	case reflect.Float32, reflect.Float64:
		return binary.BigEndian.AppendUint64(append(b, 'f'), math.Float64bits(v.Float())), true
	case reflect.String:
		s := v.String()
		return append(appendLen(append(b, 's'), len(s)), s...), true
	}
	return b, false
}

var (
	binaryMarshalerType = reflect.TypeFor[encoding.BinaryMarshaler]()
	textMarshalerType   = reflect.TypeFor[encoding.TextMarshaler]()
	stringerType        = reflect.TypeFor[fmt.Stringer]()
	errorType           = reflect.TypeFor[error]()
	formatterType       = reflect.TypeFor[fmt.Formatter]()
)

// appendPrinter appends, for a value of a type fmt prints through its own
// method (a fmt.Formatter, an error or a fmt.Stringer, as text/template
// and html/template print it: through *T too when v is addressable), a
// 'T' and the type's name: such values are told apart from an equal
// number or string of another type, which prints differently. Values of
// other types (type ID int64 without those methods) are encoded as their
// kind alone, so Invalidate and Key take a plain number for them.
func appendPrinter(b []byte, v reflect.Value) []byte {
	t := v.Type()
	if k := v.Kind(); int(k) < len(predeclared) && predeclared[k] == t {
		return b // the usual case: a predeclared type has no methods
	}
	switch {
	case t.NumMethod() > 0 && printsOwnWay(t):
	case v.CanAddr() && t.PkgPath() != "" && printsOwnWay(reflect.PointerTo(t)):
	default:
		return b
	}
	name := t.PkgPath() + "." + t.String()
	return append(appendLen(append(b, 'T'), len(name)), name...)
}

// predeclared is the predeclared type of each scalar kind.
var predeclared = [...]reflect.Type{
	reflect.Bool: reflect.TypeFor[bool](), reflect.Int: reflect.TypeFor[int](), reflect.Int8: reflect.TypeFor[int8](),
	reflect.Int16: reflect.TypeFor[int16](), reflect.Int32: reflect.TypeFor[int32](), reflect.Int64: reflect.TypeFor[int64](),
	reflect.Uint: reflect.TypeFor[uint](), reflect.Uint8: reflect.TypeFor[uint8](), reflect.Uint16: reflect.TypeFor[uint16](),
	reflect.Uint32: reflect.TypeFor[uint32](), reflect.Uint64: reflect.TypeFor[uint64](), reflect.Uintptr: reflect.TypeFor[uintptr](),
	reflect.Float32: reflect.TypeFor[float32](), reflect.Float64: reflect.TypeFor[float64](),
	reflect.String: reflect.TypeFor[string](),
}

// printsOwnWay reports whether fmt prints a value of type t through a
// method of t.
func printsOwnWay(t reflect.Type) bool {
	return t.Implements(formatterType) || t.Implements(errorType) || t.Implements(stringerType)
}

func appendLen(b []byte, n int) []byte { return binary.AppendUvarint(b, uint64(n)) }

func appendValue(b []byte, v reflect.Value, depth int) ([]byte, error) {
	if depth > maxHashDepth {
		return b, fmt.Errorf("nested more than %d levels deep (a cycle?)", maxHashDepth)
	}
	if !v.IsValid() {
		return append(b, 'n'), nil
	}
	if out, ok := appendScalar(b, v); ok {
		return out, nil
	}
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return append(b, 'n'), nil
		}
		return appendValue(b, v.Elem(), depth+1)
	case reflect.Complex64, reflect.Complex128:
		c := v.Complex()
		b = binary.BigEndian.AppendUint64(append(appendPrinter(b, v), 'c'), math.Float64bits(real(c)))
		return binary.BigEndian.AppendUint64(b, math.Float64bits(imag(c))), nil
	case reflect.Slice, reflect.Array:
		b = appendPrinter(b, v)
		n := v.Len()
		if v.Type().Elem().Kind() == reflect.Uint8 && (v.Kind() == reflect.Slice || v.CanAddr()) {
			return append(appendLen(append(b, 'y'), n), v.Bytes()...), nil
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b = appendLen(append(b, 'y'), n)
			for i := range n {
				b = append(b, byte(v.Index(i).Uint()))
			}
			return b, nil
		}
		b = appendLen(append(b, 'l'), n)
		var err error
		for i := range n {
			if b, err = appendValue(b, v.Index(i), depth+1); err != nil {
				return b, fmt.Errorf("element %d: %w", i, err)
			}
		}
		return b, nil
	case reflect.Map:
		return appendMap(appendPrinter(b, v), v, depth)
	case reflect.Struct:
		if m, ok := marshaled(v); ok {
			return m(b)
		}
		t := v.Type()
		name := t.String()
		if t.Name() != "" {
			name = t.PkgPath() + "." + t.Name()
		}
		b = append(appendLen(append(b, 'S'), len(name)), name...)
		b = appendLen(b, v.NumField())
		var err error
		for i := range v.NumField() {
			f := t.Field(i)
			b = append(appendLen(b, len(f.Name)), f.Name...)
			if b, err = appendValue(b, v.Field(i), depth+1); err != nil {
				return b, fmt.Errorf("field %s: %w", f.Name, err)
			}
		}
		return b, nil
	default: // Func, Chan, UnsafePointer
		return b, fmt.Errorf("a %s (%s) cannot be hashed", v.Kind(), v.Type())
	}
}

// marshaled returns an encoder for a struct that defines its own canonical
// form, if it does.
func marshaled(v reflect.Value) (func([]byte) ([]byte, error), bool) {
	m := v
	switch {
	case !v.CanInterface():
		return nil, false
	case v.Type().Implements(binaryMarshalerType), v.Type().Implements(textMarshalerType):
	case v.CanAddr() && (reflect.PointerTo(v.Type()).Implements(binaryMarshalerType) || reflect.PointerTo(v.Type()).Implements(textMarshalerType)):
		m = v.Addr()
	default:
		return nil, false
	}
	name := v.Type().PkgPath() + "." + v.Type().String()
	return func(b []byte) ([]byte, error) {
		var out []byte
		var err error
		switch x := m.Interface().(type) {
		case encoding.BinaryMarshaler:
			out, err = x.MarshalBinary()
		case encoding.TextMarshaler:
			out, err = x.MarshalText()
		}
		if err != nil {
			return b, fmt.Errorf("%s: %w", name, err)
		}
		b = append(appendLen(append(b, 'M'), len(name)), name...)
		return append(appendLen(b, len(out)), out...), nil
	}, true
}

func appendMap(b []byte, v reflect.Value, depth int) ([]byte, error) {
	type kv struct{ k, v []byte }
	kvs := make([]kv, 0, v.Len())
	// Keys of an interface type are encoded with their dynamic type: 1 and
	// int64(1) are two keys of one map, which the encoding of each as a
	// number alone would not tell from the same map with their values
	// swapped (fmt prints the two apart).
	typed := v.Type().Key().Kind() == reflect.Interface
	it := v.MapRange()
	for it.Next() {
		var k []byte
		if key := it.Key(); typed && !key.IsNil() {
			name := key.Elem().Type().String()
			k = append(appendLen(append(k, 'K'), len(name)), name...)
		}
		k, err := appendValue(k, it.Key(), depth+1)
		if err != nil {
			return b, fmt.Errorf("map key: %w", err)
		}
		val, err := appendValue(nil, it.Value(), depth+1)
		if err != nil {
			return b, fmt.Errorf("map value: %w", err)
		}
		kvs = append(kvs, kv{k, val})
	}
	slices.SortFunc(kvs, func(a, b kv) int { // keys alike (NaNs) by their values
		if c := bytes.Compare(a.k, b.k); c != 0 {
			return c
		}
		return bytes.Compare(a.v, b.v)
	})
	b = appendLen(append(b, 'm'), len(kvs))
	for _, p := range kvs {
		b = append(b, p.k...)
		b = append(b, p.v...)
	}
	return b, nil
}
