package gormcache

import (
	"reflect"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm/schema"
)

// keyPart spells a value in a key, one spelling per value and type family.
func keyPart(v any) (string, bool) {
	switch x := v.(type) { // the common key types, without reflect
	case int:
		return "i" + strconv.Itoa(x), true
	case int64:
		return "i" + strconv.FormatInt(x, 10), true
	case uint:
		return "i" + strconv.FormatUint(uint64(x), 10), true
	case uint64:
		return "i" + strconv.FormatUint(x, 10), true
	case string:
		return "s" + strconv.Quote(x), true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "i" + strconv.FormatInt(rv.Int(), 10), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "i" + strconv.FormatUint(rv.Uint(), 10), true
	case reflect.String:
		return "s" + strconv.Quote(rv.String()), true
	case reflect.Bool:
		return "b" + strconv.FormatBool(rv.Bool()), true
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return "x" + strconv.Quote(string(rv.Bytes())), true
		}
	case reflect.Struct:
		if t, ok := v.(time.Time); ok {
			return "t" + t.Format(time.RFC3339Nano), true
		}
	}
	return "", false
}

// pkText spells a primary key value the way row tags do, converted to the
// field's kind as the database converts it; ok is false when the plugin
// cannot tell which row the value names.
func pkText(f *schema.Field, v any) (string, bool) {
	v, ok := scalar(v)
	if !ok {
		return "", false
	}
	rv := reflect.ValueOf(v)
	switch k := f.IndirectFieldType.Kind(); {
	case isIntKind(k):
		switch rv.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			return strconv.FormatInt(rv.Int(), 10), true
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			return strconv.FormatUint(rv.Uint(), 10), true
		case reflect.String:
			n, err := strconv.ParseInt(strings.TrimSpace(rv.String()), 10, 64)
			if err != nil {
				return "", false
			}
			return strconv.FormatInt(n, 10), true
		}
		return "", false
	case k == reflect.String:
		if rv.Kind() == reflect.String {
			return rv.String(), true
		}
		return "", false
	}
	// Other primary keys (a UUID type, say): the database value's text.
	return tagText(v)
}

// tagText spells a database value (what a driver returns, or a Go value
// bound to a query) in a row tag.
func tagText(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case int64:
		return strconv.FormatInt(x, 10), true
	case string:
		return x, true
	case []byte:
		return string(x), true
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), true
	}
	v, ok := scalar(v)
	if !ok {
		return "", false
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(rv.Uint(), 10), true
	case reflect.String:
		return rv.String(), true
	case reflect.Slice:
		return string(rv.Bytes()), true
	case reflect.Bool:
		return strconv.FormatBool(rv.Bool()), true
	}
	if t, ok := v.(time.Time); ok {
		return t.UTC().Format(time.RFC3339Nano), true
	}
	return "", false
}
