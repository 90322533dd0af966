package fragments

import (
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestWyhash checks wyhash against the reference's published vectors
// (wyhash final version 4, test_vector.cpp: message i hashed under seed i),
// and pins a few more lengths around its loops' bounds (16, 48) so that
// the keys it makes never change.
func TestWyhash(t *testing.T) {
	for i, tc := range []struct {
		in   string
		want uint64
	}{
		{"", 0x0409638ee2bde459},
		{"a", 0xa8412d091b5fe0a9},
		{"abc", 0x32dd92e4b2915153},
		{"message digest", 0x8619124089a3a16b},
		{"abcdefghijklmnopqrstuvwxyz", 0x7a43afb61d7f5f40},
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 0xff42329b90e50d58},
		{strings.Repeat("1234567890", 8), 0xc39cab13b115aad3},
	} {
		if got := wyhash([]byte(tc.in), uint64(i)); got != tc.want {
			t.Errorf("wyhash(%q, %d) = %#016x, want %#016x", tc.in, i, got, tc.want)
		}
	}
	src := []byte(strings.Repeat("0123456789abcdef", 7))
	pinned := map[int]uint64{}
	for _, n := range []int{4, 8, 15, 16, 17, 32, 33, 47, 48, 49, 96, 97, 112} {
		pinned[n] = wyhash(src[:n], hashSeedHi)
	}
	for n, want := range pinnedWyhash {
		if got := pinned[n]; got != want {
			t.Errorf("wyhash of %d bytes = %#016x, pinned %#016x", n, got, want)
		}
	}
	if len(pinnedWyhash) != len(pinned) {
		t.Errorf("pinned %d lengths, computed %d: %#v", len(pinnedWyhash), len(pinned), pinned)
	}
}

// pinnedWyhash: wyhash of the first n bytes of TestWyhash's src under
// hashSeedHi, as first computed; keys are made of it.
var pinnedWyhash = map[int]uint64{
	4:   0x3ed4d73e2cc15545,
	8:   0xf3b3a461253a35c5,
	15:  0x86a7e0c7070b0fba,
	16:  0x43c526c287a77782,
	17:  0x2d15f6d496d953cd,
	32:  0xa9918d3f314ea748,
	33:  0x9c162e51048dcac3,
	47:  0x44af7829c3c3e07d,
	48:  0xb7177286dc8862d7,
	49:  0xd8a2be1a5e2f9f28,
	96:  0xabe922054073dbb5,
	97:  0x2e4916b557dc0366,
	112: 0x4ce21ac6882fd5be,
}

// The key of vary values is the hex of the 128-bit hashEnc of their
// encoding, lower case: checked against an encoding written out here,
// wyhash under the two seeds and encoding/hex, on random input.
func TestVaryKeyHex(t *testing.T) {
	for i := range 2000 {
		id, s := rand.Int64(), strings.Repeat("é", i%40)
		got, err := Key("b", id, s, i%2 == 0, float64(i)/3)
		if err != nil {
			t.Fatal(err)
		}
		enc := []byte{2, 'i'}
		enc = binary.BigEndian.AppendUint64(enc, uint64(id))
		enc = binary.AppendUvarint(append(enc, 's'), uint64(len(s)))
		enc = append(enc, s...)
		enc = append(enc, 'b', map[bool]byte{true: 1, false: 0}[i%2 == 0], 'f')
		enc = binary.BigEndian.AppendUint64(enc, math.Float64bits(float64(i)/3))
		sum := binary.BigEndian.AppendUint64(nil, wyhash(enc, hashSeedHi))
		sum = binary.BigEndian.AppendUint64(sum, wyhash(enc, hashSeedLo))
		if want := "fragment:b:" + hex.EncodeToString(sum); got != want {
			t.Fatalf("Key(%d, %q) = %q, want %q", id, s, got, want)
		}
	}
}
