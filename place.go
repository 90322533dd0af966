package cachekit

import (
	"hash/crc32"
	"strconv"

	"github.com/cachekit/cachekit/internal/keys"
)

// Placement: keys that must live on the same node of a sharded store, and
// replicas that must live on different ones, whatever the client's
// sharding, as far as the common clients go:
//
//   - Redis Cluster hashes a key's hash tag (the bytes between its first
//     '{' and the next '}') when it has one: keys with one hash tag share a
//     slot, and so a master.
//   - gomemcache (gofiber/storage/memcache) picks server crc32(key) mod n.
//     A key with a hash tag gets placeLen more bytes, chosen so that
//     crc32(storage key) mod placeMod equals crc32(tag) mod placeMod: keys
//     with one hash tag share a server for every pool size n dividing
//     placeMod (1, 2, 3, 4, 6, 12).
//
// Placement never decides what a key means, only where it lives: a store
// that shards another way still holds every key, only not together.

// placeMod is the modulus placed keys agree on (see above).
const placeMod = 12

// placeLen is the length of the placement suffix.
const placeLen = 2

const placeAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

// maxHashTag bounds a hash tag's length, and maxTagStart where its '{'
// may be, for the core to place a key by it.
const (
	maxHashTag  = 16
	maxTagStart = 32
)

// hashTag returns key's hash tag: the bytes between its first '{' and the
// next '}', when that '{' is among the first maxTagStart bytes and the tag
// is 1 to maxHashTag Safe bytes. It depends on key's first bytes only, so a
// key that extends a tagged key has the same tag.
func hashTag(key string) (string, bool) {
	open := -1
	for i := 0; i < len(key) && i < maxTagStart; i++ {
		if key[i] == '{' {
			open = i
			break
		}
	}
	if open < 0 {
		return "", false
	}
	for j := open + 1; j < len(key) && j <= open+1+maxHashTag; j++ {
		if key[j] == '}' {
			tag := key[open+1 : j]
			if len(tag) == 0 || !keys.Safe(tag) {
				return "", false
			}
			return tag, true
		}
	}
	return "", false
}

// appendPlaced appends key, whose hash tag is tag, after the head and kind
// already in dst[start:], and the placement suffix: the key as it is when
// Safe and short enough; else '#', the tag in braces and the key's digest
// (plain keys never start with '#'; a digest without a tag holds no '{');
// else, with no room for the tag, the plain digest, not placed. The suffix
// has a fixed length, so two keys never get one storage key.
func (ks keyspace) appendPlaced(dst []byte, start int, key, tag string) []byte {
	limit := start + ks.limit()
	switch {
	case len(dst)+len(key)+placeLen <= limit && keys.Safe(key):
		dst = append(dst, key...)
	case len(dst)+3+len(tag)+keys.DigestLen+placeLen <= limit:
		dst = append(dst, keys.DigestMark, '{')
		dst = append(dst, tag...)
		dst = append(dst, '}')
		dst = keys.AppendDigest(dst, key)
	default:
		return keys.AppendDigest(dst, key)
	}
	return appendPlacement(dst, start, placeClass(tag))
}

// placeClass is the residue a tag's keys are placed at.
func placeClass(tag string) uint32 {
	var b [maxHashTag]byte
	n := copy(b[:], tag)
	return crc32.ChecksumIEEE(b[:n]) % placeMod
}

// appendPlacement appends the suffix that makes crc32(dst[start:]) mod
// placeMod equal want.
func appendPlacement(dst []byte, start int, want uint32) []byte {
	crc := crc32.ChecksumIEEE(dst[start:])
	const n = len(placeAlphabet)
	for j := 0; j < n*n; j++ {
		s := [placeLen]byte{placeAlphabet[j/n], placeAlphabet[j%n]}
		if crc32.Update(crc, crc32.IEEETable, s[:])%placeMod == want {
			return append(dst, s[:]...)
		}
	}
	return append(dst, '0', '0') // never reached: 1,296 tries of 1 in 12
}

// redisSlot is Redis Cluster's hash slot of a hash tag: CRC16 (XMODEM)
// mod 16384.
func redisSlot(tag string) int {
	var crc uint16
	for i := 0; i < len(tag); i++ {
		crc ^= uint16(tag[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

// replicaTags are the hash tags of the replicas of tag generations: for
// each placement class r of a tag's name, n tags, the i-th placed at class
// (r+i) mod placeMod on memcached (distinct servers for a pool of 3, 4, 6
// or 12) and in band (r+i) mod n of n equal bands of Redis Cluster's
// slots (distinct masters for an evenly split cluster of n masters or a
// multiple of n).
type replicaTags [placeMod][]string

func newReplicaTags(n int) *replicaTags {
	var t replicaTags
	for r := range placeMod {
		t[r] = make([]string, n)
		for i := range n {
			want := uint32((r + i) % placeMod)
			band := (r + i) % n
			for j := 0; ; j++ {
				cand := "g" + strconv.Itoa(r) + "." + strconv.Itoa(i) + "." + strconv.Itoa(j)
				if placeClass(cand) == want && redisSlot(cand)*n/16384 == band {
					t[r][i] = cand
					break
				}
			}
		}
	}
	return &t
}

// replicaKey returns the storage key of the i-th replica of the tag
// generation stored (without replicas) under tk, one of ks's tag keys:
// the head, the kind, the replica's hash tag in braces, then the rest of
// tk, and the placement suffix. When that is too long: the tag in braces
// and the rest's digest; when that is too (a short MaxKeyLen), '#' and
// the digest of the tag and the rest, placed on memcached only, or not at
// all when the suffix does not fit either. Distinct (tk, i) give distinct
// keys: a replica tag holds no '}', so the first one is known, and the
// forms start apart ('{' or '#').
func (ks keyspace) replicaKey(t *replicaTags, tk string, i int) string {
	name := tk[min(len(ks.head)+2, len(tk)):]
	tag := t[placeClass(name)][i]
	var buf [MaxKeyLen + 8]byte
	dst := append(buf[:0], ks.head...)
	dst = append(dst, kindTag, ':')
	limit := ks.limit()
	switch {
	case len(dst)+len(tag)+2+len(name)+placeLen <= limit:
		dst = append(dst, '{')
		dst = append(dst, tag...)
		dst = append(dst, '}')
		dst = append(dst, name...)
	case len(dst)+len(tag)+2+keys.DigestLen+placeLen <= limit:
		dst = append(dst, '{')
		dst = append(dst, tag...)
		dst = append(dst, '}')
		dst = keys.AppendDigest(dst, name)
	default:
		dst = keys.AppendDigest(dst, tag+"}"+name)
		if len(dst)+placeLen > limit {
			return string(dst)
		}
	}
	return string(appendPlacement(dst, 0, placeClass(tag)))
}
