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
