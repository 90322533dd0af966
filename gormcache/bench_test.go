package gormcache_test

import (
	"testing"

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
