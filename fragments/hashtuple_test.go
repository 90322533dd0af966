package fragments

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

// TestSimpleKeysOfDistinctTuples: the stack encoding of a block
// (appendSimpleEnc) of two different vary tuples is never one encoding (nor,
// here, one key), and it is the encoding the general path gives the same
// tuple: types (int and "1", nil and "",
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
		enc, ok := appendSimpleEnc(nil, vals)
		if !ok {
			t.Fatalf("%#v: not of the usual kinds", tu)
		}
		slow := []byte{encVersion}
		for _, v := range vals {
			var err error
			if slow, err = appendValue(slow, v, 0); err != nil {
				t.Fatal(err)
			}
		}
		if string(enc) != string(slow) {
			t.Errorf("%#v: stack encoding %x, general encoding %x", tu, enc, slow)
		}
		if o, dup := seen[string(enc)]; dup {
			t.Errorf("%#v and %#v share the encoding %x", o, tu, enc)
		}
		seen[string(enc)] = tu
		k := string(appendKey(nil, "p:", enc))
		if o, dup := seen[k]; dup {
			t.Errorf("%#v and %#v share the key %s", o, tu, k)
		}
		seen[k] = tu
	}
}
