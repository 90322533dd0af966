package gormcache_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/gormcache"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

func seedUser(t testing.TB, e *env, name, email string) User {
	t.Helper()
	u := User{Name: name, Email: email, Age: 30}
	if err := e.db.Create(&u).Error; err != nil {
		t.Fatal(err)
	}
	return u
}

// The heart of it: a read comes from the cache (the raw write behind GORM's
// back is not seen), and a GORM write invalidates it.
func TestCachedReadAndInvalidation(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		u := seedUser(t, e, "ann", "ann@x")
		if got := mustUser(t, e.db, u.ID); got.Name != "ann" {
			t.Fatalf("first read %q", got.Name)
		}
		e.behind(t, "UPDATE users SET name = ? WHERE id = ?", "behind", u.ID)
		if got := mustUser(t, e.db, u.ID); got.Name != "ann" {
			t.Fatalf("second read %q: not from the cache", got.Name)
		}
		if err := e.db.Model(&User{ID: u.ID}).Update("name", "gorm").Error; err != nil {
			t.Fatal(err)
		}
		if got := mustUser(t, e.db, u.ID); got.Name != "gorm" {
			t.Fatalf("after Update: %q", got.Name)
		}
		st := e.plug.Stats()["User"]
		if st.Hits == 0 || st.Misses == 0 || st.Writes == 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// shapes are the cacheable reads of one user; each returns the name seen.
var shapes = map[string]func(db *gorm.DB, u User) (string, error){
	"First(pk)": func(db *gorm.DB, u User) (string, error) {
		var x User
		err := db.First(&x, u.ID).Error
		return x.Name, err
	},
	"Take(id = ?)": func(db *gorm.DB, u User) (string, error) {
		var x User
		err := db.Take(&x, "id = ?", u.ID).Error
		return x.Name, err
	},
	"Where(unique email)": func(db *gorm.DB, u User) (string, error) {
		var x User
		err := db.Where("email = ?", u.Email).First(&x).Error
		return x.Name, err
	},
	"First(dest with pk)": func(db *gorm.DB, u User) (string, error) {
		x := User{ID: u.ID}
		err := db.First(&x).Error
		return x.Name, err
	},
	"Where(struct pk)": func(db *gorm.DB, u User) (string, error) {
		var x User
		err := db.Where(&User{ID: u.ID}).First(&x).Error
		return x.Name, err
	},
	"Find(pk list)": func(db *gorm.DB, u User) (string, error) {
		var xs []User
		err := db.Find(&xs, []uint{u.ID, u.ID + 1000}).Error
		if err == nil && len(xs) != 1 {
			return "", gorm.ErrRecordNotFound
		}
		if err != nil {
			return "", err
		}
		return xs[0].Name, nil
	},
	"Find(all)": func(db *gorm.DB, u User) (string, error) {
		var xs []User
		if err := db.Order("id").Find(&xs).Error; err != nil {
			return "", err
		}
		for _, x := range xs {
			if x.ID == u.ID {
				return x.Name, nil
			}
		}
		return "", gorm.ErrRecordNotFound
	},
}

// rawName reads the truth with the raw connection ("" when deleted).
func rawName(t testing.TB, e *env, id uint) string {
	t.Helper()
	var name string
	var deleted *time.Time
	err := e.raw.QueryRow(e.q("SELECT name, deleted_at FROM users WHERE id = ?"), id).Scan(&name, &deleted)
	if err != nil || deleted != nil {
		return ""
	}
	return name
}

// Each write path: prime every shape, write behind GORM's back (so a stale
// entry would show), make the GORM write, and check that every shape now
// shows the database's truth.
func TestEveryWritePathInvalidates(t *testing.T) {
	writes := map[string]func(t *testing.T, e *env, u User){
		"Save": func(t *testing.T, e *env, u User) {
			u.Age = 41
			must(t, e.db.Save(&u).Error)
		},
		"Update": func(t *testing.T, e *env, u User) {
			must(t, e.db.Model(&u).Update("age", 42).Error)
		},
		"Updates": func(t *testing.T, e *env, u User) {
			must(t, e.db.Model(&User{ID: u.ID}).Updates(map[string]any{"age": 43}).Error)
		},
		"UpdateColumn": func(t *testing.T, e *env, u User) {
			must(t, e.db.Model(&u).UpdateColumn("age", 44).Error)
		},
		"Delete(soft)": func(t *testing.T, e *env, u User) {
			must(t, e.db.Delete(&User{}, u.ID).Error)
		},
		"Delete(hard)": func(t *testing.T, e *env, u User) {
			must(t, e.db.Unscoped().Delete(&u).Error)
		},
		"batch Update by condition": func(t *testing.T, e *env, u User) {
			must(t, e.db.Model(&User{}).Where("age > ?", 10).Update("age", 45).Error)
		},
		"batch Delete by condition": func(t *testing.T, e *env, u User) {
			must(t, e.db.Where("age >= ?", 0).Delete(&User{}).Error)
		},
		"Exec UPDATE": func(t *testing.T, e *env, u User) {
			must(t, e.db.Exec("UPDATE users SET age = age + 1").Error)
		},
		"Exec DELETE": func(t *testing.T, e *env, u User) {
			must(t, e.db.Exec("DELETE FROM users WHERE email = ?", u.Email).Error)
		},
		"Exec unreadable": func(t *testing.T, e *env, u User) {
			must(t, e.db.Exec("WITH x AS (SELECT 1) UPDATE users SET age = 46").Error)
		},
		"Raw UPDATE RETURNING": func(t *testing.T, e *env, u User) {
			var ids []uint
			must(t, e.db.Raw("UPDATE users SET age = 47 RETURNING id").Scan(&ids).Error)
		},
		"upsert": func(t *testing.T, e *env, u User) {
			v := User{Name: "upserted", Email: u.Email, Age: 48}
			must(t, e.db.Clauses(clause.OnConflict{
				Columns:   []clause.Column{{Name: "email"}},
				DoUpdates: clause.AssignmentColumns([]string{"age"}),
			}).Create(&v).Error)
		},
		"association Append": func(t *testing.T, e *env, u User) {
			must(t, e.db.Model(&u).Association("Company").Append(&Company{Name: "acme"}))
		},
		"Transaction": func(t *testing.T, e *env, u User) {
			must(t, e.db.Transaction(func(tx *gorm.DB) error {
				return tx.Model(&u).Update("age", 49).Error
			}))
		},
	}
	for name, write := range writes {
		t.Run(name, func(t *testing.T) {
			// A database of its own: a path that fails fails alone.
			eachDB(t, func(t *testing.T, e *env) {
				seedUser(t, e, "other", "other@x")
				u := seedUser(t, e, "w-"+name, "w-"+name+"@x")
				for shape, read := range shapes {
					if got, err := read(e.db, u); err != nil || got != u.Name {
						t.Fatalf("%s before: %q, %v", shape, got, err)
					}
				}
				e.behind(t, "UPDATE users SET name = ? WHERE id = ?", "truth-"+name, u.ID)
				write(t, e, u)
				want := rawName(t, e, u.ID)
				for shape, read := range shapes {
					got, err := read(e.db, u)
					if want == "" {
						if !errors.Is(err, gorm.ErrRecordNotFound) {
							t.Errorf("%s after %s: %q, %v; want not found", shape, name, got, err)
						}
						continue
					}
					if err != nil || got != want {
						t.Errorf("%s after %s: %q, %v; want %q", shape, name, got, err, want)
					}
				}
			})
		})
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Create drops the cached whole table.
func TestFindAllAfterCreate(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		seedUser(t, e, "a", "a@x")
		var all []User
		must(t, e.db.Find(&all).Error)
		if len(all) != 1 {
			t.Fatalf("%d users", len(all))
		}
		seedUser(t, e, "b", "b@x")
		must(t, e.db.Find(&all).Error)
		if len(all) != 2 {
			t.Fatalf("after Create: %d users", len(all))
		}
		// And the cached copy is served while nothing changes.
		e.behind(t, "UPDATE users SET name = 'zz'")
		must(t, e.db.Find(&all).Error)
		if all[0].Name == "zz" {
			t.Fatal("whole table not cached")
		}
	})
}

// A unique column's change makes the old value's lookup miss.
func TestUniqueColumnChange(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		u := seedUser(t, e, "u", "old@x")
		var x User
		must(t, e.db.Where("email = ?", "old@x").First(&x).Error)
		must(t, e.db.Model(&u).Update("email", "new@x").Error)
		if err := e.db.Where("email = ?", "old@x").First(&x).Error; !errors.Is(err, gorm.ErrRecordNotFound) {
			t.Fatalf("old email: %v, %+v", err, x)
		}
		x = User{}
		must(t, e.db.Where("email = ?", "new@x").First(&x).Error)
		if x.ID != u.ID {
			t.Fatalf("new email: %+v", x)
		}
		// A new row takes the old value: found, not the cached miss.
		v := seedUser(t, e, "v", "old@x")
		x = User{}
		must(t, e.db.Where(&User{Email: "old@x"}).First(&x).Error)
		if x.ID != v.ID {
			t.Fatalf("old email reused: %+v", x)
		}
	})
}

// Preloads go through the related model's own cache: has-many shows a
// child added after the first load; belongs-to is served from the cache
// and invalidated by a write to the related row.
func TestPreloads(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		c := Company{Name: "acme"}
		must(t, e.db.Create(&c).Error)
		u := User{Name: "p", Email: "p@x", CompanyID: &c.ID}
		must(t, e.db.Create(&u).Error)
		must(t, e.db.Create(&Post{UserID: u.ID, Title: "one"}).Error)

		load := func() User {
			var x User
			must(t, e.db.Preload("Posts").Preload("Company").First(&x, u.ID).Error)
			return x
		}
		if x := load(); len(x.Posts) != 1 || x.Company == nil || x.Company.Name != "acme" {
			t.Fatalf("first load %+v", x)
		}
		// The has-many load is cached per parent...
		e.behind(t, "UPDATE posts SET title = 'behind'")
		if x := load(); len(x.Posts) != 1 || x.Posts[0].Title != "one" {
			t.Fatalf("has-many not from the cache: %+v", x.Posts)
		}
		// ...and dropped by any write to the children's table.
		must(t, e.db.Create(&Post{UserID: u.ID, Title: "two"}).Error)
		if x := load(); len(x.Posts) != 2 || x.Posts[0].Title != "behind" {
			t.Fatalf("after a child was added: %+v", x.Posts)
		}
		// A parent with no children, and several parents at once.
		lone := User{Name: "lone", Email: "lone@x"}
		must(t, e.db.Create(&lone).Error)
		for i := 0; i < 2; i++ {
			var us []User
			must(t, e.db.Preload("Posts").Order("id").Find(&us, []uint{u.ID, lone.ID}).Error)
			if len(us) != 2 || len(us[0].Posts) != 2 || len(us[1].Posts) != 0 {
				t.Fatalf("two parents: %+v", us)
			}
		}
		must(t, e.db.Create(&Post{UserID: lone.ID, Title: "first"}).Error)
		var us []User
		must(t, e.db.Preload("Posts").Find(&us, []uint{u.ID, lone.ID}).Error)
		if len(us) != 2 || len(us[0].Posts)+len(us[1].Posts) != 3 {
			t.Fatalf("after the lone parent's first child: %+v", us)
		}
		e.behind(t, "UPDATE companies SET name = 'behind'")
		if x := load(); x.Company.Name != "acme" {
			t.Fatalf("belongs-to not from the cache: %q", x.Company.Name)
		}
		must(t, e.db.Model(&c).Update("name", "renamed").Error)
		if x := load(); x.Company.Name != "renamed" {
			t.Fatalf("belongs-to after update: %q", x.Company.Name)
		}
	})
}

// Open-ended queries always go to the database.
func TestOpenEndedNeverCached(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		u := seedUser(t, e, "o", "o@x")
		queries := map[string]func() (string, error){
			"Where(age > ?)": func() (string, error) {
				var xs []User
				err := e.db.Where("age > ?", 1).Find(&xs).Error
				if len(xs) == 0 {
					return "", err
				}
				return xs[0].Name, err
			},
			"Where(name = ?)": func() (string, error) {
				var x User
				err := e.db.Where("name = ? OR name = ?", "o", "truth").First(&x).Error
				return x.Name, err
			},
			"Select": func() (string, error) {
				var x User
				err := e.db.Select("id", "name").First(&x, u.ID).Error
				return x.Name, err
			},
			"Raw": func() (string, error) {
				var x User
				err := e.db.Raw(e.q("SELECT * FROM users WHERE id = ?"), u.ID).Scan(&x).Error
				return x.Name, err
			},
			"pk and more": func() (string, error) {
				var x User
				err := e.db.Where("id = ? AND age = ?", u.ID, 30).First(&x).Error
				return x.Name, err
			},
			"Locking": func() (string, error) {
				var x User
				err := e.db.Clauses(clause.Locking{Strength: "UPDATE"}).First(&x, u.ID).Error
				return x.Name, err
			},
			"Offset": func() (string, error) {
				var xs []User
				err := e.db.Offset(0).Limit(5).Order("name").Find(&xs).Error
				if len(xs) == 0 {
					return "", err
				}
				return xs[0].Name, err
			},
		}
		if e.name == "sqlite" {
			delete(queries, "Locking") // SQLite has no FOR UPDATE
		}
		for name, q := range queries {
			if _, err := q(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		e.behind(t, "UPDATE users SET name = 'truth' WHERE id = ?", u.ID)
		for name, q := range queries {
			if name == "Offset" {
				continue // a whole-table read, cached: checked elsewhere
			}
			if got, err := q(); err != nil || got != "truth" {
				t.Errorf("%s served stale: %q, %v", name, got, err)
			}
		}
	})
}

// Transactions: reads inside never fill the shared cache; a commit
// invalidates what was cached while it was open; a rollback leaves the
// cache right.
func TestTransactions(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		t.Run("commit", func(t *testing.T) {
			u := seedUser(t, e, "before", "tc@x")
			tx := e.db.Begin()
			must(t, tx.Model(&u).Update("name", "inside").Error)
			var in User
			must(t, tx.First(&in, u.ID).Error)
			if in.Name != "inside" {
				t.Fatalf("read inside: %q", in.Name)
			}
			// Outside, the committed value is read and cached while the
			// transaction is open (SQLite in WAL mode reads the last
			// commit), twice: the second read is a hit.
			hits := e.plug.Stats()["User"].Hits
			for range 2 {
				if got := mustUser(t, e.db, u.ID); got.Name != "before" {
					t.Fatalf("outside while open: %q", got.Name)
				}
			}
			if e.plug.Stats()["User"].Hits == hits {
				t.Fatal("the read outside the open transaction was not cached")
			}
			must(t, tx.Commit().Error)
			if got := mustUser(t, e.db, u.ID); got.Name != "inside" {
				t.Fatalf("after commit: %q", got.Name)
			}
		})
		t.Run("rollback", func(t *testing.T) {
			u := seedUser(t, e, "kept", "tr@x")
			mustUser(t, e.db, u.ID)
			err := e.db.Transaction(func(tx *gorm.DB) error {
				if err := tx.Model(&u).Update("name", "dropped").Error; err != nil {
					return err
				}
				var in User
				if err := tx.First(&in, u.ID).Error; err != nil || in.Name != "dropped" {
					t.Errorf("inside: %q, %v", in.Name, err)
				}
				return errors.New("roll back")
			})
			if err == nil {
				t.Fatal("no error")
			}
			if got := mustUser(t, e.db, u.ID); got.Name != "kept" {
				t.Fatalf("after rollback: %q", got.Name)
			}
			// Still cached: the rollback invalidated nothing.
			e.behind(t, "UPDATE users SET name = 'behind' WHERE id = ?", u.ID)
			if got := mustUser(t, e.db, u.ID); got.Name != "kept" {
				t.Fatalf("after rollback, not cached: %q", got.Name)
			}
		})
		t.Run("reads inside do not fill", func(t *testing.T) {
			u := seedUser(t, e, "x", "ti@x")
			tx := e.db.Begin()
			must(t, tx.Model(&u).Update("name", "uncommitted").Error)
			var in User
			must(t, tx.First(&in, u.ID).Error)
			must(t, tx.Rollback().Error)
			if got := mustUser(t, e.db, u.ID); got.Name != "x" {
				t.Fatalf("uncommitted data cached: %q", got.Name)
			}
		})
	})
}

// Writes made outside GORM are bounded by Config.TTL.
func TestTTLBound(t *testing.T) {
	e := newSQLite(t, gormcache.Config{TTL: 300 * time.Millisecond})
	u := seedUser(t, e, "ttl", "ttl@x")
	mustUser(t, e.db, u.ID)
	e.behind(t, "UPDATE users SET name = 'outside' WHERE id = ?", u.ID)
	if got := mustUser(t, e.db, u.ID); got.Name != "ttl" {
		t.Fatalf("not cached: %q", got.Name)
	}
	time.Sleep(400 * time.Millisecond)
	if got := mustUser(t, e.db, u.ID); got.Name != "outside" {
		t.Fatalf("after TTL: %q", got.Name)
	}
}

// 100 goroutines read and write one row: no read that starts after a write
// returned sees a value older than that write.
func TestConcurrentReadWrite(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		c := Counter{N: 0}
		must(t, e.db.Create(&c).Error)
		var done atomic.Int64 // writes that returned
		var wg sync.WaitGroup
		const writers, readers, rounds = 10, 90, 30
		errs := make(chan error, writers+readers)
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < rounds; i++ {
					if err := e.db.Model(&Counter{ID: c.ID}).Update("n", gorm.Expr("n + 1")).Error; err != nil {
						errs <- err
						return
					}
					done.Add(1)
				}
			}()
		}
		for r := 0; r < readers; r++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < rounds; i++ {
					before := done.Load()
					var x Counter
					if err := e.db.First(&x, c.ID).Error; err != nil {
						errs <- err
						return
					}
					if int64(x.N) < before {
						errs <- errors.New("stale read: a write had returned")
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		var x Counter
		must(t, e.db.First(&x, c.ID).Error)
		if x.N != writers*rounds {
			t.Fatalf("final %d", x.N)
		}
	})
}

// A model without a primary key passes through, and so does everything when
// the cache fails.
func TestPassThrough(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		must(t, e.db.Create(&Note{Body: "n", Rank: 1}).Error)
		var n Note
		must(t, e.db.First(&n, "rank = ?", 1).Error)
		e.behind(t, "UPDATE notes SET body = 'behind'")
		n = Note{}
		must(t, e.db.Where("rank = ?", 1).Take(&n).Error)
		if n.Body != "behind" {
			t.Fatalf("note cached: %q", n.Body)
		}
	})
	t.Run("failing cache", func(t *testing.T) {
		e := newSQLite(t, gormcache.Config{})
		bad := cachekit.New(cachekit.Config{Storage: failing{}, Timeout: -1})
		db := e.open(t)
		must(t, db.Use(gormcache.New(bad)))
		u := seedUser(t, e, "f", "f@x")
		for i := 0; i < 2; i++ {
			var x User
			must(t, db.First(&x, u.ID).Error)
			var all []User
			must(t, db.Find(&all, []uint{u.ID}).Error)
			must(t, db.Find(&all).Error)
			must(t, db.Model(&x).Update("age", i).Error)
		}
	})
}

// failing is a storage whose every call fails.
type failing struct{}

var errStore = errors.New("store down")

func (failing) Get(string) ([]byte, error)              { return nil, errStore }
func (failing) Set(string, []byte, time.Duration) error { return errStore }
func (failing) Delete(string) error                     { return errStore }
func (failing) Reset() error                            { return errStore }
func (failing) Close() error                            { return nil }

// Hits and misses reach the Cache's Observe under the model's name.
func TestObservePerModel(t *testing.T) {
	e := newSQLite(t, gormcache.Config{})
	var mu sync.Mutex
	seen := map[string]map[cachekit.Status]int{}
	e.cache = cachekit.New(cachekit.Config{Observe: func(key string, s cachekit.Status) {
		if m, ok := gormcache.ModelOf(key, ""); ok {
			mu.Lock()
			if seen[m] == nil {
				seen[m] = map[cachekit.Status]int{}
			}
			seen[m][s]++
			mu.Unlock()
		}
	}})
	db := e.open(t, gormcache.Config{})
	u := seedUser(t, e, "obs", "obs@x")
	for i := 0; i < 3; i++ {
		mustUser(t, db, u.ID)
	}
	mu.Lock()
	defer mu.Unlock()
	if seen["User"][cachekit.Miss] != 1 || seen["User"][cachekit.Hit] != 2 {
		t.Fatalf("observed %v", seen)
	}
}

// Find by a list of primary keys is one multi-get: rows cached by single
// lookups serve it, and it fills the rows it lacked.
func TestMultiGet(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		var ids []uint
		for _, n := range []string{"m1", "m2", "m3"} {
			ids = append(ids, seedUser(t, e, n, n+"@x").ID)
		}
		mustUser(t, e.db, ids[1]) // one row cached before
		var xs []User
		must(t, e.db.Find(&xs, ids).Error)
		if len(xs) != 3 {
			t.Fatalf("%d rows", len(xs))
		}
		e.behind(t, "UPDATE users SET name = 'behind'")
		xs = nil
		must(t, e.db.Order("id desc").Find(&xs, ids).Error)
		if len(xs) != 3 || xs[0].ID != ids[2] || xs[0].Name != "m3" {
			t.Fatalf("second multi-get %+v", xs)
		}
		// Single lookups are served by the rows the multi-get stored.
		if got := mustUser(t, e.db, ids[0]); got.Name != "m1" {
			t.Fatalf("row from the multi-get: %q", got.Name)
		}
		must(t, e.db.Model(&User{ID: ids[0]}).Update("age", 1).Error)
		xs = nil
		must(t, e.db.Find(&xs, ids).Error)
		if xs[0].Name != "behind" || xs[1].Name != "m2" {
			t.Fatalf("after a write: %q %q", xs[0].Name, xs[1].Name)
		}
	})
}

// Config.TTL takes the core's named TTLs: cachekit.DefaultTTL (the Cache's
// Config.DefaultTTL) and cachekit.NoExpiry both cache rows.
func TestTTLNamedValues(t *testing.T) {
	for _, ttl := range []time.Duration{cachekit.DefaultTTL, cachekit.NoExpiry} {
		e := newSQLite(t, gormcache.Config{TTL: ttl})
		u := seedUser(t, e, "named", "named@x")
		mustUser(t, e.db, u.ID)
		e.behind(t, "UPDATE users SET name = 'outside' WHERE id = ?", u.ID)
		if got := mustUser(t, e.db, u.ID); got.Name != "named" {
			t.Fatalf("TTL %v: not cached: %q", ttl, got.Name)
		}
	}
}
