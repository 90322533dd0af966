package loader

import (
	"path"
	"sort"
	"strings"
)

// suggest returns up to three existing names closest to name by edit
// distance (a name with the same last path element, or equal once the
// extension is dropped, counts as close).
func suggest(name string, names []string, ext string) []string {
	type cand struct {
		name string
		d    int
	}
	limit := len(name) / 3
	if limit < 2 {
		limit = 2
	}
	trimmed := name
	if ext != "" {
		trimmed = strings.TrimSuffix(strings.TrimPrefix(name, "/"), ext)
	}
	var cs []cand
	for _, n := range names {
		d := distance(name, n)
		if trimmed != name && n == trimmed {
			d = 0
		} else if d > 1 && path.Base(n) == path.Base(trimmed) {
			d = 1
		}
		if d <= limit {
			cs = append(cs, cand{n, d})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].d != cs[j].d {
			return cs[i].d < cs[j].d
		}
		return cs[i].name < cs[j].name
	})
	if len(cs) > 3 {
		cs = cs[:3]
	}
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.name
	}
	return out
}

// distance is the Levenshtein distance between a and b, in bytes.
func distance(a, b string) int {
	if len(a) < len(b) {
		a, b = b, a
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
