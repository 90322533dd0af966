package fragments

import (
	"encoding/binary"
	"math/bits"
)

// wyhash is Wang Yi's wyhash, final version 4, with its default secret
// (public domain; github.com/wangyi-fudan/wyhash): a 64-bit hash of p
// under seed, little-endian reads, the reference's output (TestWyhash
// checks its published vectors). Fast and well mixed (it passes SMHasher),
// not cryptographic.
func wyhash(p []byte, seed uint64) uint64 {
	n := len(p)
	seed ^= wymix(seed^wyp0, wyp1)
	var a, b uint64
	if n <= 16 {
		switch {
		case n >= 4:
			q := (n >> 3) << 2
			a = wyr4(p)<<32 | wyr4(p[q:])
			b = wyr4(p[n-4:])<<32 | wyr4(p[n-4-q:])
		case n > 0:
			a = uint64(p[0])<<16 | uint64(p[n>>1])<<8 | uint64(p[n-1])
		}
	} else {
		i, o := n, 0
		if i > 48 {
			s1, s2 := seed, seed
			for i > 48 {
				seed = wymix(wyr8(p[o:])^wyp1, wyr8(p[o+8:])^seed)
				s1 = wymix(wyr8(p[o+16:])^wyp2, wyr8(p[o+24:])^s1)
				s2 = wymix(wyr8(p[o+32:])^wyp3, wyr8(p[o+40:])^s2)
				o, i = o+48, i-48
			}
			seed ^= s1 ^ s2
		}
		for i > 16 {
			seed = wymix(wyr8(p[o:])^wyp1, wyr8(p[o+8:])^seed)
			o, i = o+16, i-16
		}
		// The last 16 bytes, which may overlap those already read.
		a, b = wyr8(p[o+i-16:]), wyr8(p[o+i-8:])
	}
	hi, lo := bits.Mul64(a^wyp1, b^seed)
	return wymix(lo^wyp0^uint64(n), hi^wyp1)
}

// wyhash's default secret.
const (
	wyp0 = 0xa0761d6478bd642f
	wyp1 = 0xe7037ed1a0b428db
	wyp2 = 0x8ebc6af09c88c6e3
	wyp3 = 0x589965cc75374cc3
)

// wymix is the 128-bit product of a and b, folded to 64 bits.
func wymix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

func wyr4(p []byte) uint64 { return uint64(binary.LittleEndian.Uint32(p)) }
func wyr8(p []byte) uint64 { return binary.LittleEndian.Uint64(p) }
