package gormcache_test

import (
	"reflect"
	"strings"
	"testing"

	"gorm.io/gorm"
)

// Wide has a field of every kind the prototype copy handles: values,
// pointers to values and bytes.
type Wide struct {
	ID    uint
	Name  string
	Score *int
	Blob  []byte
	Flag  bool
}

// The second and later hits of one row copy a prototype instead of scanning:
// each hit must equal the database's row, share no memory with another hit,
// and a destination already holding values must get what gorm.Scan gives.
func TestPrototypeHits(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		must(t, e.db.AutoMigrate(&Wide{}))
		score := 7
		w := Wide{Name: "w", Score: &score, Blob: []byte("abc"), Flag: true}
		must(t, e.db.Create(&w).Error)
		var want Wide
		must(t, e.open(t).First(&want, w.ID).Error) // no plugin: the database's answer
		for i := range 4 {
			var got Wide
			must(t, e.db.First(&got, w.ID).Error)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("hit %d: %+v, want %+v", i, got, want)
			}
			// Scribble on what the caller got: the next hit must not see it.
			*got.Score = 99
			got.Blob[0] = 'X'
		}
		if st := e.plug.Stats()["Wide"]; st.Hits != 3 || st.Misses != 1 {
			t.Fatalf("stats %+v", st)
		}
		// A destination with values in it: gorm.Scan overwrites the column
		// fields, the hit too.
		old := 1
		got := Wide{Name: "stale", Score: &old, Flag: false}
		must(t, e.db.First(&got, w.ID).Error)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("prefilled destination: %+v, want %+v", got, want)
		}
		// A destination with a field that is no column (an association)
		// set: the column fields are copied, the association is kept.
		u := seedUser(t, e, "assoc", "assoc@x")
		for range 3 {
			keep := &Company{Name: "keep"}
			x := User{Company: keep}
			must(t, e.db.First(&x, u.ID).Error)
			if x.Company != keep || x.Name != "assoc" || x.Email != "assoc@x" || x.ID != u.ID {
				t.Fatalf("association kept: %+v", x)
			}
		}
		// A write changes the entry: the next hit is the new row, not the
		// prototype of the old bytes.
		must(t, e.db.Model(&Wide{ID: w.ID}).Update("name", "w2").Error)
		for range 2 {
			var got Wide
			must(t, e.db.First(&got, w.ID).Error)
			if got.Name != "w2" || *got.Score != 7 {
				t.Fatalf("after the write: %+v", got)
			}
		}
	})
}

// Extra is embedded by pointer: its fields are reached through a pointer
// that may be nil, so such a model's hits always take gorm.Scan.
type Extra struct {
	Color string
}

// Embedded models: gorm.Model by value (its fields sit at a path of two
// indexes) and a struct by pointer.
type Lamp struct {
	gorm.Model
	Name string
	*Extra
}

func TestPrototypeEmbedded(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		must(t, e.db.AutoMigrate(&Lamp{}))
		l := Lamp{Name: "arc", Extra: &Extra{Color: "red"}}
		must(t, e.db.Create(&l).Error)
		var want Lamp
		must(t, e.open(t).First(&want, l.ID).Error)
		for i := range 4 {
			var got Lamp
			must(t, e.db.First(&got, l.ID).Error)
			if got.ID != want.ID || got.Name != "arc" || !got.CreatedAt.Equal(want.CreatedAt) || got.Extra == nil || got.Extra.Color != "red" {
				t.Fatalf("hit %d: %+v %+v, want %+v %+v", i, got, got.Extra, want, want.Extra)
			}
			got.Extra.Color = "scribbled"
		}
		if st := e.plug.Stats()["Lamp"]; st.Hits != 3 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// Shade embeds gorm.Model by value: its prototype copies fields at paths
// of two indexes.
type Shade struct {
	gorm.Model
	Name string
	Note *string
}

func TestPrototypeEmbeddedByValue(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		must(t, e.db.AutoMigrate(&Shade{}))
		note := "n"
		s := Shade{Name: "drum", Note: &note}
		must(t, e.db.Create(&s).Error)
		var want Shade
		must(t, e.open(t).First(&want, s.ID).Error)
		for i := range 4 { // a miss, a hit through gorm.Scan, then two copies
			got := Shade{Model: gorm.Model{ID: s.ID}}
			must(t, e.db.First(&got).Error)
			if got.ID != want.ID || got.Name != "drum" || !got.UpdatedAt.Equal(want.UpdatedAt) || got.DeletedAt.Valid || got.Note == nil || *got.Note != "n" {
				t.Fatalf("hit %d: %+v, want %+v", i, got, want)
			}
			*got.Note = "scribbled"
		}
		if st := e.plug.Stats()["Shade"]; st.Hits != 3 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// A row larger than a prototype may be is scanned on every hit, and right.
func TestPrototypeLargeRow(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		must(t, e.db.AutoMigrate(&Wide{}))
		w := Wide{Name: strings.Repeat("x", 8<<10), Blob: []byte("b")}
		must(t, e.db.Create(&w).Error)
		for i := range 4 {
			var got Wide
			must(t, e.db.First(&got, w.ID).Error)
			if got.Name != w.Name || string(got.Blob) != "b" {
				t.Fatalf("hit %d: %d bytes of name, blob %q", i, len(got.Name), got.Blob)
			}
			got.Blob[0] = 'X'
		}
	})
}
