package gormcache

import (
	"testing"

	"gorm.io/gorm/schema"
)

func TestUniqueIndexFields(t *testing.T) {
	email := &schema.Field{Name: "Email", DBName: "email"}
	org := &schema.Field{Name: "Org", DBName: "org"}
	for _, c := range []struct {
		name string
		idx  schema.Index
		want []*schema.Field
		ok   bool
	}{
		{"unique column", schema.Index{Class: "UNIQUE", Fields: []schema.IndexOption{{Field: email}}}, []*schema.Field{email}, true},
		{"unique pair", schema.Index{Class: "unique", Fields: []schema.IndexOption{{Field: org}, {Field: email}}}, []*schema.Field{org, email}, true},
		{"not unique", schema.Index{Fields: []schema.IndexOption{{Field: email}}}, nil, false},
		{"partial", schema.Index{Class: "UNIQUE", Where: "deleted_at IS NULL", Fields: []schema.IndexOption{{Field: email}}}, nil, false},
		{"no fields", schema.Index{Class: "UNIQUE"}, nil, false},
		{"expression", schema.Index{Class: "UNIQUE", Fields: []schema.IndexOption{{Field: email, Expression: "lower(email)"}}}, nil, false},
		{"no column", schema.Index{Class: "UNIQUE", Fields: []schema.IndexOption{{Field: &schema.Field{Name: "X"}}}}, nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := uniqueIndexFields(&c.idx)
			if ok != c.ok || len(got) != len(c.want) {
				t.Fatalf("uniqueIndexFields = %v, %v; want %v, %v", got, ok, c.want, c.ok)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("field %d = %s; want %s", i, got[i].Name, c.want[i].Name)
				}
			}
		})
	}
}
