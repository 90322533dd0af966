package gormcache_test

import (
	"database/sql"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/gormcache"
	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
)

// Membership has a composite primary key and a composite unique index.
type Membership struct {
	OrgID  uint `gorm:"primaryKey;autoIncrement:false"`
	UserID uint `gorm:"primaryKey;autoIncrement:false"`
	Role   string
	Seat   int    `gorm:"uniqueIndex:seat_of_org"`
	Org    string `gorm:"uniqueIndex:seat_of_org"`
}

func TestCompositeKeys(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		must(t, e.db.AutoMigrate(&Membership{}))
		m := Membership{OrgID: 1, UserID: 2, Role: "admin", Seat: 3, Org: "o"}
		must(t, e.db.Create(&m).Error)
		read := func() (a, b string) {
			var x, y Membership
			must(t, e.db.Where("org_id = ? AND user_id = ?", 1, 2).First(&x).Error)
			must(t, e.db.Where(&Membership{Seat: 3, Org: "o"}).First(&y).Error)
			return x.Role, y.Role
		}
		read()
		e.behind(t, "UPDATE memberships SET role = 'behind'")
		if a, b := read(); a != "admin" || b != "admin" {
			t.Fatalf("not cached: %q %q", a, b)
		}
		must(t, e.db.Model(&Membership{}).Where("org_id = ? AND user_id = ?", 1, 2).Update("seat", 4).Error)
		var x Membership
		if err := e.db.Where(&Membership{Seat: 3, Org: "o"}).First(&x).Error; !errors.Is(err, gorm.ErrRecordNotFound) {
			t.Fatalf("old unique value: %v %+v", err, x)
		}
		must(t, e.db.Where("org_id = ? AND user_id = ?", 1, 2).First(&x).Error)
		if x.Role != "behind" || x.Seat != 4 {
			t.Fatalf("after update %+v", x)
		}
	})
}

// Prepared-statement sessions and nested transactions (savepoints) defer
// their invalidations to the commit too.
func TestPreparedAndNested(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		u := seedUser(t, e, "n0", "n@x")
		mustUser(t, e.db, u.ID)
		ps := e.db.Session(&gorm.Session{PrepareStmt: true})
		must(t, ps.Transaction(func(tx *gorm.DB) error {
			if err := tx.Model(&u).Update("name", "n1").Error; err != nil {
				return err
			}
			_ = tx.Transaction(func(tx2 *gorm.DB) error {
				tx2.Model(&u).Update("age", 99)
				return errors.New("roll back the savepoint")
			})
			return tx.Transaction(func(tx2 *gorm.DB) error {
				return tx2.Model(&u).Update("name", "n2").Error
			})
		}))
		got := mustUser(t, ps, u.ID)
		if got.Name != "n2" || got.Age == 99 {
			t.Fatalf("after commit: %+v", got)
		}
		if got := mustUser(t, e.db, u.ID); got.Name != "n2" {
			t.Fatalf("plain session: %q", got.Name)
		}
	})
}

// Two *gorm.DB (two processes, say) on one Cache: a write on one is seen by
// the other on its next read.
func TestTwoInstances(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		other := e.open(t, gormcache.Config{})
		u := seedUser(t, e, "i0", "i@x")
		mustUser(t, e.db, u.ID)
		mustUser(t, other, u.ID)
		must(t, other.Model(&u).Update("name", "i1").Error)
		if got := mustUser(t, e.db, u.ID); got.Name != "i1" {
			t.Fatalf("write on the other instance unseen: %q", got.Name)
		}
	})
}

// Association writes: Clear and Replace of a belongs-to, Append to a
// has-many, Delete of a has-many member.
func TestAssociationWrites(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		c := Company{Name: "c1"}
		must(t, e.db.Create(&c).Error)
		u := User{Name: "a", Email: "assoc@x", CompanyID: &c.ID}
		must(t, e.db.Create(&u).Error)
		mustUser(t, e.db, u.ID)
		must(t, e.db.Model(&u).Association("Company").Clear())
		if got := mustUser(t, e.db, u.ID); got.CompanyID != nil {
			t.Fatalf("after Clear: %v", *got.CompanyID)
		}
		c2 := Company{Name: "c2"}
		must(t, e.db.Model(&u).Association("Company").Replace(&c2))
		if got := mustUser(t, e.db, u.ID); got.CompanyID == nil || *got.CompanyID != c2.ID {
			t.Fatalf("after Replace: %v", got.CompanyID)
		}
		p := Post{Title: "p"}
		must(t, e.db.Model(&u).Association("Posts").Append(&p))
		var post Post
		must(t, e.db.First(&post, p.ID).Error)
		if post.UserID != u.ID {
			t.Fatalf("post %+v", post)
		}
		must(t, e.db.Model(&u).Association("Posts").Unscoped().Delete(&p))
		if err := e.db.First(&post, p.ID).Error; !errors.Is(err, gorm.ErrRecordNotFound) && post.UserID == u.ID {
			t.Fatalf("after Delete: %v %+v", err, post)
		}
	})
}

// Keys spelled differently name one row.
func TestKeySpellings(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		u := seedUser(t, e, "k", "k@x")
		var a, b User
		must(t, e.db.First(&a, u.ID).Error)
		must(t, e.db.First(&b, "id = ?", int64(u.ID)).Error)
		must(t, e.db.Model(&User{}).Where("id = ?", u.ID).Update("name", "k2").Error)
		a, b = User{}, User{}
		must(t, e.db.First(&a, u.ID).Error)
		must(t, e.db.First(&b, "id = ?", int64(u.ID)).Error)
		if a.Name != "k2" || b.Name != "k2" {
			t.Fatalf("%q %q", a.Name, b.Name)
		}
	})
}

// A struct takes a whole-table query's first row; a slice takes every row:
// two entries, never one served for the other.
func TestWholeTableStructAndSlice(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		seedUser(t, e, "s1", "s1@x")
		seedUser(t, e, "s2", "s2@x")
		var one User
		must(t, e.db.Find(&one).Error)
		var all []User
		must(t, e.db.Find(&all).Error)
		if len(all) != 2 {
			t.Fatalf("slice after struct: %d rows", len(all))
		}
		var xs []User
		must(t, e.db.Find(&xs, []uint{all[0].ID, all[1].ID}).Error)
		var first User
		must(t, e.db.Find(&first, []uint{all[1].ID, all[0].ID}).Error) // passes through
		if first.ID == 0 {
			t.Fatal("struct from a key list")
		}
	})
}

// A whole table past MaxRows is returned, not stored.
func TestMaxRows(t *testing.T) {
	e := newSQLite(t, gormcache.Config{MaxRows: 2})
	for _, n := range []string{"r1", "r2", "r3"} {
		seedUser(t, e, n, n+"@x")
	}
	var all []User
	must(t, e.db.Find(&all).Error)
	e.behind(t, "UPDATE users SET name = 'behind'")
	must(t, e.db.Find(&all).Error)
	if len(all) != 3 || all[0].Name != "behind" {
		t.Fatalf("stored past MaxRows: %d %q", len(all), all[0].Name)
	}
}

// Odd's Code is text in Go and an integer in the database: database/sql
// converts, the replay would not, so its rows are never stored, and its
// queries are answered by gorm alone.
type Odd struct {
	ID        uint
	Code      string `gorm:"type:integer"`
	DeletedAt gorm.DeletedAt
}

func TestUnreproducibleRowsPassThrough(t *testing.T) {
	e := newSQLite(t, gormcache.Config{})
	must(t, e.db.AutoMigrate(&Odd{}))
	odds := []Odd{{Code: "11"}, {Code: "12"}, {Code: "13"}}
	must(t, e.db.Create(&odds).Error)
	must(t, e.db.Delete(&odds[1]).Error)
	ids := []uint{odds[0].ID, odds[1].ID, odds[2].ID}
	for i := 0; i < 2; i++ {
		var xs []Odd
		must(t, e.db.Find(&xs, ids).Error)
		if len(xs) != 2 || xs[0].Code != "11" || xs[1].Code != "13" {
			t.Fatalf("multi-get: %+v", xs)
		}
		var x Odd
		must(t, e.db.First(&x, ids[0]).Error)
		if x.Code != "11" {
			t.Fatalf("row: %+v", x)
		}
	}
	if s := e.cache.Stats(); s.Stores != 0 {
		t.Fatalf("stored %d entries", s.Stores)
	}
}

// A database opened with PrepareStmt: the plugin wraps gorm's prepared
// pool; reads, writes and transactions behave the same.
func TestOpenedWithPrepareStmt(t *testing.T) {
	dsn := "file:" + t.TempDir() + "/p.db?_pragma=busy_timeout(10000)"
	db, err := gorm.Open(sqlite.Open(dsn), &gorm.Config{PrepareStmt: true, Logger: quiet().Logger})
	must(t, err)
	sqlDB, err := db.DB()
	must(t, err)
	defer sqlDB.Close()
	must(t, db.AutoMigrate(&User{}))
	must(t, db.Use(gormcache.New(cachekit.New(cachekit.Config{}))))
	u := User{Name: "p", Email: "p@x"}
	must(t, db.Create(&u).Error)
	mustUser(t, db, u.ID)
	tx := db.Begin()
	must(t, tx.Model(&u).Update("name", "q").Error)
	must(t, tx.Commit().Error)
	if got := mustUser(t, db, u.ID); got.Name != "q" {
		t.Fatalf("after commit: %q", got.Name)
	}
	if _, err := db.DB(); err != nil {
		t.Fatal("db.DB() through the wrapper:", err)
	}
}

// Config.Models narrows the cached models, Config.Exclude removes some, and
// a bad Config fails db.Use.
func TestConfigModels(t *testing.T) {
	for name, cfg := range map[string]gormcache.Config{
		"Exclude": {Exclude: []any{&User{}}},
		"Models":  {Models: []any{Company{}}},
	} {
		t.Run(name, func(t *testing.T) {
			e := newSQLite(t, cfg)
			u := seedUser(t, e, "c", "c@x")
			mustUser(t, e.db, u.ID)
			e.behind(t, "UPDATE users SET name = 'behind'")
			if got := mustUser(t, e.db, u.ID); got.Name != "behind" {
				t.Fatalf("%s: User cached", name)
			}
			c := Company{Name: "co"}
			must(t, e.db.Create(&c).Error)
			var x Company
			must(t, e.db.First(&x, c.ID).Error)
			e.behind(t, "UPDATE companies SET name = 'behind'")
			must(t, e.db.First(&x, c.ID).Error)
			if x.Name != "co" {
				t.Fatalf("%s: Company not cached", name)
			}
		})
	}
	e := newSQLite(t, gormcache.Config{})
	for _, bad := range []gormcache.Config{{TTL: -1}, {Prefix: "a b"}} {
		if err := e.open(t).Use(gormcache.New(e.cache, bad)); err == nil {
			t.Fatalf("%+v accepted", bad)
		}
	}
	if err := e.open(t).Use(gormcache.New(nil)); err == nil {
		t.Fatal("nil Cache accepted")
	}
}

// db.Exec inside a transaction invalidates at commit; a Delete drops the
// children's lists (a database-side cascade may have changed them).
func TestExecInTransactionAndDeleteCascade(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		u := seedUser(t, e, "x0", "x@x")
		must(t, e.db.Create(&Post{UserID: u.ID, Title: "t"}).Error)
		mustUser(t, e.db, u.ID)
		must(t, e.db.Transaction(func(tx *gorm.DB) error {
			return tx.Exec(e.q("UPDATE users SET name = ? WHERE id = ?"), "x1", u.ID).Error
		}))
		if got := mustUser(t, e.db, u.ID); got.Name != "x1" {
			t.Fatalf("Exec in a transaction: %q", got.Name)
		}
		var x User
		must(t, e.db.Preload("Posts").First(&x, u.ID).Error)
		e.behind(t, "DELETE FROM posts") // what ON DELETE CASCADE would do
		must(t, e.db.Unscoped().Delete(&User{}, u.ID).Error)
		var posts []Post
		must(t, e.db.Where("user_id = ?", u.ID).Find(&posts).Error)
		if len(posts) != 0 {
			t.Fatalf("children after the parent's delete: %+v", posts)
		}
	})
}

// Gadget has a JSON-serialized field, a Scanner type, a nullable pointer
// and an AfterFind hook: a hit behaves as a database read does.
type Gadget struct {
	ID     uint
	Specs  map[string]int `gorm:"serializer:json"`
	When   sql.NullTime
	Note   *string
	Weight float32
	OK     bool
	Blob   []byte
	Loaded int `gorm:"-"`
}

func (g *Gadget) AfterFind(*gorm.DB) error { g.Loaded++; return nil }

func TestHitsBehaveLikeReads(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		must(t, e.db.AutoMigrate(&Gadget{}))
		when := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
		g := Gadget{Specs: map[string]int{"a": 1}, When: sql.NullTime{Time: when, Valid: true}, Weight: 1.25, OK: true, Blob: []byte{0, 1, 2}}
		must(t, e.db.Create(&g).Error)
		var first, hit Gadget
		must(t, e.db.First(&first, g.ID).Error)
		must(t, e.db.First(&hit, g.ID).Error)
		if e.plug.Stats()["Gadget"].Hits != 1 {
			t.Fatalf("second read not a hit: %+v", e.plug.Stats()["Gadget"])
		}
		first.When.Time, hit.When.Time = first.When.Time.UTC(), hit.When.Time.UTC()
		if !reflect.DeepEqual(first, hit) || hit.Loaded != 1 || hit.Specs["a"] != 1 || hit.Note != nil || !hit.When.Time.Equal(when) {
			t.Fatalf("hit differs from the read:\n%+v\n%+v", first, hit)
		}
	})
}
