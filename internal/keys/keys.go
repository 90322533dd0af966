// Package keys holds what every part of cachekit needs to make storage keys:
// the rule for which bytes a key may hold as it is, the digest that replaces
// a key that is too long or holds other bytes, and the check of a
// user-chosen prefix. The core and fibercache both build keys with it, so a
// key is made one way everywhere.
package keys

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// DigestMark starts a digested key part. Safe refuses a key that starts with
// it, so a digest never equals a key written out in full.
const DigestMark = '#'

// digestBytes is how much of the SHA-256 a digest keeps (160 bits).
const digestBytes = 20

// DigestLen is the length Digest appends: the mark and the hex digest.
const DigestLen = 1 + 2*digestBytes

// Safe reports whether key can be written to any store as it is: printable
// ASCII without spaces (Memcached refuses spaces and control characters),
// not starting with DigestMark.
func Safe[S ~string | ~[]byte](key S) bool {
	if len(key) > 0 && key[0] == DigestMark {
		return false
	}
	i := 0
	if b, ok := any(key).([]byte); ok {
		i = safeWords(b)
		if i < 0 {
			return false
		}
	}
	for ; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// AppendDigest appends DigestMark and the hex SHA-256 (160 bits) of key.
func AppendDigest[S ~string | ~[]byte](dst []byte, key S) []byte {
	sum := sha256.Sum256([]byte(key))
	dst = append(dst, DigestMark)
	return hex.AppendEncode(dst, sum[:digestBytes])
}

// Append appends key to dst as it is when it is Safe and the result stays
// within max bytes, and its digest otherwise.
func Append[S ~string | ~[]byte](dst []byte, key S, max int) []byte {
	if len(dst)+len(key) <= max && Safe(key) {
		return append(dst, key...)
	}
	return AppendDigest(dst, key)
}

// CheckPrefix reports why p cannot start keys, naming field: it must be
// printable ASCII without spaces, ':' or any byte of forbid, at most 64
// bytes.
func CheckPrefix(field, p, forbid string) error {
	if len(p) > 64 {
		return fmt.Errorf("%s is %d bytes long; at most 64", field, len(p))
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		bad := c <= ' ' || c >= 0x7f || c == ':'
		for j := 0; j < len(forbid) && !bad; j++ {
			bad = c == forbid[j]
		}
		if bad {
			return fmt.Errorf("%s %q has byte %q at %d; use printable ASCII without spaces%s", field, p, c, i, quoted(forbid))
		}
	}
	return nil
}

// quoted lists the forbidden bytes after spaces and ':': "spaces or ':'",
// "spaces, ':' or '|'".
func quoted(forbid string) string {
	if forbid == "" {
		return " or ':'"
	}
	s := ", ':'"
	for i := 0; i < len(forbid); i++ {
		if i == len(forbid)-1 {
			s += " or "
		} else {
			s += ", "
		}
		s += fmt.Sprintf("%q", forbid[i])
	}
	return s
}

// safeWords checks the whole eight-byte words of b as Safe does (less the
// mark): -1 when one fails, else how many bytes it checked. A byte below
// 0x21 or above 0x7e sets its high bit in lo or hi (no borrow or carry
// crosses bytes that pass).
// Printable reports whether every byte of b is one Safe allows (it does
// not look for a leading DigestMark): the check of a part of a key whose
// other parts are known to be printable.
func Printable(b []byte) bool {
	i := safeWords(b)
	if i < 0 {
		return false
	}
	if i < len(b) && len(b) >= 8 {
		// The last bytes as the word that ends b (it overlaps words
		// already checked).
		return wordSafe(binary.LittleEndian.Uint64(b[len(b)-8:]))
	}
	for ; i < len(b); i++ {
		if c := b[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

func safeWords(b []byte) int {
	// Four words a round, then two, their verdicts joined: one branch per
	// 32 bytes.
	var bad uint64
	i := 0
	for ; i+32 <= len(b); i += 32 {
		w := b[i : i+32 : i+32] // one bounds check for the four words
		bad |= unsafeBits(binary.LittleEndian.Uint64(w)) | unsafeBits(binary.LittleEndian.Uint64(w[8:])) |
			unsafeBits(binary.LittleEndian.Uint64(w[16:])) | unsafeBits(binary.LittleEndian.Uint64(w[24:]))
	}
	if i+16 <= len(b) {
		w := b[i : i+16 : i+16]
		bad |= unsafeBits(binary.LittleEndian.Uint64(w)) | unsafeBits(binary.LittleEndian.Uint64(w[8:]))
		i += 16
	}
	if i+8 <= len(b) {
		bad |= unsafeBits(binary.LittleEndian.Uint64(b[i:]))
		i += 8
	}
	if bad&0x8080808080808080 != 0 {
		return -1
	}
	return i
}

// wordSafe reports whether each of the 8 bytes of w is printable ASCII
// without space.
func wordSafe(w uint64) bool { return unsafeBits(w)&0x8080808080808080 == 0 }

// unsafeBits has the high bit of some byte set (of the first such byte at
// least: a borrow or a carry reaches only the bytes above one) when a byte
// of w is not printable ASCII without space: w - 0x21 sets it for a byte
// below 0x21 (borrowing), w + 0x01 for one of 0x7f (carrying into it) and
// w itself for one of 0x80 or more. A byte that passes (0x21 to 0x7e)
// neither borrows nor carries, so no verdict crosses it downward.
func unsafeBits(w uint64) uint64 {
	return (w - 0x2121212121212121) | (w + 0x0101010101010101) | w
}
