package gormcache

import (
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// limitOf returns the query's LIMIT (-1 for none); ok is false for an
// OFFSET or a clause of another type.
func limitOf(stmt *gorm.Statement) (int, bool) {
	c, ok := stmt.Clauses["LIMIT"]
	if !ok {
		return -1, true
	}
	l, ok := c.Expression.(clause.Limit)
	if !ok || l.Offset > 0 {
		return 0, false
	}
	if l.Limit == nil || *l.Limit < 0 {
		return -1, true
	}
	return *l.Limit, true
}

// orderOf returns the query's ORDER BY as "col[ desc], ..." over the
// model's columns; ok is false for anything else (an expression, a column
// of another table).
func orderOf(stmt *gorm.Statement, mi *modelInfo) (string, bool) {
	c, ok := stmt.Clauses["ORDER BY"]
	if !ok {
		return "", true
	}
	o, ok := c.Expression.(clause.OrderBy)
	if !ok || o.Expression != nil {
		return "", false
	}
	if len(o.Columns) == 1 && !o.Columns[0].Column.Raw && !o.Columns[0].Reorder {
		// The common case (First's ORDER BY the primary key), without a slice.
		name, ok := columnOf(stmt, mi, o.Columns[0].Column)
		if ok && o.Columns[0].Desc {
			name += " desc"
		}
		return name, ok
	}
	var parts []string
	for _, col := range o.Columns {
		if col.Reorder {
			parts = parts[:0]
		}
		if col.Column.Raw {
			// Order("name desc, id"): identifiers and directions only.
			for _, item := range strings.Split(col.Column.Name, ",") {
				words := strings.Fields(item)
				if len(words) == 0 || len(words) > 2 {
					return "", false
				}
				name, ok := column(stmt, mi, words[0])
				if !ok {
					return "", false
				}
				if len(words) == 2 {
					switch strings.ToLower(words[1]) {
					case "asc":
					case "desc":
						name += " desc"
					default:
						return "", false
					}
				}
				parts = append(parts, name)
			}
			continue
		}
		name, ok := columnOf(stmt, mi, col.Column)
		if !ok {
			return "", false
		}
		if col.Desc {
			name += " desc"
		}
		parts = append(parts, name)
	}
	return strings.Join(parts, ","), true
}

// columnAny resolves a column given as a string or a clause.Column.
func columnAny(stmt *gorm.Statement, mi *modelInfo, c any) (string, bool) {
	switch c := c.(type) {
	case string:
		return column(stmt, mi, c)
	case clause.Column:
		return columnOf(stmt, mi, c)
	}
	return "", false
}

func columnOf(stmt *gorm.Statement, mi *modelInfo, c clause.Column) (string, bool) {
	if c.Alias != "" {
		return "", false
	}
	if c.Raw {
		return column(stmt, mi, c.Name)
	}
	if c.Table != "" && c.Table != clause.CurrentTable && !strings.EqualFold(c.Table, stmt.Table) {
		return "", false
	}
	if c.Name == clause.PrimaryKey {
		// As gorm's Statement.QuoteTo spells it.
		if f := mi.sch.PrioritizedPrimaryField; f != nil {
			return f.DBName, true
		}
		if len(mi.sch.DBNames) > 0 {
			return mi.sch.DBNames[0], true
		}
		return "", false
	}
	return fieldName(mi, c.Name)
}

// column resolves "col", "table.col" and their quoted forms to a column of
// the model.
func column(stmt *gorm.Statement, mi *modelInfo, s string) (string, bool) {
	if table, col, qualified := strings.Cut(s, "."); qualified {
		t, ok := unquote(table)
		if !ok || !strings.EqualFold(t, stmt.Table) || strings.Contains(col, ".") {
			return "", false
		}
		s = col
	}
	id, ok := unquote(s)
	if !ok {
		return "", false
	}
	return fieldName(mi, id)
}

func fieldName(mi *modelInfo, name string) (string, bool) {
	if f, ok := mi.sch.FieldsByDBName[name]; ok {
		return f.DBName, true
	}
	if f, ok := mi.sch.FieldsByDBName[strings.ToLower(name)]; ok {
		return f.DBName, true
	}
	return "", false
}

// unquote returns an identifier without its quotes; ok is false for
// anything but a plain identifier.
func unquote(s string) (string, bool) {
	if len(s) >= 2 {
		switch {
		case s[0] == '`' && s[len(s)-1] == '`', s[0] == '"' && s[len(s)-1] == '"', s[0] == '[' && s[len(s)-1] == ']':
			s = s[1 : len(s)-1]
		}
	}
	if s == "" {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return "", false
		}
	}
	return s, true
}
