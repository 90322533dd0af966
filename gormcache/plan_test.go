package gormcache

import (
	"reflect"
	"testing"

	"gorm.io/gorm/schema"
)

type planModel struct{ ID uint }

type planOther struct{ ID uint }

func TestModelDest(t *testing.T) {
	sch := &schema.Schema{ModelType: reflect.TypeOf(planModel{})}
	for _, c := range []struct {
		name       string
		dest       any
		single, ok bool
	}{
		{"struct", &planModel{}, true, true},
		{"slice of structs", &[]planModel{}, false, true},
		{"slice of pointers", &[]*planModel{}, false, true},
		{"another struct", &planOther{}, true, false},
		{"slice of another struct", &[]planOther{}, false, false},
		{"map", &map[string]any{}, false, false},
		{"scalar", new(int), false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			single, ok := modelDest(reflect.ValueOf(c.dest).Elem(), sch)
			if ok != c.ok || ok && single != c.single {
				t.Errorf("modelDest = %v, %v; want %v, %v", single, ok, c.single, c.ok)
			}
		})
	}
}

func TestPlanAll(t *testing.T) {
	mi := &modelInfo{keyHead: "p:M:ms:", allTags: []string{"t:ms"}}
	for _, c := range []struct {
		name   string
		single bool
		order  string
		limit  int
		key    string
	}{
		{"rows", false, "", -1, "p:M:ms:all:rows::-1"},
		{"first by id", true, "id", 1, "p:M:ms:all:first:id:1"},
		{"rows by name desc", false, "name desc,id", 10, "p:M:ms:all:rows:name desc,id:10"},
	} {
		t.Run(c.name, func(t *testing.T) {
			pl := planAll(mi, c.single, c.order, c.limit)
			if pl.shape != shapeAll || pl.key != c.key || !reflect.DeepEqual(pl.tags, mi.allTags) {
				t.Errorf("planAll = %v %q %v; want %v %q %v", pl.shape, pl.key, pl.tags, shapeAll, c.key, mi.allTags)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	for _, c := range []struct {
		name  string
		conds []cond
		want  []cond
		ok    bool
	}{
		{"none", nil, nil, true},
		{"one", []cond{{col: "id", vals: []any{1}}}, []cond{{col: "id", vals: []any{1}}}, true},
		{"two columns", []cond{{col: "a", vals: []any{1}}, {col: "b", vals: []any{"x"}}}, []cond{{col: "a", vals: []any{1}}, {col: "b", vals: []any{"x"}}}, true},
		{"same value twice", []cond{{col: "id", vals: []any{1}}, {col: "id", vals: []any{int64(1)}}}, []cond{{col: "id", vals: []any{1}}}, true},
		{"two values", []cond{{col: "id", vals: []any{1}}, {col: "id", vals: []any{2}}}, nil, false},
		{"IN and equality", []cond{{col: "id", vals: []any{1, 2}, in: true}, {col: "id", vals: []any{1}}}, nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := merge(c.conds)
			if ok != c.ok || ok && !reflect.DeepEqual(got, c.want) {
				t.Errorf("merge = %v, %v; want %v, %v", got, ok, c.want, c.ok)
			}
		})
	}
}
