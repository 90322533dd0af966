package gormcache

import (
	"errors"
	"hash/fnv"
	"maps"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/cachekit/cachekit"
	"gorm.io/gorm"
	"gorm.io/gorm/callbacks"
	"gorm.io/gorm/clause"
)

// queryCallback replaces gorm:query: a query the plugin understands is
// served from the cache, anything else runs as gorm would run it.
func (p *Plugin) queryCallback(db *gorm.DB) {
	raw := db.Statement.SQL.Len() > 0
	pl := p.plan(db)
	if pl == nil {
		p.query(db)
		if raw {
			// db.Raw("UPDATE ... RETURNING ...").Scan(&x) writes too.
			p.invalidateSQL(db, db.Statement.SQL.String())
		}
		return
	}
	switch pl.shape {
	case shapeMulti:
		p.serveMulti(db, pl)
	default:
		p.serveOne(db, pl)
	}
}

// errNoFill tells Load that the fill had nothing to store and its caller
// already has its answer (or error) in db.
var errNoFill = errors.New("gormcache: query failed")

// serveOne serves a query for one row or one whole table.
func (p *Plugin) serveOne(db *gorm.DB, pl *plan) {
	mi := pl.mi
	ran := false
	r, err := p.cache.Load(pl.key, cachekit.Policy{TTL: p.ttl, Tags: pl.tags}, func(pol *cachekit.Policy) ([]byte, error) {
		ran = true
		rec := p.run(db)
		if rec == nil {
			return nil, errNoFill
		}
		if rec.bad || pl.shape == shapeAll && len(rec.rows) > p.maxRows || pl.shape == shapeRow && len(rec.rows) != 1 {
			pol.NoStore = true
			return nil, nil
		}
		if pl.shape == shapeRow {
			tag, ok := p.rowTagOf(mi, rec.cols, rec.rows[0])
			if !ok {
				pol.NoStore = true
				return nil, nil
			}
			pol.Tags = append(pol.Tags, tag)
		}
		b, ok := encodeRows(rec.cols, rec.rows)
		if !ok {
			pol.NoStore = true
			return nil, nil
		}
		return b, nil
	})
	if ran {
		mi.counters.misses.Add(1)
		return
	}
	if err != nil || r.Value == nil {
		// Another caller's fill failed, or the cache did: ask the database.
		mi.counters.misses.Add(1)
		p.query(db)
		return
	}
	if pl.shape == shapeRow && mi.protos.fastHit(db, mi, r.Value) {
		mi.counters.hits.Add(1)
		return
	}
	d, err := decodeRows(r.Value, mi.lastCols())
	if err != nil {
		mi.counters.misses.Add(1)
		p.query(db)
		return
	}
	rv, cp := p.protoPlan(db, pl, d)
	if !p.replay(db, d) {
		mi.counters.misses.Add(1)
		p.query(db)
		return
	}
	if cp != nil {
		mi.protos.keep(r.Value, rv, cp)
	}
	mi.keepCols(d.cols)
	mi.counters.hits.Add(1)
}

// protoPlan returns the destination and copy plan of a one-row hit whose
// scan can be kept as a prototype (see proto.go); cp is nil when it cannot.
func (p *Plugin) protoPlan(db *gorm.DB, pl *plan, d decoded) (rv reflect.Value, cp *copyPlan) {
	if pl.shape != shapeRow || len(d.rows) != 1 {
		return rv, nil
	}
	rv, ok := structDest(db, pl.mi)
	if !ok {
		return rv, nil
	}
	if cp = pl.mi.protos.plan(pl.mi, d.cols); cp == nil || !cp.fresh(rv) {
		return rv, nil
	}
	return rv, cp
}

// run is gorm's query with the rows recorded; nil when the query failed (its
// error is in db) or was not sent.
func (p *Plugin) run(db *gorm.DB) *recordingRows {
	callbacks.BuildQuerySQL(db)
	if db.DryRun || db.Error != nil {
		return nil
	}
	stmt := db.Statement
	rows, err := stmt.ConnPool.QueryContext(stmt.Context, stmt.SQL.String(), stmt.Vars...)
	if err != nil {
		db.AddError(err)
		return nil
	}
	rec := &recordingRows{Rows: rows, max: p.maxRows}
	rec.cols, err = rows.Columns()
	if err != nil {
		rec.bad = true
	}
	gorm.Scan(rec, db, 0)
	db.AddError(rows.Close())
	if stmt.Result != nil {
		stmt.Result.RowsAffected = db.RowsAffected
	}
	if db.Error != nil && !errors.Is(db.Error, gorm.ErrRecordNotFound) {
		return nil
	}
	return rec
}

// replay scans a stored result into the query's destination; false (and db
// as it was) when it cannot.
func (p *Plugin) replay(db *gorm.DB, d decoded) bool {
	rr := &replayRows{cols: d.cols, rows: d.rows}
	gorm.Scan(rr, db, 0)
	if rr.err != nil {
		db.Error = nil
		db.RowsAffected = 0
		return false
	}
	if db.Statement.Result != nil {
		db.Statement.Result.RowsAffected = db.RowsAffected
	}
	return true
}

// serveMulti serves Find(&rows, []pk) from one entry per row, querying the
// database once for the rows it does not hold.
//
// Each missing key is filled through Load, so each row is stored under the
// tag generations read before the query ran: a write that lands while it
// runs makes the stored row read as a miss. The fills nest, in the plan's
// key order, and the query runs once in the innermost one.
func (p *Plugin) serveMulti(db *gorm.DB, pl *plan) {
	mi := pl.mi
	st := &multiState{pl: pl, got: make([][]byte, len(pl.keys)), fetched: map[string][][]any{}}
	// The query for the missing rows rewrites the statement; a fallback to
	// gorm's own query starts again from the clauses as they were (the
	// soft-delete condition included, which gorm adds once per statement).
	st.clauses = maps.Clone(db.Statement.Clauses)
	// Keys are loaded in one global order (by key), so nested fills of two
	// callers never wait for each other in a cycle.
	st.order = make([]int, len(pl.keys))
	for i := range st.order {
		st.order[i] = i
	}
	sort.Slice(st.order, func(a, b int) bool { return pl.keys[st.order[a]] < pl.keys[st.order[b]] })
	p.loadMany(db, st, 0)
	if st.failed {
		mi.counters.misses.Add(1)
		return // the query ran and failed: its error is in db
	}
	// Assemble the rows in the plan's order.
	var d decoded
	for i := range pl.keys {
		if b := st.got[i]; b != nil {
			e, err := decodeRows(b, mi.lastCols())
			if err != nil || !pl.fk && len(e.rows) != 1 || len(e.rows) > 0 && d.cols != nil && !sameStrings(d.cols, e.cols) {
				mi.counters.misses.Add(1)
				p.fallback(db, st)
				return
			}
			if len(e.rows) > 0 {
				d.cols = e.cols
				d.rows = append(d.rows, e.rows...)
			}
			continue
		}
		if rows := st.fetched[pl.texts[i]]; len(rows) > 0 {
			if d.cols != nil && !sameStrings(d.cols, st.cols) {
				mi.counters.misses.Add(1)
				p.fallback(db, st)
				return
			}
			d.cols = st.cols
			d.rows = append(d.rows, rows...)
		}
	}
	if d.cols == nil {
		d.cols = st.cols
	}
	if st.ran {
		// The statement now holds the query for the missing rows; the
		// answer is built from the cache and that query.
		db.Statement.SQL.Reset()
		db.Statement.Vars = nil
	}
	if !p.replay(db, d) {
		mi.counters.misses.Add(1)
		p.fallback(db, st)
		return
	}
	if st.ran {
		mi.counters.misses.Add(1)
	} else {
		mi.counters.hits.Add(1)
	}
}

// fallback runs gorm's own query for a multi-get the plugin could not
// answer.
func (p *Plugin) fallback(db *gorm.DB, st *multiState) {
	db.Statement.SQL.Reset()
	db.Statement.Vars = nil
	db.Statement.Clauses = maps.Clone(st.clauses)
	db.Error = nil
	db.RowsAffected = 0
	p.query(db)
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

type multiState struct {
	pl      *plan
	order   []int              // indexes of pl.keys in load order
	got     [][]byte           // entries found or filled by another caller
	need    []int              // keys the query must fetch
	fetched map[string][][]any // rows the query returned, by key text
	cols    []string
	clauses map[string]clause.Clause // the statement's clauses before the query
	ran     bool                     // the query ran
	failed  bool                     // and failed
	bad     bool                     // its rows cannot be stored
}

// loadMany loads keys from i on; the innermost call runs the query.
func (p *Plugin) loadMany(db *gorm.DB, st *multiState, i int) {
	pl := st.pl
	for ; i < len(st.order); i++ {
		n := i
		i := st.order[n]
		called := false
		r, err := p.cache.Load(pl.keys[i], cachekit.Policy{TTL: p.ttl, Tags: pl.tags}, func(pol *cachekit.Policy) ([]byte, error) {
			called = true
			st.need = append(st.need, i)
			p.loadMany(db, st, n+1)
			rows := st.fetched[pl.texts[i]]
			if st.failed {
				return nil, errNoFill
			}
			if st.bad || !pl.fk && len(rows) != 1 {
				pol.NoStore = true
				return nil, nil
			}
			if !pl.fk {
				pol.Tags = append(pol.Tags, p.rowTag(pl.mi, []string{pl.texts[i]}))
			}
			// A parent without children is an answer too: the entry
			// goes with the next write to the table.
			b, ok := encodeRows(st.cols, rows)
			if !ok {
				pol.NoStore = true
				return nil, nil
			}
			return b, nil
		})
		if called {
			return // the nested call went through the rest of the keys
		}
		if err == nil && r.Value != nil {
			st.got[i] = r.Value
		} else {
			st.need = append(st.need, i)
		}
	}
	if len(st.need) > 0 && !st.ran {
		p.fetchMany(db, st)
	}
}

// fetchMany queries the rows st.need names, recording them.
func (p *Plugin) fetchMany(db *gorm.DB, st *multiState) {
	st.ran = true
	pl := st.pl
	mi := pl.mi
	vals := make([]any, 0, len(st.need))
	for _, i := range st.need {
		vals = append(vals, pl.vals[i])
	}
	stmt := db.Statement
	stmt.Clauses["WHERE"] = clause.Clause{Name: "WHERE", Expression: clause.Where{Exprs: []clause.Expression{
		clause.IN{Column: clause.Column{Table: clause.CurrentTable, Name: pl.col.DBName}, Values: vals},
	}}}
	callbacks.BuildQuerySQL(db)
	if db.Error != nil {
		st.failed = true
		return
	}
	rows, err := stmt.ConnPool.QueryContext(stmt.Context, stmt.SQL.String(), stmt.Vars...)
	if err != nil {
		db.AddError(err)
		st.failed = true
		return
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		db.AddError(err)
		st.failed = true
		return
	}
	st.cols = cols
	pkIdx := -1
	for i, c := range cols {
		if c == pl.col.DBName {
			pkIdx = i
		}
	}
	types := mi.destTypes(cols)
	if pkIdx < 0 || types == nil {
		st.bad = true
	}
	holders := make([]any, len(cols))
	for rows.Next() {
		raw := make([]any, len(cols))
		for i := range raw {
			holders[i] = &raw[i]
		}
		if err := rows.Scan(holders...); err != nil {
			db.AddError(err)
			st.failed = true
			return
		}
		if st.bad {
			continue
		}
		for i, v := range raw {
			if !supportedValue(v) || !convertible(types[i], v) {
				st.bad = true
			}
		}
		text, ok := tagText(raw[pkIdx])
		if !ok {
			st.bad = true
			continue
		}
		st.fetched[text] = append(st.fetched[text], raw)
	}
	if err := rows.Err(); err != nil {
		db.AddError(err)
		st.failed = true
	}
	if st.bad {
		// Rows the replay cannot reproduce: let gorm answer.
		st.failed = true
		rows.Close()
		p.fallback(db, st)
	}
}

// rowTagOf is the row tag of a recorded row.
func (p *Plugin) rowTagOf(mi *modelInfo, cols []string, row []any) (string, bool) {
	texts := make([]string, len(mi.pk))
	for i, f := range mi.pk {
		found := false
		for j, c := range cols {
			if c == f.DBName {
				t, ok := tagText(row[j])
				if !ok {
					return "", false
				}
				texts[i] = t
				found = true
				break
			}
		}
		if !found {
			return "", false
		}
	}
	return p.rowTag(mi, texts), true
}

// Tags: a row, a table's "anything changed", a table's "rows unknown
// changed", and the database's "tables unknown changed".

func (p *Plugin) rowTag(mi *modelInfo, texts []string) string {
	return p.rowTagT(mi.table, texts)
}

func (p *Plugin) rowTagT(table string, texts []string) string {
	// Rows share rowBuckets tags per table: a generation lives 30 days
	// (cachekit.MaxStoreTTL) whatever the entries' TTL, so a tag per row
	// would keep one for every row read in that time, and write one on
	// every row's first read. A write then invalidates the few other rows
	// of its bucket too: a spare miss, never a stale row (README, "How
	// invalidation works").
	h := fnv.New64a()
	for _, t := range texts {
		h.Write([]byte(t))
		h.Write([]byte{0})
	}
	return p.prefix + ":" + table + ":r:" + strconv.FormatUint(h.Sum64()%rowBuckets, 16)
}

// rowBuckets is how many row tags a table has at most.
const rowBuckets = 1 << 16

func (p *Plugin) tableTag(table string) string { return p.prefix + ":" + table + ":t" }
func (p *Plugin) batchTag(table string) string { return p.prefix + ":" + table + ":b" }
func (p *Plugin) dbTag() string                { return p.prefix + ":*" }

// tableTags are the tags known before a query runs: every entry carries the
// table's batch tag and the database's; whole-table entries carry the
// table's change tag as well.
func (p *Plugin) tableTags(table string, all bool) []string {
	names := []string{table}
	if i := strings.LastIndexByte(table, '.'); i >= 0 {
		// "public.users": raw SQL may name it "users".
		names = append(names, table[i+1:])
	}
	var tags []string
	for _, t := range names {
		if all {
			tags = append(tags, p.tableTag(t))
		}
		tags = append(tags, p.batchTag(t))
	}
	return append(tags, p.dbTag())
}
