package fragments_test

import (
	"html/template"
	"math/big"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cachekit/cachekit/fragments"
)

type money struct {
	amount   int64
	currency string
}

type node struct {
	Next *node
}

type slug string

func key(t *testing.T, vary ...any) string {
	t.Helper()
	k, err := fragments.Key("b", vary...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestVaryHashing(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	same := [][]any{
		{int(1), int64(1), uint8(1), uintptr(1)},
		{"a", template.HTML("a"), slug("a")},
		{map[string]int{"x": 1, "y": 2}, map[string]int{"y": 2, "x": 1}},
		{[]int{1, 2}, [2]int{1, 2}},
		{now, &now, now.Add(0)},
		{netip.MustParseAddr("10.0.0.1"), netip.AddrFrom4([4]byte{10, 0, 0, 1})},
		{big.NewInt(5), new(big.Int).SetInt64(5)},
		{nil, (*int)(nil), any(nil)},
		{[]int(nil), []int{}},
	}
	for _, group := range same {
		k0 := key(t, group[0])
		for _, v := range group[1:] {
			if k := key(t, v); k != k0 {
				t.Errorf("%#v and %#v hash differently", group[0], v)
			}
		}
	}
	different := []any{
		1, "1", 1.0, true, nil, "", []byte("a"), "a", []int{2, 1}, []int{1, 2},
		money{100, "EUR"}, money{100, "USD"}, money{200, "EUR"},
		now, now.Add(time.Nanosecond), now.In(time.FixedZone("X", 3600)),
		map[string]int{"x": 1}, map[string]int{"x": 2}, map[string]int{"y": 1},
		struct{ A, B string }{"ab", ""}, struct{ A, B string }{"a", "b"},
		[]string{"ab", ""}, []string{"a", "b"},
		uint64(1 << 63), int64(-1 << 63),
		strings.Repeat("x", 1<<20), strings.Repeat("x", 1<<20+1),
	}
	seen := map[string]any{}
	for _, v := range different {
		k := key(t, v)
		if o, dup := seen[k]; dup {
			t.Errorf("%#.40v and %#.40v hash the same", o, v)
		}
		seen[k] = v
	}
	// Several values are not one concatenated value.
	if key(t, "ab", "") == key(t, "a", "b") || key(t) == key(t, nil) {
		t.Error("vary lists collide")
	}
	for _, bad := range []any{func() {}, make(chan int), map[string]any{"f": func() {}}, []any{1, make(chan int)}, struct{ F func() }{}} {
		if _, err := fragments.Key("b", bad); err == nil || !strings.Contains(err.Error(), "cannot be hashed") {
			t.Errorf("%T: %v", bad, err)
		}
	}
	cycle := &node{}
	cycle.Next = cycle
	if _, err := fragments.Key("b", cycle); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle: %v", err)
	}
}
