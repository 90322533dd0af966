// Package gormcache is a GORM plugin that caches model rows in a cachekit
// Cache, Django-style: lookups that name one row (equality on the primary
// key, or on every column of one unique index), multi-gets by primary key,
// and whole-table queries with no conditions. Every write made through GORM
// invalidates what it can have changed, in O(1) and without remembering which
// queries ran: rows and tables carry the core's tag generations
// (cachekit.Cache.InvalidateTags).
//
//	db.Use(gormcache.New(cache))
//
// Anything else (open-ended conditions, joins, selects of some columns,
// aggregates, raw SQL, locking reads, reads inside a transaction) goes to the
// database untouched. The cache is never the reason a query fails: any error
// from it sends the query to the database.
package gormcache

import (
	"fmt"
	"hash/fnv"
	"hash/maphash"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cachekit/cachekit"
	"gorm.io/gorm"
	"gorm.io/gorm/schema"
)

// Config narrows what the plugin caches. The zero value caches every model
// with a primary key for DefaultTTL.
type Config struct {
	// TTL bounds how long a cached row or table lives. It is the bound on
	// how long a write made outside GORM (another service, a raw
	// connection, a database trigger) can go unseen. 0 means DefaultTTL
	// (this package's, 10 minutes); cachekit.DefaultTTL the Cache's
	// Config.DefaultTTL; cachekit.NoExpiry no bound but invalidation (only
	// when every write goes through GORM). Another negative value is an
	// error reported by Initialize.
	TTL time.Duration

	// Models, when not empty, is the list of models cached (values or
	// pointers, e.g. &User{}); every other model passes through.
	Models []any

	// Exclude lists models never cached, whatever Models says.
	Exclude []any

	// Prefix starts every key and tag the plugin writes, so two databases
	// can share one Cache. Printable ASCII without spaces; "" means "gorm".
	Prefix string

	// MaxRows bounds the rows of one cached whole-table query: a larger
	// result is returned but not stored. 0 means 1000.
	MaxRows int
}

// DefaultTTL is the TTL of a zero Config.
const DefaultTTL = 10 * time.Minute

// Plugin is the gorm.Plugin New returns.
type Plugin struct {
	cache   *cachekit.Cache
	ttl     time.Duration
	prefix  string
	maxRows int
	only    map[reflect.Type]bool
	exclude map[reflect.Type]bool
	cfgErr  error

	query gormFunc // the gorm:query callback this plugin wraps
	plans sync.Map // *schema.Schema -> *modelInfo
	fks   sync.Map // "table\x00column" of has-one / has-many foreign keys
	stats sync.Map // model name -> *modelCounters
}

type gormFunc = func(*gorm.DB)

// New returns the plugin: db.Use(gormcache.New(cache)).
func New(c *cachekit.Cache, config ...Config) gorm.Plugin {
	var cfg Config
	if len(config) > 0 {
		cfg = config[0]
	}
	p := &Plugin{cache: c, ttl: cfg.TTL, prefix: cfg.Prefix, maxRows: cfg.MaxRows}
	if p.ttl == 0 {
		p.ttl = DefaultTTL
	}
	if p.prefix == "" {
		p.prefix = "gorm"
	}
	if p.maxRows <= 0 {
		p.maxRows = 1000
	}
	switch {
	case c == nil:
		p.cfgErr = fmt.Errorf("gormcache: New needs a *cachekit.Cache")
	case cfg.TTL < 0 && cfg.TTL != cachekit.DefaultTTL:
		p.cfgErr = fmt.Errorf("gormcache: negative Config.TTL %v", cfg.TTL)
	case strings.ContainsAny(p.prefix, " :\t\n"):
		p.cfgErr = fmt.Errorf("gormcache: Config.Prefix %q has a space or ':'", p.prefix)
	}
	p.only = typeSet(cfg.Models)
	p.exclude = typeSet(cfg.Exclude)
	return p
}

func typeSet(models []any) map[reflect.Type]bool {
	if len(models) == 0 {
		return nil
	}
	m := make(map[reflect.Type]bool, len(models))
	for _, v := range models {
		t := reflect.TypeOf(v)
		for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			t = t.Elem()
		}
		if t != nil {
			m[t] = true
		}
	}
	return m
}

// Name is the plugin's name in gorm's registry.
func (p *Plugin) Name() string { return "cachekit:gormcache" }

// Initialize registers the callbacks and wraps the connection pool so that
// a transaction's invalidations take effect when it commits. Call db.Use
// right after gorm.Open: sessions made before it do not see the wrapper
// (their transactions then invalidate at each write, not at commit).
func (p *Plugin) Initialize(db *gorm.DB) error {
	if p.cfgErr != nil {
		return p.cfgErr
	}
	if err := p.cache.Err(); err != nil {
		return fmt.Errorf("gormcache: %w", err)
	}
	cb := db.Callback()
	p.query = cb.Query().Get("gorm:query")
	if p.query == nil {
		return fmt.Errorf("gormcache: no gorm:query callback to wrap")
	}
	if err := cb.Query().Replace("gorm:query", p.queryCallback); err != nil {
		return err
	}
	for _, err := range []error{
		cb.Create().After("gorm:create").Register("cachekit:after_create", p.afterCreate),
		cb.Update().After("gorm:update").Register("cachekit:after_update", p.afterUpdate),
		cb.Delete().After("gorm:delete").Register("cachekit:after_delete", p.afterDelete),
		cb.Raw().After("gorm:raw").Register("cachekit:after_raw", p.afterRaw),
		cb.Row().After("gorm:row").Register("cachekit:after_row", p.afterRaw),
	} {
		if err != nil {
			return err
		}
	}
	wrapped := wrapPool(p, db.ConnPool)
	db.ConnPool = wrapped
	if db.Statement != nil {
		db.Statement.ConnPool = wrapped
	}
	return nil
}

// modelInfo is what the plugin knows of one schema.
type modelInfo struct {
	sch      *schema.Schema
	cached   bool   // the model is cached at all
	keyHead  string // "<prefix>:<Model>:<table>:"
	table    string // the table, lower-cased, as tags name it
	pk       []*schema.Field
	uniques  [][]*schema.Field // unique indexes and unique columns, each a column set
	counters *modelCounters
	rowTags  []string                 // the tags a row entry holds before its row tag
	allTags  []string                 // the tags a whole-table entry holds
	cols     atomic.Pointer[[]string] // the columns of the last entry replayed
	types    sync.Map                 // column list -> []reflect.Type
	protos   protoTable               // prototypes of hits into a struct
}

func (mi *modelInfo) lastCols() []string {
	if c := mi.cols.Load(); c != nil {
		return *c
	}
	return nil
}

func (mi *modelInfo) keepCols(cols []string) {
	if c := mi.cols.Load(); c == nil || !sameStrings(*c, cols) {
		kept := cols
		mi.cols.Store(&kept)
	}
}

var anyPtrType = reflect.TypeFor[*any]()

// destTypes returns the type gorm.Scan scans each column into, as it does
// for this model; nil when it cannot tell.
func (mi *modelInfo) destTypes(cols []string) []reflect.Type {
	key := strings.Join(cols, "\x00")
	if v, ok := mi.types.Load(key); ok {
		return v.([]reflect.Type)
	}
	types := make([]reflect.Type, len(cols))
	seen := map[string]bool{}
	for i, c := range cols {
		if seen[c] {
			return nil // duplicate columns: gorm has rules of its own
		}
		seen[c] = true
		f := mi.sch.LookUpField(c)
		if f == nil || !f.Readable {
			types[i] = anyPtrType
			continue
		}
		v := f.NewValuePool.Get()
		types[i] = reflect.TypeOf(v)
		f.NewValuePool.Put(v)
	}
	mi.types.Store(key, types)
	return types
}

// info returns what the plugin knows of a model, worked out on its first
// query and kept.
func (p *Plugin) info(sch *schema.Schema) *modelInfo {
	if v, ok := p.plans.Load(sch); ok {
		return v.(*modelInfo)
	}
	mi := &modelInfo{sch: sch, pk: sch.PrimaryFields, table: strings.ToLower(sch.Table)}
	mi.keyHead = p.keyHead(sch)
	mi.protos.seed = maphash.MakeSeed()
	mi.protos.layout.init(mi)
	mi.counters = p.counters(sch.Name)
	mi.rowTags = p.tableTags(mi.table, false)
	mi.allTags = p.tableTags(mi.table, true)
	mi.cached = len(sch.PrimaryFields) > 0 && sch.Table != "" && !p.exclude[sch.ModelType] &&
		(p.only == nil || p.only[sch.ModelType]) && plainQueryClauses(sch)
	mi.uniques = uniqueSets(sch)
	p.learnFKs(sch)
	v, _ := p.plans.LoadOrStore(sch, mi)
	return v.(*modelInfo)
}

// keyHead returns the start of every key of the model,
// "<prefix>:<Model>:<table>:<digest>:".
func (p *Plugin) keyHead(sch *schema.Schema) string {
	// The key holds a digest of the model's fields, so a deploy that
	// changes the struct never reads rows stored by the old one.
	h := fnv.New32a()
	for _, f := range sch.Fields {
		fmt.Fprintf(h, "%s %s %s;", f.Name, f.DBName, f.FieldType)
	}
	return fmt.Sprintf("%s:%s:%s:%08x:", p.prefix, sch.Name, sch.Table, h.Sum32())
}

// uniqueSets returns the column sets that name at most one row: each unique
// column but the primary key, then each unique index over plain columns.
func uniqueSets(sch *schema.Schema) [][]*schema.Field {
	var sets [][]*schema.Field
	for _, f := range sch.Fields {
		if f.Unique && f.DBName != "" && !f.PrimaryKey {
			sets = append(sets, []*schema.Field{f})
		}
	}
	for _, idx := range sch.ParseIndexes() {
		if set, ok := uniqueIndexFields(idx); ok {
			sets = append(sets, set)
		}
	}
	return sets
}

// uniqueIndexFields returns the columns of a unique index; ok is false for
// another index, a partial one, or one over an expression.
func uniqueIndexFields(idx *schema.Index) ([]*schema.Field, bool) {
	if !strings.EqualFold(idx.Class, "UNIQUE") {
		return nil, false
	}
	if idx.Where != "" || len(idx.Fields) == 0 {
		return nil, false // a partial index is unique only among some rows
	}
	set := make([]*schema.Field, 0, len(idx.Fields))
	for _, o := range idx.Fields {
		if o.Expression != "" || o.Field == nil || o.DBName == "" {
			return nil, false
		}
		set = append(set, o.Field)
	}
	return set, true
}

// learnFKs records the foreign key of each has-one and has-many relation of
// the model, for isFK.
func (p *Plugin) learnFKs(sch *schema.Schema) {
	for _, rel := range sch.Relationships.Relations {
		if (rel.Type != schema.HasOne && rel.Type != schema.HasMany) || rel.FieldSchema == nil || len(rel.References) != 1 {
			continue
		}
		if ref := rel.References[0]; ref.OwnPrimaryKey && ref.PrimaryValue == "" && ref.ForeignKey != nil {
			p.fks.Store(strings.ToLower(rel.FieldSchema.Table)+"\x00"+ref.ForeignKey.DBName, true)
		}
	}
}

// isFK reports whether col of mi's table is the foreign key of a has-one or
// has-many relation of a model the plugin has seen.
func (p *Plugin) isFK(mi *modelInfo, col string) bool {
	_, ok := p.fks.Load(mi.table + "\x00" + col)
	return ok
}

// plainQueryClauses reports whether the only clauses the schema adds to its
// queries are GORM's soft-delete condition: any other one (a tenant scope
// from a plugin, say) may depend on things the cache key does not hold.
func plainQueryClauses(sch *schema.Schema) bool {
	for _, c := range sch.QueryClauses {
		if _, ok := c.(gorm.SoftDeleteQueryClause); !ok {
			return false
		}
	}
	return true
}

// ModelStats counts what the plugin did for one model.
type ModelStats struct {
	Hits   uint64 // reads answered from the cache
	Misses uint64 // cacheable reads that went to the database
	Bypass uint64 // reads of a shape the plugin does not cache
	Writes uint64 // writes that invalidated this model's table or rows
}

type modelCounters struct{ hits, misses, bypass, writes atomic.Uint64 }

func (p *Plugin) counters(model string) *modelCounters {
	if v, ok := p.stats.Load(model); ok {
		return v.(*modelCounters)
	}
	v, _ := p.stats.LoadOrStore(model, new(modelCounters))
	return v.(*modelCounters)
}

// Stats returns the counters per model name. The same hits and misses reach
// the Cache's own Stats and Observe, under keys that start with
// "<prefix>:<Model>:" (see ModelOf).
func (p *Plugin) Stats() map[string]ModelStats {
	out := map[string]ModelStats{}
	p.stats.Range(func(k, v any) bool {
		c := v.(*modelCounters)
		out[k.(string)] = ModelStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Bypass: c.bypass.Load(), Writes: c.writes.Load()}
		return true
	})
	return out
}

// ModelOf returns the model name in a key this plugin wrote, for an
// Observe function that counts per model: "gorm:User:users:pk:i7" -> "User".
// ok is false for keys of other origins or another prefix.
func ModelOf(key, prefix string) (model string, ok bool) {
	if prefix == "" {
		prefix = "gorm"
	}
	rest, ok := strings.CutPrefix(key, prefix+":")
	if !ok {
		return "", false
	}
	model, _, ok = strings.Cut(rest, ":")
	return model, ok && model != ""
}
