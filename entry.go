package cachekit

import (
	"encoding/binary"
	"errors"
	"hash/crc32"

	"github.com/cachekit/cachekit/internal/wire"
)

// An entry as stored: a fixed header, the tag generations it was written
// under, the value, and a checksum over all of it, so that a corrupt or
// truncated entry reads as a miss, never as a wrong answer.
//
//	magic "CK" format[1] (wire.Magic) flags[1]
//	stored, fresh, swr, sie  int64 unix nanoseconds each (fresh 0: forever)
//	ntags uvarint, then per tag: name (a wire field), generation[16]
//	value
//	crc32c[4] of everything before it
const (
	entryFixed    = wire.HeaderLen + 1 + 4*8
	entryCRC      = 4
	generationLen = 16
)

var entryMagic = wire.Magic{A: 'C', B: 'K', Format: 1}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

var errCorrupt = errors.New("corrupt entry")

// entry is a stored entry, decoded: its times, its encoded tag list and its
// value, which alias the buffer it was decoded from.
type entry struct {
	stored, fresh, swr, sie int64
	tags                    []byte // the encoded tag list, walked with nextTag
	value                   []byte
}

type taggedGen struct {
	name string
	gen  [generationLen]byte
}

// encodeEntry appends the stored form of value to dst.
func encodeEntry(dst []byte, e *entry, tags []taggedGen, value []byte) []byte {
	start := len(dst)
	dst = entryMagic.AppendHeader(dst)
	dst = append(dst, 0) // flags
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.stored))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.fresh))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.swr))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.sie))
	dst = binary.AppendUvarint(dst, uint64(len(tags)))
	for _, t := range tags {
		dst = wire.AppendStringField(dst, t.name)
		dst = append(dst, t.gen[:]...)
	}
	dst = append(dst, value...)
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], crcTable))
}

// decodeEntry parses b. It never panics: anything malformed is errCorrupt.
func decodeEntry(b []byte) (entry, error) {
	var e entry
	if len(b) < entryFixed+1+entryCRC || !entryMagic.Is(b) {
		return e, errCorrupt
	}
	body, sum := b[:len(b)-entryCRC], binary.BigEndian.Uint32(b[len(b)-entryCRC:])
	if crc32.Checksum(body, crcTable) != sum {
		return e, errCorrupt
	}
	e.stored = int64(binary.BigEndian.Uint64(body[4:]))
	e.fresh = int64(binary.BigEndian.Uint64(body[12:]))
	e.swr = int64(binary.BigEndian.Uint64(body[20:]))
	e.sie = int64(binary.BigEndian.Uint64(body[28:]))
	rest := body[entryFixed:]
	n, w := binary.Uvarint(rest)
	if w <= 0 || n > uint64(len(rest)) {
		return e, errCorrupt
	}
	rest = rest[w:]
	tagStart := rest
	for i := uint64(0); i < n; i++ {
		var ok bool
		if _, rest, ok = wire.ReadField(rest, len(rest)); !ok || len(rest) < generationLen {
			return e, errCorrupt
		}
		rest = rest[generationLen:]
	}
	e.tags = tagStart[:len(tagStart)-len(rest)]
	e.value = rest
	return e, nil
}

// nextTag splits the first tag off an encoded tag list that decodeEntry
// validated. The name aliases the list.
func nextTag(list []byte) (name, gen, rest []byte) {
	name, rest, _ = wire.ReadField(list, len(list))
	return name, rest[:generationLen], rest[generationLen:]
}
