package gormcache

import (
	"bytes"
	"cmp"
	"hash/maphash"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"gorm.io/gorm"
)

// A hit on one row into a struct goes, the first time an entry is seen,
// through gorm.Scan like the database's rows (hooks, serializers, Scanner
// types and field mapping behave as uncached); the struct's column fields
// are then kept as a prototype beside a copy of the entry's bytes. The next
// hit whose entry has the very same bytes copies those fields into the
// destination instead of decoding and scanning again: what gorm.Scan would
// have set, since the same bytes scan to the same fields.
//
// Only when that copy is exactly what gorm.Scan does: a struct destination
// of the model whose column fields are all zero but the primary key (gorm
// then overwrites every one of them, as the prototype's were), fields of
// value types that hold no pointers (strings and time.Time too: both are
// immutable), pointers to such types and byte slices (both copied, so no
// two callers share memory), no serializer, no column mapping, a field path
// without embedded pointers. Anything else takes gorm.Scan every time.

// protoSlots is how many prototypes a model keeps: a hash-indexed table,
// a new entry replacing the one in its slot.
const protoSlots = 256

// protoMaxBytes bounds the entries kept as prototypes, and so a model's
// prototypes to about protoSlots × 2 × protoMaxBytes (2 MiB): a larger row
// takes gorm.Scan every time, its copy costing more than the scan's
// bookkeeping anyway.
const protoMaxBytes = 4 << 10

type protoTable struct {
	seed   maphash.Seed
	slots  [protoSlots]atomic.Pointer[proto]
	plans  sync.Map // column list -> *copyPlan (nil pointer: not copyable)
	layout structLayout
}

// structLayout is where the model struct's bytes are, but for its primary
// key fields: a destination whose bytes there are all zero is a new struct
// (db.First(&u, 7), u := User{ID: 7}), which a hit sets by copying the
// whole prototype.
type structLayout struct {
	once sync.Once
	ok   bool
	zero []byte       // the struct's size of zeros
	segs [][2]uintptr // byte ranges [from, to) outside the key fields
}

func (l *structLayout) init(mi *modelInfo) {
	l.once.Do(func() {
		t := mi.sch.ModelType
		var keys [][2]uintptr
		for _, f := range mi.pk {
			off, ok := fieldOffset(t, f.StructField.Index)
			if !ok {
				return
			}
			keys = append(keys, [2]uintptr{off, off + f.FieldType.Size()})
		}
		slices.SortFunc(keys, func(a, b [2]uintptr) int { return cmp.Compare(a[0], b[0]) })
		var at uintptr
		for _, k := range keys {
			if k[0] > at {
				l.segs = append(l.segs, [2]uintptr{at, k[0]})
			}
			at = max(at, k[1])
		}
		if at < t.Size() {
			l.segs = append(l.segs, [2]uintptr{at, t.Size()})
		}
		l.zero = make([]byte, t.Size())
		l.ok = true
	})
}

// fieldOffset is the byte offset of the field at index in struct type t,
// reached without a pointer.
func fieldOffset(t reflect.Type, index []int) (uintptr, bool) {
	if !plainPath(t, index) {
		return 0, false
	}
	var off uintptr
	for _, x := range index {
		f := t.Field(x)
		off += f.Offset
		t = f.Type
	}
	return off, true
}

// isNew reports whether the struct rv (addressable, of the model's type) is
// zero outside its key fields.
func (l *structLayout) isNew(rv reflect.Value) bool {
	if !l.ok {
		return false
	}
	b := unsafe.Slice((*byte)(rv.Addr().UnsafePointer()), len(l.zero))
	for _, s := range l.segs {
		if !bytes.Equal(b[s[0]:s[1]], l.zero[s[0]:s[1]]) {
			return false
		}
	}
	return true
}

// proto is one entry's bytes and the column fields they scan to.
type proto struct {
	raw []byte
	val reflect.Value // the model struct (not addressable by callers)
	cp  *copyPlan
}

// copyPlan is how to copy the column fields of one column list.
type copyPlan struct {
	fields []fieldCopy
	fix    []fieldCopy // the fields a whole-struct copy must copy again: pointers and bytes
}

type fieldCopy struct {
	index []int
	pk    bool
	kind  copyKind
}

type copyKind uint8

const (
	copyValue copyKind = iota // plain assignment: the type holds no pointers
	copyPtr                   // *T, T holding no pointers: a new T
	copyBytes                 // []byte: a clone
)

// plan returns the copy plan of cols for model type mt; nil when a column is
// not one the copy reproduces.
func (t *protoTable) plan(mi *modelInfo, cols []string) *copyPlan {
	key := strings.Join(cols, "\x00")
	if v, ok := t.plans.Load(key); ok {
		return v.(*copyPlan)
	}
	cp := buildCopyPlan(mi, cols)
	t.plans.Store(key, cp)
	return cp
}

func buildCopyPlan(mi *modelInfo, cols []string) *copyPlan {
	cp := &copyPlan{}
	seen := map[string]bool{}
	for _, c := range cols {
		f := mi.sch.LookUpField(c)
		if f == nil || !f.Readable || seen[c] || f.Serializer != nil || !plainPath(mi.sch.ModelType, f.StructField.Index) {
			return nil
		}
		seen[c] = true
		fc := fieldCopy{index: f.StructField.Index, pk: f.PrimaryKey}
		ft := f.FieldType
		switch {
		case pointerFree(ft):
			fc.kind = copyValue
		case ft.Kind() == reflect.Pointer && pointerFree(ft.Elem()):
			fc.kind = copyPtr
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Uint8:
			fc.kind = copyBytes
		default:
			return nil
		}
		cp.fields = append(cp.fields, fc)
		if fc.kind != copyValue {
			cp.fix = append(cp.fix, fc)
		}
	}
	return cp
}

// plainPath reports whether the field at index of struct type t is reached
// without going through a pointer (an embedded *T may be nil).
func plainPath(t reflect.Type, index []int) bool {
	if len(index) == 0 {
		return false
	}
	for i, x := range index {
		if t.Kind() != reflect.Struct || x < 0 || x >= t.NumField() {
			return false
		}
		t = t.Field(x).Type
		if i < len(index)-1 && t.Kind() == reflect.Pointer {
			return false
		}
	}
	return true
}

// pointerFree reports whether a value of type t can be shared by plain
// assignment: it holds no pointer, slice, map, channel, func or interface,
// strings and time.Time aside (both immutable).
func pointerFree(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128, reflect.String:
		return true
	case reflect.Array:
		return pointerFree(t.Elem())
	case reflect.Struct:
		if t == timeType {
			return true
		}
		for i := 0; i < t.NumField(); i++ {
			if !pointerFree(t.Field(i).Type) {
				return false
			}
		}
		return true
	}
	return false
}

// fresh reports whether every column field of rv but the primary key is
// zero: gorm.Scan then sets each one as it set the prototype's.
func (cp *copyPlan) fresh(rv reflect.Value) bool {
	for i := range cp.fields {
		f := &cp.fields[i]
		if !f.pk && !rv.FieldByIndex(f.index).IsZero() {
			return false
		}
	}
	return true
}

// copy sets the column fields of dst from src.
func (cp *copyPlan) copy(dst, src reflect.Value) { copyFields(cp.fields, dst, src) }

// copyWhole sets dst, a new struct (see structLayout), from the prototype
// src: the whole struct at once (src is zero outside its column fields, as
// dst is), then a copy of its own of each pointer and byte slice.
func (cp *copyPlan) copyWhole(dst, src reflect.Value) {
	dst.Set(src)
	copyFields(cp.fix, dst, src)
}

func copyFields(fields []fieldCopy, dst, src reflect.Value) {
	for i := range fields {
		f := &fields[i]
		d, s := dst.FieldByIndex(f.index), src.FieldByIndex(f.index)
		switch f.kind {
		case copyValue:
			d.Set(s)
		case copyPtr:
			if s.IsNil() {
				d.SetZero()
				continue
			}
			n := reflect.New(s.Type().Elem())
			n.Elem().Set(s.Elem())
			d.Set(n)
		case copyBytes:
			if s.IsNil() {
				d.SetZero()
				continue
			}
			d.SetBytes(bytes.Clone(s.Bytes()))
		}
	}
}

// structDest returns the query's destination when it is one struct of the
// model, settable, with no column mapping.
func structDest(db *gorm.DB, mi *modelInfo) (reflect.Value, bool) {
	stmt := db.Statement
	rv := stmt.ReflectValue
	if rv.Kind() != reflect.Struct || rv.Type() != mi.sch.ModelType || !rv.CanSet() || len(stmt.ColumnMapping) > 0 {
		return reflect.Value{}, false
	}
	return rv, true
}

// fastHit answers a hit on raw from a prototype; false (db untouched) when
// there is none for these bytes or the destination is not one it copies to.
func (t *protoTable) fastHit(db *gorm.DB, mi *modelInfo, raw []byte) bool {
	pr := t.slots[maphash.Bytes(t.seed, raw)%protoSlots].Load()
	if pr == nil || !bytes.Equal(pr.raw, raw) {
		return false
	}
	rv, ok := structDest(db, mi)
	if !ok {
		return false
	}
	switch {
	case t.layout.isNew(rv):
		pr.cp.copyWhole(rv, pr.val)
	case pr.cp.fresh(rv):
		pr.cp.copy(rv, pr.val)
	default:
		return false
	}
	db.RowsAffected = 1
	if db.Statement.Result != nil {
		db.Statement.Result.RowsAffected = 1
	}
	return true
}

// keep stores the prototype of raw from rv, just scanned from it by
// gorm.Scan; cp is the plan of its columns, checked fresh before the scan.
func (t *protoTable) keep(raw []byte, rv reflect.Value, cp *copyPlan) {
	if len(raw) > protoMaxBytes {
		return
	}
	val := reflect.New(rv.Type()).Elem()
	cp.copy(val, rv)
	t.slots[maphash.Bytes(t.seed, raw)%protoSlots].Store(&proto{raw: bytes.Clone(raw), val: val, cp: cp})
}
