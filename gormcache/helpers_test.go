package gormcache_test

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/gormcache"
	"github.com/cachekit/cachekit/internal/testserver"
	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// The models of the tests.

type Company struct {
	ID   uint
	Name string
}

type User struct {
	ID        uint
	Name      string
	Email     string `gorm:"uniqueIndex"`
	Age       int
	CompanyID *uint
	Company   *Company
	Posts     []Post
	DeletedAt gorm.DeletedAt `gorm:"index"`
}

type Post struct {
	ID     uint
	UserID uint
	Title  string
}

// Counter is the row the concurrency test hammers.
type Counter struct {
	ID uint
	N  int
}

// Note has no primary key: never cached.
type Note struct {
	Body string
	Rank int
}

var models = []any{&Company{}, &User{}, &Post{}, &Counter{}, &Note{}}

// env is one database with the plugin, and a raw connection to it that
// writes behind GORM's back.
type env struct {
	name  string
	db    *gorm.DB
	raw   *sql.DB
	cache *cachekit.Cache
	plug  *gormcache.Plugin
	open  func(t testing.TB, cfg ...gormcache.Config) *gorm.DB // another *gorm.DB on the same database
}

// q adapts '?' placeholders to the database.
func (e *env) q(query string) string {
	if e.name != "postgres" {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// behind writes with the raw connection.
func (e *env) behind(t testing.TB, query string, args ...any) {
	t.Helper()
	if _, err := e.raw.Exec(e.q(query), args...); err != nil {
		t.Fatalf("raw %s: %v", query, err)
	}
}

// eachDB runs f on SQLite, and on PostgreSQL when CACHEKIT_POSTGRES_DSN is
// set (make test sets it; outside CI the PostgreSQL half skips without it).
func eachDB(t *testing.T, f func(t *testing.T, e *env)) {
	t.Run("sqlite", func(t *testing.T) { f(t, newSQLite(t, gormcache.Config{})) })
	t.Run("postgres", func(t *testing.T) { f(t, newPostgres(t, gormcache.Config{})) })
}

func quiet() *gorm.Config {
	return &gorm.Config{Logger: logger.Default.LogMode(logger.Silent)}
}

func newSQLite(t testing.TB, cfg gormcache.Config) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
	e := &env{name: "sqlite"}
	open := func(t testing.TB, cfgs ...gormcache.Config) *gorm.DB {
		t.Helper()
		db, err := gorm.Open(sqlite.Open(dsn), quiet())
		if err != nil {
			t.Fatal(err)
		}
		sqlDB, _ := db.DB()
		t.Cleanup(func() { sqlDB.Close() })
		if len(cfgs) > 0 {
			if err := db.Use(gormcache.New(e.cache, cfgs[0])); err != nil {
				t.Fatal(err)
			}
		}
		return db
	}
	e.open = open
	setup(t, e, cfg, func() (*gorm.DB, *sql.DB) {
		db := open(t)
		raw, err := sql.Open("sqlite", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close() })
		return db, raw
	})
	return e
}

func newPostgres(t testing.TB, cfg gormcache.Config) *env {
	t.Helper()
	dsn := testserver.Addr(t, "CACHEKIT_POSTGRES_DSN")
	// One schema per test: tests run side by side on one server.
	admin := rawPostgres(t, dsn)
	defer admin.Close()
	schemaName := fmt.Sprintf("gc_%d_%d", time.Now().UnixNano(), rand.IntN(1e6))
	if _, err := admin.Exec("CREATE SCHEMA " + schemaName); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a := rawPostgres(t, dsn)
		a.Exec("DROP SCHEMA " + schemaName + " CASCADE")
		a.Close()
	})
	sdsn := withSearchPath(dsn, schemaName)
	e := &env{name: "postgres"}
	e.open = func(t testing.TB, cfgs ...gormcache.Config) *gorm.DB {
		t.Helper()
		db, err := gorm.Open(postgres.Open(sdsn), quiet())
		if err != nil {
			t.Fatal(err)
		}
		sqlDB, _ := db.DB()
		t.Cleanup(func() { sqlDB.Close() })
		if len(cfgs) > 0 {
			if err := db.Use(gormcache.New(e.cache, cfgs[0])); err != nil {
				t.Fatal(err)
			}
		}
		return db
	}
	setup(t, e, cfg, func() (*gorm.DB, *sql.DB) {
		db := e.open(t)
		raw := rawPostgres(t, sdsn)
		t.Cleanup(func() { raw.Close() })
		return db, raw
	})
	return e
}

// rawPostgres opens a *sql.DB of its own (GORM's driver, no plugin): the
// connection that writes behind GORM's back.
func rawPostgres(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := gorm.Open(postgres.Open(dsn), quiet())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func withSearchPath(dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " search_path=" + schema
}

func setup(t testing.TB, e *env, cfg gormcache.Config, open func() (*gorm.DB, *sql.DB)) {
	t.Helper()
	e.cache = cachekit.New(cachekit.Config{})
	db, raw := open()
	if err := db.AutoMigrate(models...); err != nil {
		t.Fatal(err)
	}
	plug := gormcache.New(e.cache, cfg)
	if err := db.Use(plug); err != nil {
		t.Fatal(err)
	}
	e.db, e.raw, e.plug = db, raw, plug.(*gormcache.Plugin)
}

// mustUser reads user id through GORM.
func mustUser(t testing.TB, db *gorm.DB, id uint) User {
	t.Helper()
	var u User
	if err := db.First(&u, id).Error; err != nil {
		t.Fatalf("First(%d): %v", id, err)
	}
	return u
}

func TestMain(m *testing.M) {
	if os.Getenv("CACHEKIT_POSTGRES_DSN") == "" && os.Getenv("CI") != "true" {
		fmt.Fprintln(os.Stderr, "gormcache: PostgreSQL tests skipped (CACHEKIT_POSTGRES_DSN unset); run `make test` to start the server and run them")
	}
	os.Exit(m.Run())
}
