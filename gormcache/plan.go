package gormcache

import (
	"reflect"
	"strconv"
	"strings"

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
