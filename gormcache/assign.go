package gormcache

import (
	"bytes"
	"database/sql"
	"reflect"
	"strconv"
	"time"
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
