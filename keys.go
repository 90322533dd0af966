package cachekit

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// MaxKeyLen is the longest storage key cachekit writes. Longer keys, and keys
// with bytes a store may reject (Memcached: spaces, control characters,
// non-ASCII), are replaced by a digest, so any string is a valid key on every
// store.
const MaxKeyLen = 200

// key kinds keep entries and tag generations apart in one storage.
const (
	kindEntry = 'e'
	kindTag   = 't'
)

// keyspace builds storage keys: "<prefix>:<version>:<kind>:<key>".
type keyspace struct {
	head string // "<prefix>:<version>:"
}

func newKeyspace(prefix string, version int) keyspace {
	return keyspace{head: prefix + ":" + strconv.Itoa(version) + ":"}
}

// appendKey appends the storage key for key of the given kind to dst.
func (ks keyspace) appendKey(dst []byte, kind byte, key string) []byte {
	dst = append(dst, ks.head...)
	dst = append(dst, kind, ':')
	if len(dst)+len(key) <= MaxKeyLen && safeKey(key) {
		return append(dst, key...)
	}
	// '#' cannot start a plain key of this kind: safeKey refuses it, so a
	// digest never collides with a key written out in full.
	sum := sha256.Sum256([]byte(key))
	dst = append(dst, '#')
	return hex.AppendEncode(dst, sum[:20])
}

// storageKey is appendKey as a string.
func (ks keyspace) storageKey(kind byte, key string) string {
	var buf [MaxKeyLen + 8]byte
	return string(ks.appendKey(buf[:0], kind, key))
}

// safeKey reports whether key can be written to any store as it is:
// printable ASCII without spaces, not starting with '#'.
func safeKey(key string) bool {
	if len(key) > 0 && key[0] == '#' {
		return false
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}
