package gormcache

import (
	"database/sql/driver"
	"reflect"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"
)

// cond is one equality the WHERE clause asks for: col = vals[0], or col IN
// vals when in is set.
type cond struct {
	col  string
	vals []any
	in   bool
}

// sameColumns reports whether conds name exactly the columns of fields.
func sameColumns(conds []cond, fields []*schema.Field) bool {
	if len(conds) != len(fields) || len(fields) == 0 {
		return false
	}
	for _, f := range fields {
		found := false
		for _, c := range conds {
			if c.col == f.DBName {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// merge folds conditions on one column together; two different values for
// one column (an empty result, or a type coercion the plugin cannot judge)
// are not cached.
func merge(conds []cond) ([]cond, bool) {
	if len(conds) < 2 {
		return conds, true
	}
	out := conds[:0:0]
	for _, c := range conds {
		dup := false
		for i := range out {
			if out[i].col != c.col {
				continue
			}
			dup = true
			if out[i].in || c.in || len(c.vals) != 1 || len(out[i].vals) != 1 {
				return nil, false
			}
			a, ok1 := keyPart(out[i].vals[0])
			b, ok2 := keyPart(c.vals[0])
			if !ok1 || !ok2 || a != b {
				return nil, false
			}
		}
		if !dup {
			out = append(out, c)
		}
	}
	return out, true
}

// collect appends the equalities exprs ask for; ok is false when any of
// them is something else.
func collect(stmt *gorm.Statement, mi *modelInfo, exprs []clause.Expression, out *[]cond) bool {
	for _, e := range exprs {
		switch e := e.(type) {
		case clause.Eq:
			name, ok := columnAny(stmt, mi, e.Column)
			if !ok {
				return false
			}
			vals, in, ok := values(e.Value)
			if !ok {
				return false
			}
			*out = append(*out, cond{col: name, vals: vals, in: in})
		case clause.IN:
			name, ok := columnAny(stmt, mi, e.Column)
			if !ok {
				return false
			}
			vals := make([]any, 0, len(e.Values))
			for _, v := range e.Values {
				s, ok := scalar(v)
				if !ok {
					return false
				}
				vals = append(vals, s)
			}
			*out = append(*out, cond{col: name, vals: vals, in: true})
		case clause.Expr:
			if !parseExpr(stmt, mi, e.SQL, e.Vars, out) {
				return false
			}
		case clause.AndConditions:
			if !collect(stmt, mi, e.Exprs, out) {
				return false
			}
		case clause.Where:
			if !collect(stmt, mi, e.Exprs, out) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// values returns the value(s) of an equality: a slice means IN.
func values(v any) (vals []any, in bool, ok bool) {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() != reflect.Uint8 {
		if _, isValuer := v.(driver.Valuer); !isValuer {
			vals = make([]any, rv.Len())
			for i := range vals {
				s, ok := scalar(rv.Index(i).Interface())
				if !ok {
					return nil, false, false
				}
				vals[i] = s
			}
			return vals, true, true
		}
	}
	s, ok := scalar(v)
	if !ok {
		return nil, false, false
	}
	return []any{s}, false, true
}

// scalar returns v as the database receives it, when it is a plain value:
// not NULL, not an expression, a column or a subquery.
func scalar(v any) (any, bool) {
	switch v.(type) {
	case nil, clause.Expression, clause.Column, *gorm.DB, gorm.Valuer:
		return nil, false
	}
	if dv, ok := v.(driver.Valuer); ok {
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.Pointer && rv.IsNil() {
			return nil, false
		}
		x, err := dv.Value()
		if err != nil || x == nil {
			return nil, false
		}
		v = x
	}
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil, false
		}
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.String, reflect.Bool:
		return rv.Interface(), true
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return rv.Bytes(), true
		}
	case reflect.Struct:
		if t, ok := rv.Interface().(time.Time); ok {
			return t, true
		}
	}
	return nil, false
}

// parseExpr reads "col = ? AND col2 IN ? AND ..." and nothing else.
func parseExpr(stmt *gorm.Statement, mi *modelInfo, sql string, vars []any, out *[]cond) bool {
	s := sql
	vi := 0
	skip := func() { s = strings.TrimLeft(s, " \t\r\n") }
	word := func() string {
		skip()
		i := 0
		for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n' && s[i] != '=' && s[i] != '(' && s[i] != '?' {
			i++
		}
		w := s[:i]
		s = s[i:]
		return w
	}
	for {
		name, ok := column(stmt, mi, word())
		if !ok {
			return false
		}
		skip()
		var in bool
		switch {
		case strings.HasPrefix(s, "="):
			s = s[1:]
			skip()
			if !strings.HasPrefix(s, "?") {
				return false
			}
			s = s[1:]
		default:
			if !strings.EqualFold(word(), "in") {
				return false
			}
			skip()
			in = true
			switch {
			case strings.HasPrefix(s, "?"):
				s = s[1:]
			case strings.HasPrefix(s, "(?)"):
				s = s[3:]
			default:
				return false
			}
		}
		if vi >= len(vars) {
			return false
		}
		v := vars[vi]
		vi++
		var c cond
		if in {
			rv := reflect.ValueOf(v)
			if rv.Kind() != reflect.Slice || rv.Type().Elem().Kind() == reflect.Uint8 {
				return false
			}
			vals, _, ok := values(v)
			if !ok {
				return false
			}
			c = cond{col: name, vals: vals, in: true}
		} else {
			sv, ok := scalar(v)
			if !ok {
				return false
			}
			c = cond{col: name, vals: []any{sv}}
		}
		*out = append(*out, c)
		skip()
		if s == "" {
			return vi == len(vars)
		}
		if !strings.EqualFold(word(), "and") {
			return false
		}
	}
}
