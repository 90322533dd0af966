package gormcache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"time"
)

// A cached entry holds what the database returned, column names and driver
// values, so a hit goes through gorm.Scan like a query's rows do: hooks,
// serializers, Scanner types and field mapping behave the same.
//
// Layout: version byte, uvarint column count, columns (uvarint length and
// bytes), uvarint row count, then each row's values: a kind byte and its
// payload.

const entryVersion = 1

// value kinds
const (
	kNil byte = iota
	kInt
	kFloat
	kBool
	kBytes
	kString
	kTime
)

var errEntry = errors.New("gormcache: corrupt entry")

// supportedValue reports whether the codec can store a driver value.
func supportedValue(v any) bool {
	switch v.(type) {
	case nil, int64, float64, bool, []byte, string, time.Time:
		return true
	}
	return false
}

func encodeRows(cols []string, rows [][]any) ([]byte, bool) {
	b := make([]byte, 0, 64+len(rows)*len(cols)*12)
	b = append(b, entryVersion)
	b = binary.AppendUvarint(b, uint64(len(cols)))
	for _, c := range cols {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	b = binary.AppendUvarint(b, uint64(len(rows)))
	for _, row := range rows {
		if len(row) != len(cols) {
			return nil, false
		}
		for _, v := range row {
			switch x := v.(type) {
			case nil:
				b = append(b, kNil)
			case int64:
				b = append(b, kInt)
				b = binary.AppendVarint(b, x)
			case float64:
				b = append(b, kFloat)
				b = binary.BigEndian.AppendUint64(b, math.Float64bits(x))
			case bool:
				if x {
					b = append(b, kBool, 1)
				} else {
					b = append(b, kBool, 0)
				}
			case []byte:
				b = append(b, kBytes)
				b = binary.AppendUvarint(b, uint64(len(x)))
				b = append(b, x...)
			case string:
				b = append(b, kString)
				b = binary.AppendUvarint(b, uint64(len(x)))
				b = append(b, x...)
			case time.Time:
				t, err := x.MarshalBinary()
				if err != nil {
					return nil, false
				}
				b = append(b, kTime)
				b = binary.AppendUvarint(b, uint64(len(t)))
				b = append(b, t...)
			default:
				return nil, false
			}
		}
	}
	return b, true
}

// decoded is one entry read back.
type decoded struct {
	cols []string
	rows [][]any
}

// decodeRows reads an entry; every []byte and string it returns is a copy,
// so the cache's buffer (shared by the hot layer) is never handed out.
// known, when it equals the entry's column list, is reused.
func decodeRows(b []byte, known []string) (decoded, error) {
	var d decoded
	if len(b) == 0 || b[0] != entryVersion {
		return d, errEntry
	}
	cols, b, ok := decodeCols(b[1:], known)
	if !ok {
		return d, errEntry
	}
	d.cols = cols
	nr, b, ok := uvarint(b)
	if !ok || nr > uint64(len(b)) {
		return d, errEntry
	}
	d.rows = make([][]any, nr)
	vals := make([]any, int(nr)*len(cols))
	for r := range d.rows {
		row := vals[r*len(cols) : (r+1)*len(cols) : (r+1)*len(cols)]
		for i := range row {
			if row[i], b, ok = decodeValue(b); !ok {
				return d, errEntry
			}
		}
		d.rows[r] = row
	}
	if len(b) != 0 {
		return d, errEntry
	}
	return d, nil
}

// decodeCols reads an entry's column list, returning known itself when the
// list equals it, and the bytes after the list.
func decodeCols(b []byte, known []string) ([]string, []byte, bool) {
	n, b, ok := uvarint(b)
	if !ok || n > 4096 {
		return nil, b, false
	}
	reuse := len(known) == int(n)
	cols := known
	if !reuse {
		cols = make([]string, n)
	}
	for i := 0; i < int(n); i++ {
		var l uint64
		l, b, ok = uvarint(b)
		if !ok || uint64(len(b)) < l {
			return nil, b, false
		}
		if reuse && cols[i] == string(b[:l]) {
			b = b[l:]
			continue
		}
		if reuse {
			reuse = false
			cols = append(make([]string, 0, n), known[:i]...)
			cols = cols[:n]
		}
		cols[i] = string(b[:l])
		b = b[l:]
	}
	return cols, b, true
}

// decodeValue reads one value of a row (its kind byte, then its bytes), and
// returns the bytes after it.
func decodeValue(b []byte) (any, []byte, bool) {
	if len(b) == 0 {
		return nil, b, false
	}
	k := b[0]
	b = b[1:]
	switch k {
	case kNil:
		return nil, b, true
	case kInt:
		x, m := binary.Varint(b)
		if m <= 0 {
			return nil, b, false
		}
		return x, b[m:], true
	case kFloat:
		if len(b) < 8 {
			return nil, b, false
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b)), b[8:], true
	case kBool:
		if len(b) < 1 {
			return nil, b, false
		}
		return b[0] == 1, b[1:], true
	case kBytes, kString, kTime:
		l, b, ok := uvarint(b)
		if !ok || uint64(len(b)) < l {
			return nil, b, false
		}
		v, ok := decodeText(k, b[:l])
		return v, b[l:], ok
	}
	return nil, b, false
}

// decodeText returns a copy of the bytes p of a value of kind k (kBytes,
// kString or kTime).
func decodeText(k byte, p []byte) (any, bool) {
	switch k {
	case kBytes:
		c := bytes.Clone(p)
		if c == nil {
			c = []byte{}
		}
		return c, true
	case kString:
		return string(p), true
	}
	var t time.Time
	if err := t.UnmarshalBinary(p); err != nil {
		return nil, false
	}
	return t, true
}

func uvarint(b []byte) (uint64, []byte, bool) {
	x, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, b, false
	}
	return x, b[n:], true
}
