package gormcache

import (
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gorm.io/gorm/schema"
)

func (p *Plugin) planMulti(mi *modelInfo, f *schema.Field, fk bool, vals []any, order string, limit int) *plan {
	if len(vals) == 0 || limit > 0 && limit < len(vals) || f == nil {
		return nil
	}
	if fk && (order != "" || limit >= 0) {
		return nil
	}
	desc := false
	switch order {
	case "":
	case f.DBName, f.DBName + " desc":
		if !isIntKind(f.IndirectFieldType.Kind()) {
			return nil // the database's collation decides a string order
		}
		desc = strings.HasSuffix(order, " desc")
	default:
		return nil
	}
	pl := &plan{mi: mi, shape: shapeMulti, tags: mi.rowTags, col: f, fk: fk}
	kind := "pk:"
	if fk {
		pl.tags = mi.allTags
		kind = "fk:" + f.DBName + ":"
	}
	seen := make(map[string]bool, len(vals))
	for _, v := range vals {
		part, ok := keyPart(v)
		if !ok {
			return nil
		}
		text, ok := pkText(f, v)
		if !ok {
			return nil
		}
		if seen[text] {
			continue
		}
		seen[text] = true
		pl.keys = append(pl.keys, mi.keyHead+kind+part)
		pl.texts = append(pl.texts, text)
		pl.vals = append(pl.vals, v)
	}
	if order != "" {
		nums := make([]int64, len(pl.texts))
		for i, t := range pl.texts {
			n, err := strconv.ParseInt(t, 10, 64)
			if err != nil {
				return nil
			}
			nums[i] = n
		}
		idx := make([]int, len(nums))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool {
			if desc {
				return nums[idx[a]] > nums[idx[b]]
			}
			return nums[idx[a]] < nums[idx[b]]
		})
		keys, texts, vs := make([]string, len(idx)), make([]string, len(idx)), make([]any, len(idx))
		for i, j := range idx {
			keys[i], texts[i], vs[i] = pl.keys[j], pl.texts[j], pl.vals[j]
		}
		pl.keys, pl.texts, pl.vals = keys, texts, vs
	}
	return pl
}

func isIntKind(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}
