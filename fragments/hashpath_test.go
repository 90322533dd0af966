package fragments

import (
	"bytes"
	"math"
	"reflect"
	"testing"
)

type named string

// appendSimple encodes the usual kinds to the very bytes appendValue gives
// them, so a block's stack key and every other key of the same values
// (Invalidate, Key, the range prefetch) agree.
func TestAppendSimpleMatchesAppendValue(t *testing.T) {
	n := 7
	var nilPtr *int
	var iface any = "x"
	vals := []any{nil, true, false, 0, -1, math.MinInt64, int8(-3), uint(5), uint64(math.MaxUint64),
		uintptr(9), 1.5, float32(-2), math.NaN(), "", "héllo", named("n"), &n, nilPtr, &iface}
	for _, v := range vals {
		rv := reflect.ValueOf(v)
		got, ok := appendSimple(nil, rv)
		if !ok {
			t.Fatalf("%#v: not a usual kind", v)
		}
		want, err := appendValue(nil, rv, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%#v: appendSimple %x, appendValue %x", v, got, want)
		}
	}
	for _, v := range []any{[]int{1}, struct{ A int }{1}, map[string]int{}} {
		if _, ok := appendSimple(nil, reflect.ValueOf(v)); ok {
			t.Errorf("%#v: taken as a usual kind", v)
		}
	}
}
