package fragments

import (
	"encoding/binary"
	"testing"
)

// FuzzStored: stored, the reader of a stored fragment's header, never
// panics on any value, and accepts a value exactly when it is the block's
// digest, the length of enc, enc and the HTML, which it returns.
func FuzzStored(f *testing.F) {
	b := &block{digest: [digestLen]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}}
	head := func(enc []byte) []byte {
		v := append([]byte(nil), b.digest[:]...)
		return append(binary.AppendUvarint(v, uint64(len(enc))), enc...)
	}
	f.Add(append(head([]byte{2}), "<p>x</p>"...), []byte{2})
	f.Add(append(head(make([]byte, 200)), "<p>x</p>"...), make([]byte, 200))
	f.Add([]byte("short"), []byte{2})
	long := make([]byte, 130)
	f.Add(append(append(b.digest[:len(b.digest):len(b.digest)], 0x82, 0x81, 0x00), long...), long) // an overlong length
	f.Add(append(b.digest[:len(b.digest):len(b.digest)], 0xff, 0xff, 0xff), []byte{})
	f.Fuzz(func(t *testing.T, v, enc []byte) {
		h, ok := b.stored(v, enc)
		hd := head(enc)
		want := len(v) >= len(hd) && string(v[:len(hd)]) == string(hd)
		if ok != want {
			t.Fatalf("stored(%x, %x): ok %v, want %v", v, enc, ok, want)
		}
		if ok && string(h) != string(v[len(hd):]) {
			t.Fatalf("stored(%x, %x) = %q, want %q", v, enc, h, v[len(hd):])
		}
	})
}
