package cachekit

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// An entry as stored: a fixed header, the tag generations it was written
// under, the value, and a checksum over all of it, so that a corrupt or
// truncated entry reads as a miss, never as a wrong answer.
//
//	magic[2] format[1] flags[1]
//	stored, fresh, swr, sie  int64 unix nanoseconds each (fresh 0: forever)
//	ntags uvarint, then per tag: len uvarint, name, generation[16]
//	value
//	crc32c[4] of everything before it
const (
	entryMagic0   = 'C'
	entryMagic1   = 'K'
	entryFormat   = 1
	entryFixed    = 4 + 4*8
	entryCRC      = 4
	generationLen = 16
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

var errCorrupt = errors.New("corrupt entry")

// envelope is an entry's decoded header. value and the tag slices alias the
// buffer it was decoded from.
type envelope struct {
	stored, fresh, swr, sie int64
	tags                    []byte // the encoded tag list, walked with nextTag
	value                   []byte
}

type taggedGen struct {
	name string
	gen  [generationLen]byte
}

// encodeEntry appends the stored form of value to dst.
func encodeEntry(dst []byte, e *envelope, tags []taggedGen, value []byte) []byte {
	start := len(dst)
	dst = append(dst, entryMagic0, entryMagic1, entryFormat, 0)
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.stored))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.fresh))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.swr))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.sie))
	dst = binary.AppendUvarint(dst, uint64(len(tags)))
	for _, t := range tags {
		dst = binary.AppendUvarint(dst, uint64(len(t.name)))
		dst = append(dst, t.name...)
		dst = append(dst, t.gen[:]...)
	}
	dst = append(dst, value...)
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], crcTable))
}

// decodeEntry parses b. It never panics: anything malformed is errCorrupt.
func decodeEntry(b []byte) (envelope, error) {
	var e envelope
	if len(b) < entryFixed+1+entryCRC || b[0] != entryMagic0 || b[1] != entryMagic1 || b[2] != entryFormat {
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
		l, w := binary.Uvarint(rest)
		if w <= 0 || l > uint64(len(rest)) || uint64(w)+l+generationLen > uint64(len(rest)) {
			return e, errCorrupt
		}
		rest = rest[uint64(w)+l+generationLen:]
	}
	e.tags = tagStart[:len(tagStart)-len(rest)]
	e.value = rest
	return e, nil
}

// nextTag splits the first tag off an encoded tag list that decodeEntry
// validated. The name aliases the list.
func nextTag(list []byte) (name, gen, rest []byte) {
	l, w := binary.Uvarint(list)
	end := w + int(l)
	return list[w:end], list[end : end+generationLen], list[end+generationLen:]
}
