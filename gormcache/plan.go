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

// allowedClauseNames are the clauses a cacheable query may carry: anything else
// (GROUP BY, FOR UPDATE, a custom SELECT, hints...) passes through.
var allowedClauseNames = [...]string{"WHERE", "ORDER BY", "LIMIT"}

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

// plan1 plans a query of a cached model: nil when its shape is not one the
// plugin serves.
func (p *Plugin) plan1(db *gorm.DB, mi *modelInfo) *plan {
	stmt := db.Statement
	if !plainQuery(stmt, mi.sch) {
		return nil
	}
	single, ok := modelDest(stmt.ReflectValue, mi.sch)
	if !ok {
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
	conds, ok := queryConds(stmt, mi, single)
	if !ok {
		return nil
	}
	if len(conds) == 0 {
		return planAll(mi, single, order, limit)
	}
	return p.planConds(mi, conds, single, order, limit)
}

// plainQuery reports whether stmt is a plain SELECT of the model's own
// table, outside a transaction, with only the allowed clauses.
func plainQuery(stmt *gorm.Statement, sch *schema.Schema) bool {
	if stmt.Unscoped || stmt.Distinct || len(stmt.Selects) > 0 || len(stmt.Omits) > 0 || len(stmt.Joins) > 0 ||
		stmt.TableExpr != nil || stmt.Table != sch.Table || inTransaction(stmt.ConnPool) || stmt.Dest == nil {
		return false
	}
	// Every clause is one of the allowed ones: counted by lookups, not by
	// ranging over the map (a random start and an iterator per query).
	n := 0
	for _, name := range allowedClauseNames {
		if _, ok := stmt.Clauses[name]; ok {
			n++
		}
	}
	return n == len(stmt.Clauses)
}

// modelDest reports whether the destination rv is the model itself, one
// (single) or a slice of them: a smaller struct, a map or a scalar is
// another query (ok false).
func modelDest(rv reflect.Value, sch *schema.Schema) (single, ok bool) {
	switch rv.Kind() {
	case reflect.Struct:
		return true, rv.Type() == sch.ModelType
	case reflect.Slice:
		et := rv.Type().Elem()
		if et.Kind() == reflect.Pointer {
			et = et.Elem()
		}
		return false, et == sch.ModelType
	}
	return false, false
}

// queryConds returns the equalities the query asks for, from its WHERE
// clause and, for a single destination, its non-zero primary key, folded
// one per column; ok is false when any is not an equality the plugin reads.
func queryConds(stmt *gorm.Statement, mi *modelInfo, single bool) ([]cond, bool) {
	conds := make([]cond, 0, 4)
	if c, ok := stmt.Clauses["WHERE"]; ok {
		w, ok := c.Expression.(clause.Where)
		if !ok || !collect(stmt, mi, w.Exprs, &conds) {
			return nil, false
		}
	}
	// gorm adds the destination's non-zero primary key to the conditions
	// when it builds the query: so does the plan.
	if single {
		var ok bool
		if conds, ok = appendDestPK(stmt, mi.sch, conds); !ok {
			return nil, false
		}
	}
	for i := range conds {
		if conds[i].in && len(conds[i].vals) == 1 {
			conds[i].in = false // IN (v) is = v
		}
	}
	return merge(conds)
}

// appendDestPK appends an equality for each non-zero primary key field of
// the destination struct; ok is false when one is not a plain value.
func appendDestPK(stmt *gorm.Statement, sch *schema.Schema, conds []cond) ([]cond, bool) {
	for _, f := range sch.PrimaryFields {
		if v, zero := f.ValueOf(stmt.Context, stmt.ReflectValue); !zero {
			sv, ok := scalar(v)
			if !ok {
				return nil, false
			}
			conds = append(conds, cond{col: f.DBName, vals: []any{sv}})
		}
	}
	return conds, true
}

// planAll plans all(): the whole table, in the order asked, up to the
// limit.
func planAll(mi *modelInfo, single bool, order string, limit int) *plan {
	pl := &plan{mi: mi, shape: shapeAll, tags: mi.allTags}
	// A struct takes the first row only: a key of its own.
	dest := "rows"
	if single {
		dest = "first"
	}
	pl.key = mi.keyHead + "all:" + dest + ":" + order + ":" + strconv.Itoa(limit)
	return pl
}

// planConds plans a query with conditions: one row by its primary key, a
// list of them, the children of parents by a foreign key, or one row by a
// unique index; nil for anything else.
func (p *Plugin) planConds(mi *modelInfo, conds []cond, single bool, order string, limit int) *plan {
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
	return p.planUnique(mi, conds)
}

// planUnique plans one row by equalities on exactly the primary key or
// exactly one unique index; nil when the conditions name anything else.
func (p *Plugin) planUnique(mi *modelInfo, conds []cond) *plan {
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

// planRow plans one row by equalities on cols (the primary key, or unique
// index kind): its key spells each value in the order of cols.
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
