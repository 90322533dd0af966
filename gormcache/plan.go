package gormcache

import (
	"database/sql/driver"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"
)

// shape is what a query asks for, when the plugin understands it.
type shape uint8

const (
	shapeRow   shape = iota + 1 // one row by primary key or unique index
	shapeMulti                  // rows by a list of primary keys
	shapeAll                    // the whole table, no conditions
)

// plan is how one cacheable query is served.
type plan struct {
	mi    *modelInfo
	shape shape
	key   string   // shapeRow, shapeAll
	tags  []string // tags known before the query runs
	// shapeMulti: one entry per distinct key value, in the order served.
	col   *schema.Field // the primary key, or a has-one/has-many foreign key
	fk    bool          // entries are the rows with that foreign key (0..n)
	keys  []string
	texts []string // each value as row tags and rows spell it
	vals  []any
}

// cond is one equality the WHERE clause asks for: col = vals[0], or col IN
// vals when in is set.
type cond struct {
	col  string
	vals []any
	in   bool
}

// allowedClauses are the clauses a cacheable query may carry: anything else
// (GROUP BY, FOR UPDATE, a custom SELECT, hints...) passes through.
var allowedClauses = map[string]bool{"WHERE": true, "ORDER BY": true, "LIMIT": true}

// plan returns how to serve the query in db from the cache, or nil to pass
// it through.
func (p *Plugin) plan(db *gorm.DB) *plan {
	stmt := db.Statement
	sch := stmt.Schema
	if db.Error != nil || db.DryRun || sch == nil || stmt.SQL.Len() > 0 {
		return nil
	}
	mi := p.info(sch)
	if !mi.cached {
		return nil
	}
	pl := p.plan1(db, mi)
	if pl == nil {
		mi.counters.bypass.Add(1)
	}
	return pl
}

func (p *Plugin) plan1(db *gorm.DB, mi *modelInfo) *plan {
	stmt := db.Statement
	sch := mi.sch
	if stmt.Unscoped || stmt.Distinct || len(stmt.Selects) > 0 || len(stmt.Omits) > 0 || len(stmt.Joins) > 0 ||
		stmt.TableExpr != nil || stmt.Table != sch.Table || inTransaction(stmt.ConnPool) || stmt.Dest == nil {
		return nil
	}
	for name := range stmt.Clauses {
		if !allowedClauses[name] {
			return nil
		}
	}
	// The destination must be the model itself, one or a slice of them:
	// a smaller struct, a map or a scalar is another query.
	rv := stmt.ReflectValue
	single := false
	switch rv.Kind() {
	case reflect.Struct:
		if rv.Type() != sch.ModelType {
			return nil
		}
		single = true
	case reflect.Slice:
		et := rv.Type().Elem()
		if et.Kind() == reflect.Pointer {
			et = et.Elem()
		}
		if et != sch.ModelType {
			return nil
		}
	default:
		return nil
	}
	limit, ok := limitOf(stmt)
	if !ok || limit == 0 {
		return nil
	}
	order, ok := orderOf(stmt, mi)
	if !ok {
		return nil
	}

	conds := make([]cond, 0, 4)
	if c, ok := stmt.Clauses["WHERE"]; ok {
		w, ok := c.Expression.(clause.Where)
		if !ok || !collect(stmt, mi, w.Exprs, &conds) {
			return nil
		}
	}
	// gorm adds the destination's non-zero primary key to the conditions
	// when it builds the query: so does the plan.
	if single {
		for _, f := range sch.PrimaryFields {
			if v, zero := f.ValueOf(stmt.Context, rv); !zero {
				sv, ok := scalar(v)
				if !ok {
					return nil
				}
				conds = append(conds, cond{col: f.DBName, vals: []any{sv}})
			}
		}
	}
	for i := range conds {
		if conds[i].in && len(conds[i].vals) == 1 {
			conds[i].in = false // IN (v) is = v
		}
	}
	conds, ok = merge(conds)
	if !ok {
		return nil
	}

	if len(conds) == 0 {
		// all(): the whole table, in the order asked, up to the limit.
		pl := &plan{mi: mi, shape: shapeAll, tags: mi.allTags}
		// A struct takes the first row only: a key of its own.
		dest := "rows"
		if single {
			dest = "first"
		}
		pl.key = mi.keyHead + "all:" + dest + ":" + order + ":" + strconv.Itoa(limit)
		return pl
	}
	// One row by its primary key, a list of them, or one row by a unique
	// index.
	if len(mi.pk) == 1 && len(conds) == 1 && conds[0].col == mi.pk[0].DBName && len(conds[0].vals) > 1 {
		if single {
			return nil // the first row of an unordered list: the database's choice
		}
		return p.planMulti(mi, mi.pk[0], false, conds[0].vals, order, limit)
	}
	if len(conds) == 1 && !single && p.isFK(mi, conds[0].col) {
		// A has-one / has-many load: the children of each parent, one
		// entry per parent, dropped by any write to the children's table.
		return p.planMulti(mi, mi.sch.FieldsByDBName[conds[0].col], true, conds[0].vals, order, limit)
	}
	for _, c := range conds {
		if c.in && len(c.vals) != 1 {
			return nil
		}
	}
	if sameColumns(conds, mi.pk) {
		return p.planRow(mi, "pk", mi.pk, conds)
	}
	for i, u := range mi.uniques {
		if sameColumns(conds, u) {
			return p.planRow(mi, "u"+strconv.Itoa(i), u, conds)
		}
	}
	return nil
}

func (p *Plugin) planRow(mi *modelInfo, kind string, cols []*schema.Field, conds []cond) *plan {
	var b strings.Builder
	b.WriteString(mi.keyHead)
	b.WriteString(kind)
	for _, f := range cols {
		for _, c := range conds {
			if c.col != f.DBName {
				continue
			}
			part, ok := keyPart(c.vals[0])
			if !ok {
				return nil
			}
			b.WriteByte(':')
			b.WriteString(part)
		}
	}
	return &plan{mi: mi, shape: shapeRow, key: b.String(), tags: mi.rowTags}
}

func (p *Plugin) planMulti(mi *modelInfo, f *schema.Field, fk bool, vals []any, order string, limit int) *plan {
	if len(vals) == 0 || limit > 0 && limit < len(vals) || f == nil {
		return nil
	}
	if fk && (order != "" || limit >= 0) {
		return nil
	}
	desc := false
	switch order {
	case "":
	case f.DBName, f.DBName + " desc":
		if !isIntKind(f.IndirectFieldType.Kind()) {
			return nil // the database's collation decides a string order
		}
		desc = strings.HasSuffix(order, " desc")
	default:
		return nil
	}
	pl := &plan{mi: mi, shape: shapeMulti, tags: mi.rowTags, col: f, fk: fk}
	kind := "pk:"
	if fk {
		pl.tags = mi.allTags
		kind = "fk:" + f.DBName + ":"
	}
	seen := make(map[string]bool, len(vals))
	for _, v := range vals {
		part, ok := keyPart(v)
		if !ok {
			return nil
		}
		text, ok := pkText(f, v)
		if !ok {
			return nil
		}
		if seen[text] {
			continue
		}
		seen[text] = true
		pl.keys = append(pl.keys, mi.keyHead+kind+part)
		pl.texts = append(pl.texts, text)
		pl.vals = append(pl.vals, v)
	}
	if order != "" {
		nums := make([]int64, len(pl.texts))
		for i, t := range pl.texts {
			n, err := strconv.ParseInt(t, 10, 64)
			if err != nil {
				return nil
			}
			nums[i] = n
		}
		idx := make([]int, len(nums))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool {
			if desc {
				return nums[idx[a]] > nums[idx[b]]
			}
			return nums[idx[a]] < nums[idx[b]]
		})
		keys, texts, vs := make([]string, len(idx)), make([]string, len(idx)), make([]any, len(idx))
		for i, j := range idx {
			keys[i], texts[i], vs[i] = pl.keys[j], pl.texts[j], pl.vals[j]
		}
		pl.keys, pl.texts, pl.vals = keys, texts, vs
	}
	return pl
}

func isIntKind(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
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

// keyPart spells a value in a key, one spelling per value and type family.
func keyPart(v any) (string, bool) {
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
