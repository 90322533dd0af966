package fibercache

import (
	"encoding/binary"
	"errors"
)

// The stored form of a page (inside the core's own checksummed envelope):
//
//	'F' 'C' format[1] flags[1] status[2] lastModified[8] (Unix seconds, 0: none)
//	ttl[4] (seconds it was stored for, 0: no expiry)
//	vary    uvarint len, the Vary list the key was built with
//	ctype   uvarint len, Content-Type
//	etag    uvarint len, ETag
//	nhdr    uvarint, then per header: uvarint len, name, uvarint len, value
//	body    the rest
//
// Names are stored canonical, as fasthttp writes them. Decoding never
// panics and never allocates: the decoded entry aliases the buffer.
const (
	entryMagic0  = 'F'
	entryMagic1  = 'C'
	entryFormat  = 1
	entryFixed   = 2 + 1 + 1 + 2 + 8 + 4
	maxHeaders   = 256
	maxFieldLen  = 64 << 10
	flagPublic   = 1 << 0 // the response said Cache-Control: public
	flagHasCC    = 1 << 1 // the handler set its own Cache-Control
	flagPerUser  = 1 << 2 // keyed on a user's cookie or header
	flagGenerate = 1 << 3 // ETag or Last-Modified was made at store time
)

var errBadEntry = errors.New("fibercache: malformed entry")

// entry is a decoded page. Every slice aliases the decoded buffer.
type entry struct {
	flags        byte
	status       int
	lastModified int64
	ttl          uint32
	vary         []byte
	ctype        []byte
	etag         []byte
	headers      []byte // encoded header list, walked by nextHeader
	nheaders     int
	body         []byte
}

// header is one stored response header.
type header struct {
	name, value []byte
}

// appendEntry appends the stored form of e (with hdrs as its header list)
// to dst.
func appendEntry(dst []byte, e *entry, hdrs []header) []byte {
	dst = append(dst, entryMagic0, entryMagic1, entryFormat, e.flags)
	dst = binary.BigEndian.AppendUint16(dst, uint16(e.status))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.lastModified))
	dst = binary.BigEndian.AppendUint32(dst, e.ttl)
	dst = appendField(dst, e.vary)
	dst = appendField(dst, e.ctype)
	dst = appendField(dst, e.etag)
	dst = binary.AppendUvarint(dst, uint64(len(hdrs)))
	for _, h := range hdrs {
		dst = appendField(dst, h.name)
		dst = appendField(dst, h.value)
	}
	return append(dst, e.body...)
}

func appendField(dst, f []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(f)))
	return append(dst, f...)
}

// decodeEntry parses b into e. Anything malformed is errBadEntry.
func decodeEntry(b []byte, e *entry) error {
	if len(b) < entryFixed || b[0] != entryMagic0 || b[1] != entryMagic1 || b[2] != entryFormat {
		return errBadEntry
	}
	e.flags = b[3]
	e.status = int(binary.BigEndian.Uint16(b[4:]))
	e.lastModified = int64(binary.BigEndian.Uint64(b[6:]))
	e.ttl = binary.BigEndian.Uint32(b[14:])
	if e.status < 100 || e.status > 999 {
		return errBadEntry
	}
	rest := b[entryFixed:]
	var ok bool
	if e.vary, rest, ok = readField(rest); !ok {
		return errBadEntry
	}
	if e.ctype, rest, ok = readField(rest); !ok {
		return errBadEntry
	}
	if e.etag, rest, ok = readField(rest); !ok {
		return errBadEntry
	}
	n, w := binary.Uvarint(rest)
	if w <= 0 || n > maxHeaders {
		return errBadEntry
	}
	rest = rest[w:]
	start := rest
	for i := uint64(0); i < n; i++ {
		var name []byte
		if name, rest, ok = readField(rest); !ok || len(name) == 0 {
			return errBadEntry
		}
		if _, rest, ok = readField(rest); !ok {
			return errBadEntry
		}
	}
	e.headers = start[:len(start)-len(rest)]
	e.nheaders = int(n)
	e.body = rest
	return nil
}

// readField reads one length-prefixed field.
func readField(b []byte) (field, rest []byte, ok bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > maxFieldLen || n > uint64(len(b)-w) {
		return nil, b, false
	}
	end := w + int(n)
	return b[w:end:end], b[end:], true
}

// nextHeader returns the first header of the encoded list hs and the rest.
// hs must come from a decoded entry.
func nextHeader(hs []byte) (h header, rest []byte) {
	h.name, rest, _ = readField(hs)
	h.value, rest, _ = readField(rest)
	return h, rest
}
