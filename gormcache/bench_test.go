package gormcache_test

import (
	"testing"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/gormcache"
	"gorm.io/gorm"
)

// benchDBs opens, on one database, a *gorm.DB without the plugin and one
// with it, and seeds 100 users.
func benchDBs(b *testing.B, newEnv func(testing.TB, gormcache.Config) *env) (plain, cached *gorm.DB, id uint) {
	e := newEnv(b, gormcache.Config{})
	users := make([]User, 100)
	for i := range users {
		users[i] = User{Name: "user", Email: string(rune('a'+i%26)) + string(rune('a'+i/26)) + "@x", Age: i}
	}
	must(b, e.db.Create(&users).Error)
	return e.open(b), e.db, users[50].ID
}

// e0 opens a database whose gorm:query callback does nothing.
func e0(b *testing.B, newEnv func(testing.TB, gormcache.Config) *env) *gorm.DB {
	db := newEnv(b, gormcache.Config{}).open(b)
	must(b, db.Callback().Query().Replace("gorm:query", func(*gorm.DB) {}))
	return db
}

// fixedRow opens a database whose gorm:query callback copies row into a
// *User destination: the fastest possible plugin hit.
func fixedRow(b *testing.B, newEnv func(testing.TB, gormcache.Config) *env, row User) *gorm.DB {
	db := newEnv(b, gormcache.Config{}).open(b)
	must(b, db.Callback().Query().Replace("gorm:query", func(db *gorm.DB) {
		if u, ok := db.Statement.Dest.(*User); ok {
			*u = row
			db.RowsAffected = 1
		}
	}))
	return db
}

func benchLookup(b *testing.B, db *gorm.DB, id uint) {
	b.ReportAllocs()
	for b.Loop() {
		var u User
		if err := db.First(&u, id).Error; err != nil {
			b.Fatal(err)
		}
	}
}

func benchOpen(b *testing.B, db *gorm.DB) {
	b.ReportAllocs()
	for b.Loop() {
		var us []User
		if err := db.Where("age > ? AND age < ?", 10, 13).Find(&us).Error; err != nil || len(us) != 2 {
			b.Fatal(len(us), err)
		}
	}
}

// BenchmarkPKLookup: db.First(&u, id), uncached against a hit through the
// plugin, on SQLite and PostgreSQL.
func BenchmarkPKLookup(b *testing.B) {
	for _, d := range []struct {
		name string
		open func(testing.TB, gormcache.Config) *env
	}{{"sqlite", newSQLite}, {"postgres", newPostgres}} {
		b.Run(d.name, func(b *testing.B) {
			plain, cached, id := benchDBs(b, d.open)
			b.Run("uncached", func(b *testing.B) { benchLookup(b, plain, id) })
			b.Run("plugin-hit", func(b *testing.B) { benchLookup(b, cached, id) })
			// GORM's own cost of the call with a query callback that sets a
			// fixed row and nothing else: the fastest any plugin can be,
			// the floor under a hit.
			b.Run("gorm-floor", func(b *testing.B) {
				var want User
				must(b, cached.First(&want, id).Error)
				floor := fixedRow(b, d.open, want)
				b.ReportAllocs()
				for b.Loop() {
					var u User
					if err := floor.First(&u, id).Error; err != nil || u.ID != id {
						b.Fatal(u.ID, err)
					}
				}
			})
		})
	}
}

// BenchmarkUncachedShape: a query the plugin passes through, without the
// plugin and with it: the plugin's overhead.
func BenchmarkUncachedShape(b *testing.B) {
	for _, d := range []struct {
		name string
		open func(testing.TB, gormcache.Config) *env
	}{{"sqlite", newSQLite}, {"postgres", newPostgres}} {
		b.Run(d.name, func(b *testing.B) {
			plain, cached, _ := benchDBs(b, d.open)
			b.Run("without-plugin", func(b *testing.B) { benchOpen(b, plain) })
			b.Run("with-plugin", func(b *testing.B) { benchOpen(b, cached) })
		})
	}
}

// BenchmarkPassThroughCost: the open-ended query of BenchmarkUncachedShape
// over a gorm:query that does nothing, without the plugin and with it: the
// plugin's own cost on a query it does not cache, free of the database's
// noise.
func BenchmarkPassThroughCost(b *testing.B) {
	without := e0(b, newSQLite)
	with := e0(b, newSQLite)
	must(b, with.Use(gormcache.New(cachekit.New(cachekit.Config{}))))
	run := func(b *testing.B, db *gorm.DB) {
		b.ReportAllocs()
		for b.Loop() {
			var us []User
			db.Where("age > ? AND age < ?", 10, 13).Find(&us)
		}
	}
	b.Run("without-plugin", func(b *testing.B) { run(b, without) })
	b.Run("with-plugin", func(b *testing.B) { run(b, with) })
}

// BenchmarkPreload: 20 users by key with their company (belongs-to) and
// posts (has-many): three queries uncached, three multi-gets through the
// plugin.
func BenchmarkPreload(b *testing.B) {
	for _, d := range []struct {
		name string
		open func(testing.TB, gormcache.Config) *env
	}{{"sqlite", newSQLite}, {"postgres", newPostgres}} {
		b.Run(d.name, func(b *testing.B) {
			e := d.open(b, gormcache.Config{})
			var ids []uint
			for i := 0; i < 20; i++ {
				c := Company{Name: "c"}
				must(b, e.db.Create(&c).Error)
				u := User{Name: "u", Email: string(rune('a'+i)) + "@x", CompanyID: &c.ID}
				must(b, e.db.Create(&u).Error)
				must(b, e.db.Create(&Post{UserID: u.ID, Title: "p"}).Error)
				ids = append(ids, u.ID)
			}
			run := func(b *testing.B, db *gorm.DB) {
				b.ReportAllocs()
				for b.Loop() {
					var us []User
					if err := db.Preload("Company").Preload("Posts").Find(&us, ids).Error; err != nil || len(us) != 20 {
						b.Fatal(len(us), err)
					}
				}
			}
			b.Run("uncached", func(b *testing.B) { run(b, e.open(b)) })
			b.Run("plugin-hit", func(b *testing.B) { run(b, e.db) })
		})
	}
}
