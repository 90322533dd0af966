package fragments

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

// TestSimpleKeysOfDistinctTuples: the stack key of a block (appendSimpleKey)
// of two different vary tuples is never one key, and it is the key the
// general encoding gives the same tuple: types (int and "1", nil and "",
// false and 0), floats (-0 and 0, NaNs of two payloads), strings holding
// separators or the encoding's own bytes, a string longer than the stack
// room, and tuples that concatenate alike.
func TestSimpleKeysOfDistinctTuples(t *testing.T) {
	long := strings.Repeat("x", 2*simpleEnc)
	nan2 := math.Float64frombits(math.Float64bits(math.NaN()) ^ 1)
	tuples := [][]any{
		{}, {nil}, {""}, {nil, nil}, {"", ""}, {0}, {"0"}, {1}, {"1"}, {uint64(1 << 63)}, {int64(-1 << 63)},
		{false}, {true}, {0.0}, {math.Copysign(0, -1)}, {math.NaN()}, {nan2}, {1.0}, {float32(0.1)}, {0.1},
		{"a", "b"}, {"ab"}, {"a,b"}, {"a|b"}, {"a\x00b"}, {"s\x01a"}, {"a", "", "b"}, {"", "ab"},
		{long}, {long + "x"}, {long, ""}, {1, "1"}, {"1", 1}, {true, 1}, {nil, 1},
	}
	seen := map[string][]any{}
	for _, tu := range tuples {
		vals := make([]reflect.Value, len(tu))
		for i, v := range tu {
			vals[i] = reflect.ValueOf(v)
		}
		k, ok := appendSimpleKey(nil, "p:", vals)
		if !ok {
			t.Fatalf("%#v: not of the usual kinds", tu)
		}
		slow, err := appendVaryHashSlow([]byte("p:"), vals)
		if err != nil {
			t.Fatal(err)
		}
		if string(k) != string(slow) {
			t.Errorf("%#v: stack key %s, general key %s", tu, k, slow)
		}
		if o, dup := seen[string(k)]; dup {
			t.Errorf("%#v and %#v share the key %s", o, tu, k)
		}
		seen[string(k)] = tu
	}
}
