package gormcache

import (
	"reflect"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"
)

// Every write names what it may have changed:
//
//   - a row it can identify: the row's tag and its table's change tag;
//   - rows it cannot identify (a batch by condition, an upsert): the
//     table's change and batch tags, which every entry of the table holds;
//   - a table it cannot identify (raw SQL it cannot read): the database's
//     tag, which every entry holds.
//
// Inside a transaction the tags wait for the commit (see tx.go).

// writtenTable returns the statement of a write and its table, lower
// case. ok is false for a dry run, and for a table it cannot tell, which
// it then invalidates as the whole database.
func (p *Plugin) writtenTable(db *gorm.DB) (stmt *gorm.Statement, table string, ok bool) {
	if db.DryRun {
		return nil, "", false
	}
	stmt = db.Statement
	table = strings.ToLower(stmt.Table)
	if table == "" {
		p.invalidate(db, p.dbTag())
		return nil, "", false
	}
	return stmt, table, true
}

func (p *Plugin) afterCreate(db *gorm.DB) {
	stmt, table, ok := p.writtenTable(db)
	if !ok {
		return
	}
	tags := []string{p.tableTag(table)}
	batch := false
	if _, ok := stmt.Clauses["ON CONFLICT"]; ok {
		batch = true // an upsert may change a row named by a unique column
	}
	if c, ok := stmt.Clauses["INSERT"]; ok {
		if ins, ok := c.Expression.(clause.Insert); !ok || ins.Modifier != "" {
			batch = true // INSERT OR REPLACE deletes the rows it conflicts with
		}
	}
	sch := stmt.Schema
	if sch == nil || len(sch.PrimaryFields) == 0 {
		batch = true
	}
	if !batch {
		rows, ok := primaryKeys(stmt, sch, stmt.ReflectValue)
		if !ok {
			batch = true
		}
		for _, texts := range rows {
			tags = append(tags, p.rowTagT(table, texts))
		}
	}
	if batch {
		tags = append(tags, p.batchTag(table))
	}
	p.count(stmt)
	p.invalidate(db, tags...)
}

// primaryKeys returns the primary key of each row in rv, a struct or a
// slice of them; ok is false when a row has none.
func primaryKeys(stmt *gorm.Statement, sch *schema.Schema, rv reflect.Value) ([][]string, bool) {
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return nil, false
		}
		rv = rv.Elem()
	}
	one := func(v reflect.Value) ([]string, bool) {
		for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
			if v.IsNil() {
				return nil, false
			}
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct || v.Type() != sch.ModelType {
			return nil, false
		}
		texts := make([]string, len(sch.PrimaryFields))
		for i, f := range sch.PrimaryFields {
			x, zero := f.ValueOf(stmt.Context, v)
			if zero {
				return nil, false
			}
			t, ok := pkText(f, x)
			if !ok {
				return nil, false
			}
			texts[i] = t
		}
		return texts, true
	}
	switch rv.Kind() {
	case reflect.Struct:
		t, ok := one(rv)
		if !ok {
			return nil, false
		}
		return [][]string{t}, true
	case reflect.Slice, reflect.Array:
		out := make([][]string, 0, rv.Len())
		for i := 0; i < rv.Len(); i++ {
			t, ok := one(rv.Index(i))
			if !ok {
				return nil, false
			}
			out = append(out, t)
		}
		return out, true
	}
	return nil, false
}

func (p *Plugin) afterUpdate(db *gorm.DB) { p.afterWrite(db, false) }
func (p *Plugin) afterDelete(db *gorm.DB) { p.afterWrite(db, true) }

func (p *Plugin) afterWrite(db *gorm.DB, del bool) {
	stmt, table, ok := p.writtenTable(db)
	if !ok {
		return
	}
	tags := []string{p.tableTag(table)}
	sch := stmt.Schema
	if texts, ok := p.targets(stmt, sch); ok {
		for _, t := range texts {
			tags = append(tags, p.rowTagT(table, []string{t}))
		}
	} else {
		tags = append(tags, p.batchTag(table))
	}
	if del && sch != nil {
		// A database-side cascade (ON DELETE CASCADE / SET NULL) changes
		// the rows that point here.
		for _, rel := range sch.Relationships.Relations {
			switch rel.Type {
			case schema.HasOne, schema.HasMany:
				if rel.FieldSchema != nil {
					t := strings.ToLower(rel.FieldSchema.Table)
					tags = append(tags, p.tableTag(t), p.batchTag(t))
				}
			case schema.Many2Many:
				if rel.JoinTable != nil {
					t := strings.ToLower(rel.JoinTable.Table)
					tags = append(tags, p.tableTag(t), p.batchTag(t))
				}
			}
		}
	}
	p.count(stmt)
	p.invalidate(db, tags...)
}

func (p *Plugin) count(stmt *gorm.Statement) {
	if stmt.Schema != nil {
		p.info(stmt.Schema).counters.writes.Add(1)
	}
}

// targets returns the primary keys an UPDATE or DELETE is confined to, read
// from its WHERE clause: ok only when the clause is a conjunction the
// plugin reads, one of whose terms names the rows by primary key.
func (p *Plugin) targets(stmt *gorm.Statement, sch *schema.Schema) ([]string, bool) {
	if sch == nil || len(sch.PrimaryFields) != 1 || !strings.EqualFold(stmt.Table, sch.Table) {
		return nil, false
	}
	c, ok := stmt.Clauses["WHERE"]
	if !ok {
		return nil, false
	}
	w, ok := c.Expression.(clause.Where)
	if !ok {
		return nil, false
	}
	mi := p.info(sch)
	pk := sch.PrimaryFields[0]
	var best []any
	found := false
	var walk func(exprs []clause.Expression) bool
	walk = func(exprs []clause.Expression) bool {
		for _, e := range exprs {
			var conds []cond
			switch e := e.(type) {
			case clause.AndConditions:
				if !walk(e.Exprs) {
					return false
				}
				continue
			case clause.Eq, clause.IN:
				if !collect(stmt, mi, []clause.Expression{e}, &conds) {
					continue // a term of the conjunction that names no key
				}
			case clause.Expr:
				if !parseExpr(stmt, mi, e.SQL, e.Vars, &conds) {
					if !conjunctive(e.SQL) {
						return false
					}
					continue
				}
			case clause.NamedExpr:
				if !conjunctive(e.SQL) {
					return false
				}
				continue
			case clause.Neq, clause.Gt, clause.Gte, clause.Lt, clause.Lte, clause.Like, clause.NotConditions:
				continue
			default:
				return false
			}
			for _, c := range conds {
				if c.col == pk.DBName && (!found || len(c.vals) < len(best)) {
					best, found = c.vals, true
				}
			}
		}
		return true
	}
	if !walk(w.Exprs) || !found {
		return nil, false
	}
	texts := make([]string, 0, len(best))
	for _, v := range best {
		t, ok := pkText(pk, v)
		if !ok {
			return nil, false
		}
		texts = append(texts, t)
	}
	return texts, true
}

// conjunctive reports whether a raw condition can only narrow the
// conjunction it is part of: no OR (nor MySQL's ||).
func conjunctive(sql string) bool {
	if strings.Contains(sql, "|") {
		return false
	}
	for _, w := range strings.FieldsFunc(strings.ToLower(sql), func(r rune) bool {
		return !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	}) {
		if w == "or" {
			return false
		}
	}
	return true
}

// afterRaw runs after db.Exec, Row and Rows.
func (p *Plugin) afterRaw(db *gorm.DB) {
	if db.DryRun {
		return
	}
	p.invalidateSQL(db, db.Statement.SQL.String())
}

// invalidateSQL invalidates what a raw statement may have written.
func (p *Plugin) invalidateSQL(db *gorm.DB, sql string) {
	tables, known, write := parseWrite(sql)
	if !write {
		return
	}
	if !known {
		p.invalidate(db, p.dbTag())
		return
	}
	var tags []string
	for _, t := range tables {
		tags = append(tags, p.tableTag(t), p.batchTag(t))
	}
	p.invalidate(db, tags...)
}

// invalidate bumps tags now, or at commit inside a transaction this plugin
// began.
func (p *Plugin) invalidate(db *gorm.DB, tags ...string) {
	if tx := ownTx(db.Statement.ConnPool); tx != nil {
		tx.defer1(tags)
		return
	}
	_ = p.cache.InvalidateTags(tags...) // counted and logged by the Cache
}

// parseWrite reads which tables a raw statement writes. write is false for
// statements that write no table rows (SELECT, SAVEPOINT, ...); known is
// false when the tables cannot be read.
func parseWrite(sql string) (tables []string, known, write bool) {
	s := skipNoise(sql)
	if i := strings.IndexByte(s, ';'); i >= 0 && strings.TrimSpace(skipNoise(s[i+1:])) != "" {
		return nil, false, true // several statements
	}
	lex := &lexer{s: s}
	first := strings.ToLower(lex.word())
	switch first {
	case "select", "savepoint", "release", "rollback", "begin", "commit", "start", "end", "set", "show":
		return nil, true, false
	case "insert":
		return parseInsert(lex)
	case "replace":
		if lex.lower() != "into" {
			return nil, false, true
		}
		return tableOnly(lex.word())
	case "update":
		return parseUpdate(lex)
	case "delete":
		return parseDelete(lex)
	case "truncate":
		return parseTruncate(lex)
	}
	return nil, false, true
}

// parseInsert reads the table of an INSERT, after its first word.
func parseInsert(lex *lexer) ([]string, bool, bool) {
	w := lex.lower()
	if w == "or" { // SQLite: INSERT OR REPLACE / IGNORE ...
		lex.word()
		w = lex.lower()
	}
	for w == "ignore" || w == "low_priority" || w == "high_priority" || w == "delayed" {
		w = lex.lower()
	}
	if w != "into" {
		return nil, false, true
	}
	return tableOnly(lex.word())
}

// parseUpdate reads the table of an UPDATE of one table, after its first
// word.
func parseUpdate(lex *lexer) ([]string, bool, bool) {
	w := lex.word()
	if strings.EqualFold(w, "or") {
		lex.word()
		w = lex.word()
	}
	for strings.EqualFold(w, "only") || strings.EqualFold(w, "low_priority") || strings.EqualFold(w, "ignore") {
		w = lex.word()
	}
	t, ok := tableName(w)
	if !ok {
		return nil, false, true
	}
	// table [[AS] alias] SET: anything else (a MySQL join) writes more.
	next := lex.lower()
	if next == "as" {
		lex.word()
		next = lex.lower()
	} else if next != "set" && next != "" {
		next = lex.lower()
	}
	if next != "set" {
		return nil, false, true
	}
	return t, true, true
}

// parseDelete reads the table of a DELETE from one table, after its first
// word.
func parseDelete(lex *lexer) ([]string, bool, bool) {
	w := lex.lower()
	for w == "low_priority" || w == "quick" || w == "ignore" {
		w = lex.lower()
	}
	if w != "from" {
		return nil, false, true // MySQL's multi-table DELETE t1, t2 FROM ...
	}
	w = lex.word()
	if strings.EqualFold(w, "only") {
		w = lex.word()
	}
	if strings.HasSuffix(w, ",") {
		return nil, false, true
	}
	t, ok := tableName(w)
	if !ok {
		return nil, false, true
	}
	if rest := strings.TrimSpace(lex.s); strings.HasPrefix(rest, ",") {
		return nil, false, true
	}
	return t, true, true
}

// parseTruncate reads the table of a TRUNCATE of one table, after its
// first word.
func parseTruncate(lex *lexer) ([]string, bool, bool) {
	w := lex.word()
	if strings.EqualFold(w, "table") {
		w = lex.word()
	}
	if strings.EqualFold(w, "only") {
		w = lex.word()
	}
	if rest := strings.TrimSpace(lex.s); rest != "" && !strings.HasPrefix(rest, ";") {
		return nil, false, true
	}
	return tableOnly(w)
}

// tableOnly returns the one table w names as parseWrite reports it.
func tableOnly(w string) ([]string, bool, bool) {
	t, ok := tableName(w)
	if !ok {
		return nil, false, true
	}
	return t, true, true
}

// tableName reads "t", "schema.t" and their quoted forms, stopping at a
// '(' (INSERT INTO t(a, b)); both the full and the last name are returned,
// lower-cased.
func tableName(w string) ([]string, bool) {
	if i := strings.IndexByte(w, '('); i >= 0 {
		w = w[:i]
	}
	parts := strings.Split(w, ".")
	if len(parts) > 3 {
		return nil, false
	}
	for i, part := range parts {
		id, ok := unquote(part)
		if !ok {
			return nil, false
		}
		parts[i] = strings.ToLower(id)
	}
	full := strings.Join(parts, ".")
	if len(parts) == 1 {
		return []string{full}, true
	}
	return []string{full, parts[len(parts)-1]}, true
}

type lexer struct{ s string }

func (l *lexer) word() string {
	l.s = skipNoise(l.s)
	i := 0
	for i < len(l.s) && !isSpace(l.s[i]) && l.s[i] != ';' {
		if l.s[i] == '(' && i > 0 {
			break
		}
		i++
	}
	w := l.s[:i]
	l.s = l.s[i:]
	return w
}

func (l *lexer) lower() string { return strings.ToLower(l.word()) }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

// skipNoise skips spaces and comments.
func skipNoise(s string) string {
	for {
		s = strings.TrimLeft(s, " \t\r\n\f")
		switch {
		case strings.HasPrefix(s, "--"):
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return ""
			}
			s = s[i+1:]
		case strings.HasPrefix(s, "/*"):
			i := strings.Index(s, "*/")
			if i < 0 {
				return ""
			}
			s = s[i+2:]
		default:
			return s
		}
	}
}
