// Package wire is the byte layout cachekit's stored records share: a
// two-byte magic and a format byte in front, then length-prefixed fields
// (uvarint length, bytes). The core's entries and fibercache's pages and
// path records are written with it. Reading never panics and never
// allocates: what it returns aliases the input.
package wire

import "encoding/binary"

// Magic identifies one kind of record and its format version.
type Magic struct {
	A, B   byte // the two magic bytes
	Format byte // the layout version
}

// HeaderLen is the length of a record's magic and format.
const HeaderLen = 3

// AppendHeader appends m to dst.
func (m Magic) AppendHeader(dst []byte) []byte { return append(dst, m.A, m.B, m.Format) }

// Is reports whether b starts with m.
func (m Magic) Is(b []byte) bool {
	return len(b) >= HeaderLen && b[0] == m.A && b[1] == m.B && b[2] == m.Format
}

// AppendField appends f with its uvarint length in front.
func AppendField(dst, f []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(f)))
	return append(dst, f...)
}

// AppendStringField is AppendField for a string.
func AppendStringField(dst []byte, f string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(f)))
	return append(dst, f...)
}

// ReadField splits one length-prefixed field of at most max bytes off b.
// The field's capacity ends where it does, so appending to it never writes
// into what follows. ok is false when b does not start with such a field.
func ReadField(b []byte, max int) (field, rest []byte, ok bool) {
	// Fields shorter than 128 bytes (a one-byte length, as binary.Uvarint
	// reads it) are split here, inlined into the caller.
	if len(b) > 0 {
		if n := int(b[0]); n < 0x80 && n < len(b) && n <= max {
			return b[1 : n+1 : n+1], b[n+1:], true
		}
	}
	return readFieldLong(b, max)
}

// readFieldLong is ReadField for any length.
func readFieldLong(b []byte, max int) (field, rest []byte, ok bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(max) || n > uint64(len(b)-w) {
		return nil, b, false
	}
	end := w + int(n)
	return b[w:end:end], b[end:], true
}
