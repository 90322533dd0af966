package cachekit

import (
	"strconv"

	"github.com/cachekit/cachekit/internal/keys"
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
	kindFence = 'f' // fence.go
)

// keyspace builds storage keys: "<prefix>:<version>:<kind>:<key>".
type keyspace struct {
	head  string // "<prefix>:<version>:"
	max   int    // the longest storage key; 0: MaxKeyLen
	place bool   // place keys with a hash tag (place.go): on an external store
}

func newKeyspace(prefix string, version int) keyspace {
	return keyspace{head: prefix + ":" + strconv.Itoa(version) + ":"}
}

// limit returns the longest storage key.
func (ks keyspace) limit() int {
	if ks.max > 0 {
		return ks.max
	}
	return MaxKeyLen
}

// appendKey appends the storage key for key of the given kind to dst: the
// key as it is when keys.Safe and short enough, its digest otherwise ('#'
// and 40 hex digits; a plain key never starts with '#', so the two never
// collide). On an external store, a key with a hash tag is placed by it
// (appendPlaced).
func (ks keyspace) appendKey(dst []byte, kind byte, key string) []byte {
	start := len(dst)
	dst = append(dst, ks.head...)
	dst = append(dst, kind, ':')
	if ks.place {
		if tag, ok := hashTag(key); ok {
			return ks.appendPlaced(dst, start, key, tag)
		}
	}
	return keys.Append(dst, key, start+ks.limit())
}

// storageKey is appendKey as a string.
func (ks keyspace) storageKey(kind byte, key string) string {
	var buf [MaxKeyLen + 8]byte
	return string(ks.appendKey(buf[:0], kind, key))
}

// userKey returns the key part of an entry's storage key (the digest for a
// long or unsafe key), for messages.
func (ks keyspace) userKey(skey string) string {
	if len(skey) >= len(ks.head)+2 && skey[:len(ks.head)] == ks.head {
		return skey[len(ks.head)+2:]
	}
	return skey
}
