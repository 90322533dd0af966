package gormcache_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/gormcache"
	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

type Product struct {
	ID    uint
	Slug  string `gorm:"uniqueIndex"`
	Name  string
	Price int
}

// The README's snippet: every model with a primary key is cached, every
// write through GORM invalidates what it changed.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "gormcache-example")
	defer os.RemoveAll(dir)
	db, err := gorm.Open(sqlite.Open(filepath.Join(dir, "shop.db")), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		panic(err)
	}
	defer func() { sqlDB, _ := db.DB(); sqlDB.Close() }()

	cache := cachekit.New(cachekit.Config{})
	if err := db.Use(gormcache.New(cache)); err != nil {
		panic(err)
	}
	db.AutoMigrate(&Product{})
	db.Create(&Product{Slug: "tea", Name: "Tea", Price: 4})

	var p, q Product
	db.First(&p, 1)                             // a miss: read from the database, stored
	db.First(&p, 1)                             // a hit
	db.Where("slug = ?", "tea").First(&q)       // a unique column: cached too (a miss)
	db.Model(&p).Update("price", 5)             // invalidates the row, in O(1)
	db.Where("price > ?", 1).Find(&[]Product{}) // open-ended: always the database

	var fresh Product
	db.First(&fresh, 1)
	fmt.Println(fresh.Name, fresh.Price)
	s := cache.Stats()
	fmt.Println("hits:", s.Hits, "misses:", s.Misses)
	// Output:
	// Tea 5
	// hits: 1 misses: 3
}

// Config.TTL bounds how long a write made outside GORM goes unseen.
func ExampleConfig() {
	cache := cachekit.New(cachekit.Config{})
	plugin := gormcache.New(cache, gormcache.Config{
		TTL:     time.Minute,       // writes outside GORM are seen within a minute
		Exclude: []any{&Product{}}, // never cached
		Prefix:  "shop",            // keys and tags start with "shop:"
		MaxRows: 500,               // whole tables up to 500 rows
	})
	fmt.Println(plugin.Name())
	// Output: cachekit:gormcache
}
