package fibercache

import (
	"encoding/binary"
	"errors"

	"github.com/cachekit/cachekit/internal/wire"
)

// The stored form of a page (inside the core's own checksummed envelope):
//
//	pageMagic ('F' 'C' format) flags[1] status[2] lastModified[8] (Unix seconds, 0: none)
//	ttl[4] (seconds it was stored for, 0: no expiry)
//	age[4] (seconds old the response already was when stored: its Age and
//	        Date; a hit's Age adds it)
//	vary    wire field: the Vary list the key was built with
//	ctype   wire field: Content-Type
//	etag    wire field: ETag
//	nhdr    uvarint, then per header: name and value as wire fields
//	body    the rest
//
// Names are stored canonical, as fasthttp writes them. Decoding never
// panics and never allocates: the decoded page aliases the buffer.
var pageMagic = wire.Magic{A: 'F', B: 'C', Format: 2}

const (
	pageFixed    = wire.HeaderLen + 1 + 2 + 8 + 4 + 4
	maxHeaders   = 256
	maxFieldLen  = 64 << 10
	flagPublic   = 1 << 0 // the response said Cache-Control: public
	flagHasCC    = 1 << 1 // the handler set its own Cache-Control
	flagPerUser  = 1 << 2 // keyed on a user's cookie or header
	flagGenerate = 1 << 3 // ETag or Last-Modified was made at store time
	flagOwnETag  = 1 << 4 // the ETag is the handler's
	flagOwnLM    = 1 << 5 // the Last-Modified is the handler's
	// flagRevalidate: kept past its freshness (ttl) to be revalidated
	// with the handler's own validators (Config.Strict; revalidate.go).
	flagRevalidate = 1 << 6
)

var errBadPage = errors.New("fibercache: malformed page")

// page is a decoded page. Every slice aliases the decoded buffer.
type page struct {
	flags        byte
	status       int
	lastModified int64
	ttl          uint32
	age          uint32 // seconds old when stored
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

// appendPage appends the stored form of pg (with hdrs as its header list)
// to dst.
func appendPage(dst []byte, pg *page, hdrs []header) []byte {
	dst = pageMagic.AppendHeader(dst)
	dst = append(dst, pg.flags)
	dst = binary.BigEndian.AppendUint16(dst, uint16(pg.status))
	dst = binary.BigEndian.AppendUint64(dst, uint64(pg.lastModified))
	dst = binary.BigEndian.AppendUint32(dst, pg.ttl)
	dst = binary.BigEndian.AppendUint32(dst, pg.age)
	dst = wire.AppendField(dst, pg.vary)
	dst = wire.AppendField(dst, pg.ctype)
	dst = wire.AppendField(dst, pg.etag)
	dst = binary.AppendUvarint(dst, uint64(len(hdrs)))
	for _, h := range hdrs {
		dst = wire.AppendField(dst, h.name)
		dst = wire.AppendField(dst, h.value)
	}
	return append(dst, pg.body...)
}

// decodePage parses b into pg. Anything malformed is errBadPage.
func decodePage(b []byte, pg *page) error {
	if len(b) < pageFixed || !pageMagic.Is(b) {
		return errBadPage
	}
	if decodeShort(b, pg) {
		return nil
	}
	return decodePageLong(b, pg)
}

// decodeShort is decodePage for a page whose fields (but its body) are all
// shorter than 128 bytes, as most are, with their bounds found inline. It
// reports false, pg partly set, for any other page, valid or not: then
// decodePageLong decides.
func decodeShort(b []byte, pg *page) bool {
	if !decodeFixed(b, pg) {
		return false
	}
	s, e := shortField(b, pageFixed)
	if e < 0 {
		return false
	}
	pg.vary = b[s:e:e]
	if s, e = shortField(b, e); e < 0 {
		return false
	}
	pg.ctype = b[s:e:e]
	if s, e = shortField(b, e); e < 0 {
		return false
	}
	pg.etag = b[s:e:e]
	if e >= len(b) || b[e] >= 0x80 { // at most 127 headers, under maxHeaders
		return false
	}
	n := int(b[e])
	start := e + 1
	e = start
	for i := 0; i < n; i++ {
		if s, e = shortField(b, e); e <= s { // no header name is empty
			return false
		}
		if _, e = shortField(b, e); e < 0 {
			return false
		}
	}
	pg.headers = b[start:e:e]
	pg.nheaders = n
	pg.body = b[e:]
	return true
}

// decodeFixed reads the page's fixed-size fields (b holds at least
// pageFixed bytes) and reports whether its status is valid.
func decodeFixed(b []byte, pg *page) bool {
	pg.flags = b[3]
	pg.status = int(binary.BigEndian.Uint16(b[4:]))
	pg.lastModified = int64(binary.BigEndian.Uint64(b[6:]))
	pg.ttl = binary.BigEndian.Uint32(b[14:])
	pg.age = binary.BigEndian.Uint32(b[18:])
	if pg.status < 100 || pg.status > 999 {
		return false
	}
	return true
}

// shortField returns the bounds of the wire field at b[i:] (its bytes are
// b[start:end]) when it is shorter than 128 bytes (a one-byte length),
// end -1 otherwise.
func shortField(b []byte, i int) (start, end int) {
	if i < len(b) && b[i] < 0x80 {
		if end = i + 1 + int(b[i]); end <= len(b) {
			return i + 1, end
		}
	}
	return 0, -1
}

// decodePageLong is decodePage for any page.
func decodePageLong(b []byte, pg *page) error {
	if !decodeFixed(b, pg) {
		return errBadPage
	}
	rest := b[pageFixed:]
	var ok bool
	if pg.vary, rest, ok = wire.ReadField(rest, maxFieldLen); !ok {
		return errBadPage
	}
	if pg.ctype, rest, ok = wire.ReadField(rest, maxFieldLen); !ok {
		return errBadPage
	}
	if pg.etag, rest, ok = wire.ReadField(rest, maxFieldLen); !ok {
		return errBadPage
	}
	n, w := binary.Uvarint(rest)
	if w <= 0 || n > maxHeaders {
		return errBadPage
	}
	rest = rest[w:]
	start := rest
	for i := uint64(0); i < n; i++ {
		var name []byte
		if name, rest, ok = wire.ReadField(rest, maxFieldLen); !ok || len(name) == 0 {
			return errBadPage
		}
		if _, rest, ok = wire.ReadField(rest, maxFieldLen); !ok {
			return errBadPage
		}
	}
	pg.headers = start[:len(start)-len(rest)]
	pg.nheaders = int(n)
	pg.body = rest
	return nil
}

// nextHeader returns the first header of the encoded list hs and the rest.
// hs must come from a decoded page.
func nextHeader(hs []byte) (h header, rest []byte) {
	if s, e := shortField(hs, 0); e >= 0 {
		if s2, e2 := shortField(hs, e); e2 >= 0 {
			return header{name: hs[s:e:e], value: hs[s2:e2:e2]}, hs[e2:]
		}
	}
	h.name, rest, _ = wire.ReadField(hs, maxFieldLen)
	h.value, rest, _ = wire.ReadField(rest, maxFieldLen)
	return h, rest
}
