package fibercache

import (
	"encoding/binary"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2/utils"
)

// The Vary list of a path is learned from its responses, as Django does,
// and kept in the path's record (records.go): canonical header names,
// sorted, comma separated. Every page key holds the request's value of each
// (keys.go), Accept-Encoding reduced to its class.

// maxVary is how many headers a page may vary on; a response that varies
// on more is not stored.
const maxVary = 8

// varyNames splits a record's Vary list into dst; ok is false when it
// holds more than maxVary names.
func varyNames(list []byte, dst *[maxVary][]byte) (n int, ok bool) {
	for len(list) > 0 {
		i := 0
		for i < len(list) && list[i] != ',' {
			i++
		}
		if n == maxVary {
			return n, false
		}
		dst[n] = list[:i]
		n++
		if i < len(list) {
			i++
		}
		list = list[i:]
	}
	return n, true
}

// setVary sets the names the scan collects values for to those of list.
func (r *request) setVary(list []byte) {
	n, _ := varyNames(list, &r.vary)
	r.varyN = n
	for i := 0; i < n; i++ {
		switch name := b2s(r.vary[i]); {
		case utils.EqualFold(name, "Accept-Encoding"):
			r.aeIndex = i
		case utils.EqualFold(name, "Cookie"):
			r.cookieIdx = i
		}
	}
}

// appendVaryValues appends the request's value of every name of the Vary
// list, each length-prefixed, '-' for a header the request did not send.
func (r *request) appendVaryValues(dst []byte) []byte {
	for i := 0; i < r.varyN; i++ {
		if i != r.aeIndex && r.varySeen&(1<<i) == 0 {
			// Absent is not empty (Django's CVE-2011-4139 family): an
			// empty header may select another page than none at all.
			dst = append(dst, '-')
			continue
		}
		dst = appendInt(dst, int64(r.varyValueLen(i)))
		dst = append(dst, ':')
		dst = r.appendVaryValue(dst, i)
	}
	return dst
}

// varyValueLen is the length appendVaryValue appends for vary name i.
func (r *request) varyValueLen(i int) int {
	if i == r.aeIndex {
		var b [8]byte
		return len(r.ae.appendClass(b[:0]))
	}
	n, first := 0, true
	s := r.scratch
	for len(s) > 0 {
		idx := int(s[0])
		l, w := binary.Uvarint(s[1:])
		s = s[1+w+int(l):]
		if idx != i {
			continue
		}
		if !first {
			n++
		}
		first = false
		n += int(l)
	}
	return n
}

// appendVaryValue appends the collected value(s) of vary name i to dst.
func (r *request) appendVaryValue(dst []byte, i int) []byte {
	if i == r.aeIndex {
		return r.ae.appendClass(dst)
	}
	s := r.scratch
	first := true
	for len(s) > 0 {
		idx := int(s[0])
		n, w := binary.Uvarint(s[1:])
		v := s[1+w : 1+w+int(n)]
		s = s[1+w+int(n):]
		if idx != i {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, v...)
	}
	return dst
}

// varyHasSecret reports whether the Vary list names a credential header.
func (r *request) varyHasSecret() bool {
	for i := 0; i < r.varyN; i++ {
		name := b2s(r.vary[i])
		if utils.EqualFold(name, "Authorization") || utils.EqualFold(name, "Proxy-Authorization") {
			return true
		}
	}
	return false
}

// mergeVary returns the Vary list a page must be keyed with: the record's
// list have, plus the names the response varies on; ok is false when that
// is more than maxVary names.
func mergeVary(have []byte, names []string) (list []byte, ok bool) {
	if len(have) > 0 {
		names = append(names, strings.Split(string(have), ",")...)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) > maxVary {
		return nil, false
	}
	return []byte(strings.Join(names, ",")), true
}

// canonicalHeader writes a header name the way fasthttp normalises it.
func canonicalHeader(n string) string {
	b := []byte(n)
	upper := true
	for i, c := range b {
		switch {
		case upper && c >= 'a' && c <= 'z':
			b[i] = c - ('a' - 'A')
		case !upper && c >= 'A' && c <= 'Z':
			b[i] = c + ('a' - 'A')
		}
		upper = c == '-'
	}
	return string(b)
}

// aeClass is the normalised Accept-Encoding of a request: which of br,
// gzip, deflate and zstd it accepts (RFC 9110 §12.5.3: q=0 refuses, "*"
// stands for the codings not named). Two requests of one class accept the
// same codings, so one stored body suits both; a handful of classes exist
// in practice.
type aeClass struct {
	accept, refuse uint8 // bits: coding named with q>0 / with q=0
	star, starSeen bool
}

const (
	aeBr = 1 << iota
	aeGzip
	aeDeflate
	aeZstd
)

func (a *aeClass) add(v []byte) {
	for len(v) > 0 {
		i := 0
		for i < len(v) && v[i] != ',' {
			i++
		}
		a.element(v[:i])
		if i < len(v) {
			i++
		}
		v = v[i:]
	}
}

func (a *aeClass) element(el []byte) {
	// coding [ ; q=value ]
	i := 0
	for i < len(el) && (el[i] == ' ' || el[i] == '\t') {
		i++
	}
	s := i
	for i < len(el) && el[i] != ';' && el[i] != ' ' && el[i] != '\t' {
		i++
	}
	coding := b2s(el[s:i])
	zero := false
	for i < len(el) {
		if el[i] == ';' {
			j := i + 1
			for j < len(el) && (el[j] == ' ' || el[j] == '\t') {
				j++
			}
			if j+1 < len(el) && (el[j] == 'q' || el[j] == 'Q') && el[j+1] == '=' {
				zero = qIsZero(el[j+2:])
			}
		}
		i++
	}
	var bit uint8
	switch {
	case utils.EqualFold(coding, "br"):
		bit = aeBr
	case utils.EqualFold(coding, "gzip"), utils.EqualFold(coding, "x-gzip"):
		bit = aeGzip
	case utils.EqualFold(coding, "deflate"):
		bit = aeDeflate
	case utils.EqualFold(coding, "zstd"):
		bit = aeZstd
	case coding == "*":
		a.starSeen = true
		a.star = !zero
		return
	default:
		return
	}
	if zero {
		a.refuse |= bit
	} else {
		a.accept |= bit
	}
}

// qIsZero reports whether a qvalue is 0 (0, 0., 0.0, 0.00, 0.000).
func qIsZero(q []byte) bool {
	i := 0
	for i < len(q) && q[i] == ' ' {
		i++
	}
	q = q[i:]
	if len(q) == 0 || q[0] != '0' {
		return false
	}
	for _, c := range q[1:] {
		switch c {
		case '.', '0':
		case ' ', '\t', ';', ',':
			return true
		default:
			return false
		}
	}
	return true
}

// accepted returns the codings the class accepts.
func (a *aeClass) accepted() uint8 {
	acc := a.accept &^ a.refuse
	if a.star {
		acc |= ^(a.accept | a.refuse) & (aeBr | aeGzip | aeDeflate | aeZstd)
	}
	return acc
}

func (a *aeClass) appendClass(dst []byte) []byte {
	acc := a.accepted()
	dst = append(dst, 'e')
	for i, l := range [...]byte{'b', 'g', 'd', 'z'} {
		if acc&(1<<i) != 0 {
			dst = append(dst, l)
		}
	}
	return dst
}
