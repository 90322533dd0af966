package fragments

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sync"
)

// Vary values are hashed by value into a canonical encoding, then SHA-256:
// a key is never shared by two different values (a collision would serve one
// user's fragment to another), whatever their length.
//
// The encoding normalises what a template cannot tell apart: integers of any
// type with the same value, strings of any string type, pointers and
// interfaces and what they point to. Structs are hashed field by field
// (unexported fields included, so two values that differ only there get
// different keys) unless they implement encoding.BinaryMarshaler or
// encoding.TextMarshaler (time.Time, netip.Addr, ...), which define their
// canonical form. Funcs, channels and unsafe pointers cannot be hashed.

const maxHashDepth = 64

var hashBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// hashVary returns the hex digest of vals.
func hashVary(vals []reflect.Value) (string, error) {
	var dst [2 * 16]byte // the hex of the first 16 bytes of the digest
	b, err := appendVaryHash(dst[:0], vals)
	return string(b), err
}

// varyKey returns prefix followed by the hex digest of vals, in one
// allocation: the key a block looks its fragment up under.
func varyKey(prefix string, vals []reflect.Value) (string, error) {
	var dst [128]byte
	b, err := appendVaryKey(dst[:0], prefix, vals)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// appendVaryKey appends prefix and the hex digest of vals to dst.
func appendVaryKey(dst []byte, prefix string, vals []reflect.Value) ([]byte, error) {
	return appendVaryHash(append(dst, prefix...), vals)
}

// simpleEnc is the room made on the stack for the encoding of the usual
// vary values (an id and a short string take about 30 bytes); a longer one
// grows on the heap.
const simpleEnc = 80

// appendSimpleKey is appendVaryKey for vals of the usual kinds (integers,
// strings, booleans, floats, nil, through pointers and interfaces), encoded
// with no reflect beyond their kind (appendSimple), to the same bytes as
// appendValue gives them: ok is false when a value is of another kind. It
// keeps nothing of dst and cannot panic, so a block makes its key in a
// stack buffer and looks a hit up under it before anything else.
func appendSimpleKey(dst []byte, prefix string, vals []reflect.Value) (_ []byte, ok bool) {
	var buf [simpleEnc]byte
	b := append(buf[:0], 1) // encoding version
	for i := range vals {
		if b, ok = appendSimple(b, vals[i]); !ok {
			return dst, false
		}
	}
	sum := sha256.Sum256(b)
	return appendHex16(append(dst, prefix...), &sum), true
}

// appendVaryHash appends the hex digest of vals to dst: through
// appendSimpleKey's encoding when it can, else the general one
// (appendValue), which gives the usual kinds the same bytes: one encoding,
// one SHA-256, whichever path made it.
func appendVaryHash(dst []byte, vals []reflect.Value) ([]byte, error) {
	if out, ok := appendSimpleKey(dst, "", vals); ok {
		return out, nil
	}
	return appendVaryHashSlow(dst, vals)
}

// appendVaryHashSlow is appendVaryHash through the general encoding.
func appendVaryHashSlow(dst []byte, vals []reflect.Value) ([]byte, error) {
	bp := hashBufs.Get().(*[]byte)
	b := append((*bp)[:0], 1) // encoding version
	var err error
	for i, v := range vals {
		b, err = appendValue(b, v, 0)
		if err != nil {
			*bp = b[:0]
			hashBufs.Put(bp)
			return dst, fmt.Errorf("vary value %d: %w", i+1, err)
		}
	}
	sum := sha256.Sum256(b)
	if cap(b) <= 64<<10 {
		*bp = b[:0]
		hashBufs.Put(bp)
	}
	return appendHex16(dst, &sum), nil
}

// appendHex16 appends the lower-case hex of the first 16 bytes of sum, as
// hex.AppendEncode does, eight bytes at a time (hex8).
func appendHex16(dst []byte, sum *[sha256.Size]byte) []byte {
	var h [32]byte
	hi, lo := hex8(binary.BigEndian.Uint64(sum[:8]))
	binary.BigEndian.PutUint64(h[0:], hi)
	binary.BigEndian.PutUint64(h[8:], lo)
	hi, lo = hex8(binary.BigEndian.Uint64(sum[8:16]))
	binary.BigEndian.PutUint64(h[16:], hi)
	binary.BigEndian.PutUint64(h[24:], lo)
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
)

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
		b = binary.BigEndian.AppendUint64(append(b, 'c'), math.Float64bits(real(c)))
		return binary.BigEndian.AppendUint64(b, math.Float64bits(imag(c))), nil
	case reflect.Slice, reflect.Array:
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
		return appendMap(b, v, depth)
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
	it := v.MapRange()
	for it.Next() {
		k, err := appendValue(nil, it.Key(), depth+1)
		if err != nil {
			return b, fmt.Errorf("map key: %w", err)
		}
		val, err := appendValue(nil, it.Value(), depth+1)
		if err != nil {
			return b, fmt.Errorf("map value: %w", err)
		}
		kvs = append(kvs, kv{k, val})
	}
	slices.SortFunc(kvs, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
	b = appendLen(append(b, 'm'), len(kvs))
	for _, p := range kvs {
		b = append(b, p.k...)
		b = append(b, p.v...)
	}
	return b, nil
}
