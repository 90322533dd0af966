package fibercache

import (
	"bytes"
	"testing"
)

// TestNameEnd: the eight-bytes-at-a-time search finds the first '=' as
// bytes.IndexByte does, at every position of lengths around the word
// size, among bytes one bit off '=' (0x3c, 0x3f, 0xbd) and zeros.
func TestNameEnd(t *testing.T) {
	for n := 0; n <= 40; n++ {
		for _, fill := range []byte{'a', '<', '?', 0xbd, 0x00, ' ', ';'} {
			base := bytes.Repeat([]byte{fill}, n)
			check := func(b []byte) {
				t.Helper()
				want := bytes.IndexByte(b, '=')
				if want < 0 {
					want = len(b)
				}
				if got := nameEnd(b); got != want {
					t.Fatalf("nameEnd(%q) = %d, want %d", b, got, want)
				}
			}
			check(base)
			for p := 0; p < n; p++ {
				b := bytes.Clone(base)
				b[p] = '='
				check(b)
				for q := p + 1; q < n; q++ {
					c := bytes.Clone(b)
					c[q] = '='
					check(c)
				}
			}
		}
	}
}

// FuzzNameEnd: the same for any bytes.
func FuzzNameEnd(f *testing.F) {
	f.Add([]byte("cookieconsent_status=dismiss"))
	f.Add([]byte("\x3c\x3e\xbd=\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		want := bytes.IndexByte(b, '=')
		if want < 0 {
			want = len(b)
		}
		if got := nameEnd(b); got != want {
			t.Fatalf("nameEnd(%q) = %d, want %d", b, got, want)
		}
	})
}
