package gormcache

import (
	"encoding/binary"
	"math"
	"reflect"
	"testing"
	"time"
)

func TestDecodeValue(t *testing.T) {
	when := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tb, _ := when.MarshalBinary()
	withLen := func(k byte, p []byte) []byte { return append(binary.AppendUvarint([]byte{k}, uint64(len(p))), p...) }
	for _, c := range []struct {
		name string
		in   []byte
		want any
		rest int // bytes left after the value
		ok   bool
	}{
		{"empty", nil, nil, 0, false},
		{"nil", []byte{kNil, 9}, nil, 1, true},
		{"int", binary.AppendVarint([]byte{kInt}, -42), int64(-42), 0, true},
		{"int truncated", []byte{kInt}, nil, 0, false},
		{"float", binary.BigEndian.AppendUint64([]byte{kFloat}, math.Float64bits(1.5)), 1.5, 0, true},
		{"float truncated", []byte{kFloat, 1, 2}, nil, 0, false},
		{"bool", []byte{kBool, 1}, true, 0, true},
		{"bool truncated", []byte{kBool}, nil, 0, false},
		{"bytes", withLen(kBytes, []byte("ab")), []byte("ab"), 0, true},
		{"empty bytes", withLen(kBytes, nil), []byte{}, 0, true},
		{"string", append(withLen(kString, []byte("héllo")), 7, 7), "héllo", 2, true},
		{"string too long", []byte{kString, 5, 'a'}, nil, 0, false},
		{"time", withLen(kTime, tb), when, 0, true},
		{"bad time", withLen(kTime, []byte{0xff}), nil, 0, false},
		{"unknown kind", []byte{0xee}, nil, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, rest, ok := decodeValue(c.in)
			if ok != c.ok {
				t.Fatalf("ok = %v; want %v", ok, c.ok)
			}
			if ok && (!reflect.DeepEqual(got, c.want) || len(rest) != c.rest) {
				t.Errorf("decodeValue = %#v, %d bytes left; want %#v, %d", got, len(rest), c.want, c.rest)
			}
		})
	}
}

func TestDecodeCols(t *testing.T) {
	enc := func(cols ...string) []byte {
		b := binary.AppendUvarint(nil, uint64(len(cols)))
		for _, c := range cols {
			b = append(binary.AppendUvarint(b, uint64(len(c))), c...)
		}
		return b
	}
	known := []string{"id", "name"}
	for _, c := range []struct {
		name   string
		in     []byte
		want   []string
		reused bool
		ok     bool
	}{
		{"known list", enc("id", "name"), known, true, true},
		{"other list", enc("id", "email"), []string{"id", "email"}, false, true},
		{"longer list", enc("id", "name", "age"), []string{"id", "name", "age"}, false, true},
		{"no columns", enc(), []string{}, false, true},
		{"truncated name", []byte{1, 5, 'i'}, nil, false, false},
		{"too many columns", binary.AppendUvarint(nil, 4097), nil, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, _, ok := decodeCols(c.in, known)
			if ok != c.ok || ok && !reflect.DeepEqual(got, c.want) {
				t.Fatalf("decodeCols = %q, %v; want %q, %v", got, ok, c.want, c.ok)
			}
			if ok && (len(got) > 0 && &got[0] == &known[0]) != c.reused {
				t.Errorf("known reused = %v; want %v", !c.reused, c.reused)
			}
		})
	}
}
