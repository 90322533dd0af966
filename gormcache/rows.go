package gormcache

import (
	"bytes"
	"database/sql"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"strconv"
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

// recordingRows is a query's *sql.Rows that also keeps each row's driver
// values, so the result can be stored as it came.
type recordingRows struct {
	*sql.Rows
	cols    []string
	rows    [][]any
	holders []any
	max     int  // rows kept at most; past it the result is not stored
	bad     bool // a value or destination the replay cannot reproduce
}

func (r *recordingRows) Scan(dest ...any) error {
	if !r.bad && len(r.rows) >= r.max {
		r.bad, r.rows = true, nil
	}
	if !r.bad {
		if r.holders == nil {
			r.holders = make([]any, len(dest))
		}
		raw := make([]any, len(dest))
		for i := range raw {
			r.holders[i] = &raw[i]
		}
		if err := r.Rows.Scan(r.holders...); err != nil {
			r.bad = true
		} else {
			for i, v := range raw {
				if !supportedValue(v) || !convertible(reflect.TypeOf(dest[i]), v) {
					r.bad = true
					break
				}
			}
			r.rows = append(r.rows, raw)
		}
	}
	return r.Rows.Scan(dest...)
}

// replayRows hands a stored result to gorm.Scan.
type replayRows struct {
	cols []string
	rows [][]any
	i    int
	err  error
}

func (r *replayRows) Columns() ([]string, error)              { return r.cols, nil }
func (r *replayRows) ColumnTypes() ([]*sql.ColumnType, error) { return nil, errNoColumnTypes }
func (r *replayRows) Next() bool {
	if r.i >= len(r.rows) {
		return false
	}
	r.i++
	return true
}
func (r *replayRows) Err() error   { return nil }
func (r *replayRows) Close() error { return nil }

func (r *replayRows) Scan(dest ...any) error {
	if r.i == 0 || r.i > len(r.rows) || len(dest) != len(r.cols) {
		r.err = errReplay
		return r.err
	}
	row := r.rows[r.i-1]
	for i, d := range dest {
		if err := assign(d, row[i]); err != nil {
			r.err = err
			return err
		}
	}
	return nil
}

var (
	errReplay        = errors.New("gormcache: replay")
	errNoColumnTypes = errors.New("gormcache: no column types on a cached result")
)

var scannerType = reflect.TypeFor[sql.Scanner]()
var timeType = reflect.TypeFor[time.Time]()

// convertible reports whether assign can store src into a destination of
// type dt exactly as database/sql's Scan would.
func convertible(dt reflect.Type, src any) bool {
	if dt == nil || dt.Kind() != reflect.Pointer {
		return false
	}
	if dt.Implements(scannerType) {
		return true
	}
	t := dt.Elem()
	if t.Kind() == reflect.Interface && t.NumMethod() == 0 {
		return true
	}
	if t.Kind() == reflect.Pointer { // **T: nil, or a new T
		if src == nil {
			return true
		}
		return convertible(t, src)
	}
	if src == nil {
		return false
	}
	return basicConvertible(t, src)
}

func basicConvertible(t reflect.Type, src any) bool {
	switch t.Kind() {
	case reflect.String:
		switch src.(type) {
		case string, []byte:
			return true
		}
	case reflect.Slice:
		if t.Elem().Kind() != reflect.Uint8 || t == reflect.TypeFor[sql.RawBytes]() {
			return false
		}
		switch src.(type) {
		case string, []byte:
			return true
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		switch src.(type) {
		case int64, string, []byte:
			return true
		}
	case reflect.Float32, reflect.Float64:
		switch src.(type) {
		case float64, int64, string, []byte:
			return true
		}
	case reflect.Bool:
		switch src.(type) {
		case bool, int64, string, []byte:
			return true
		}
	case reflect.Struct:
		if t == timeType {
			_, ok := src.(time.Time)
			return ok
		}
	}
	return false
}

// assign stores src into dest as database/sql's Rows.Scan does, for the
// destinations gorm.Scan passes (a Scanner, *any, or **T of a basic T).
func assign(dest any, src any) error {
	switch d := dest.(type) {
	case sql.Scanner:
		return d.Scan(src)
	case *any:
		if b, ok := src.([]byte); ok {
			src = bytes.Clone(b)
		}
		*d = src
		return nil
	}
	dv := reflect.ValueOf(dest)
	if dv.Kind() != reflect.Pointer || dv.IsNil() {
		return errReplay
	}
	dv = dv.Elem()
	if dv.Kind() == reflect.Pointer {
		if src == nil {
			dv.SetZero()
			return nil
		}
		nv := reflect.New(dv.Type().Elem())
		if err := assign(nv.Interface(), src); err != nil {
			return err
		}
		dv.Set(nv)
		return nil
	}
	return assignBasic(dv, src)
}

// assignBasic stores src into dv, a string, []byte, number, bool or
// time.Time, converting as database/sql's convertAssign does.
func assignBasic(dv reflect.Value, src any) error {
	switch dv.Kind() {
	case reflect.String, reflect.Slice:
		return assignText(dv, src)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return assignNumber(dv, src)
	case reflect.Bool:
		return assignBool(dv, src)
	case reflect.Struct:
		if t, ok := src.(time.Time); ok && dv.Type() == timeType {
			dv.Set(reflect.ValueOf(t))
			return nil
		}
	}
	return errReplay
}

// assignText stores a string or []byte src into dv, a string or a []byte
// (a copy).
func assignText(dv reflect.Value, src any) error {
	if dv.Kind() == reflect.String {
		switch s := src.(type) {
		case string:
			dv.SetString(s)
			return nil
		case []byte:
			dv.SetString(string(s))
			return nil
		}
		return errReplay
	}
	if dv.Type().Elem().Kind() == reflect.Uint8 {
		switch s := src.(type) {
		case string:
			dv.SetBytes([]byte(s))
			return nil
		case []byte:
			dv.SetBytes(bytes.Clone(s))
			return nil
		}
	}
	return errReplay
}

// assignNumber stores src, parsed from its text, into dv, an integer or a
// float of any size.
func assignNumber(dv reflect.Value, src any) error {
	s, ok := asString(src)
	if !ok {
		return errReplay
	}
	switch dv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, dv.Type().Bits())
		if err != nil {
			return err
		}
		dv.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, dv.Type().Bits())
		if err != nil {
			return err
		}
		dv.SetUint(n)
	default:
		f, err := strconv.ParseFloat(s, dv.Type().Bits())
		if err != nil {
			return err
		}
		dv.SetFloat(f)
	}
	return nil
}

// assignBool stores src into dv, a bool: a bool, 0 or 1, or text
// strconv.ParseBool reads.
func assignBool(dv reflect.Value, src any) error {
	switch s := src.(type) {
	case bool:
		dv.SetBool(s)
		return nil
	case int64:
		if s == 0 || s == 1 {
			dv.SetBool(s == 1)
			return nil
		}
		return errReplay
	case string, []byte:
		str, _ := asString(s)
		b, err := strconv.ParseBool(str)
		if err != nil {
			return err
		}
		dv.SetBool(b)
		return nil
	}
	return errReplay
}

// asString is database/sql's asString for the values the codec keeps.
func asString(src any) (string, bool) {
	switch v := src.(type) {
	case string:
		return v, true
	case []byte:
		return string(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), true
	}
	return "", false
}
