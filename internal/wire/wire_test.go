package wire

import (
	"bytes"
	"testing"
)

func TestFields(t *testing.T) {
	m := Magic{'X', 'Y', 2}
	b := m.AppendHeader(nil)
	b = AppendField(b, []byte("one"))
	b = AppendStringField(b, "")
	b = AppendField(b, bytes.Repeat([]byte{'z'}, 300))
	if !m.Is(b) || (Magic{'X', 'Y', 3}).Is(b) || (Magic{'X', 'Z', 2}).Is(b) {
		t.Fatal("Is does not tell magics apart")
	}
	rest := b[HeaderLen:]
	for _, want := range []string{"one", "", string(bytes.Repeat([]byte{'z'}, 300))} {
		var f []byte
		var ok bool
		f, rest, ok = ReadField(rest, 1<<10)
		if !ok || string(f) != want {
			t.Fatalf("ReadField = %q, %v; want %q", f, ok, want)
		}
		if cap(f) != len(f) {
			t.Fatalf("field capacity %d reaches past its end %d", cap(f), len(f))
		}
	}
	if len(rest) != 0 {
		t.Fatalf("%d bytes left", len(rest))
	}
}

func TestReadFieldRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		max  int
	}{
		{"empty", nil, 10},
		{"length past the end", []byte{5, 'a', 'b'}, 10},
		{"longer than max", append([]byte{4}, "abcd"...), 3},
		{"bad uvarint", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if f, rest, ok := ReadField(tc.in, tc.max); ok || f != nil || !bytes.Equal(rest, tc.in) {
				t.Fatalf("ReadField(%q) = %q, %q, %v; want a refusal that keeps the input", tc.in, f, rest, ok)
			}
		})
	}
}

func FuzzReadField(f *testing.F) {
	f.Add([]byte{3, 'a', 'b', 'c'}, 8)
	f.Fuzz(func(t *testing.T, b []byte, max int) {
		if max < 0 {
			max = -max
		}
		field, rest, ok := ReadField(b, max)
		if ok && (len(field) > max || len(field)+len(rest) > len(b)) {
			t.Fatalf("ReadField(%q, %d) = %q, %q", b, max, field, rest)
		}
	})
}

// TestReadFieldShort: the one-byte-length fast path splits exactly as the
// general reader, at and around every limit.
func TestReadFieldShort(t *testing.T) {
	for n := 0; n < 130; n++ {
		for extra := -2; extra <= 2; extra++ {
			for _, max := range []int{0, n - 1, n, n + 1, 1 << 20} {
				size := 1 + n + extra
				if size < 0 {
					continue
				}
				b := make([]byte, size)
				if size > 0 {
					b[0] = byte(n)
				}
				f1, r1, ok1 := ReadField(b, max)
				f2, r2, ok2 := readFieldLong(b, max)
				if ok1 != ok2 || string(f1) != string(f2) || len(r1) != len(r2) || cap(f1) != cap(f2) {
					t.Fatalf("n=%d size=%d max=%d: fast (%d,%d,%v), general (%d,%d,%v)", n, size, max, len(f1), len(r1), ok1, len(f2), len(r2), ok2)
				}
			}
		}
	}
}
