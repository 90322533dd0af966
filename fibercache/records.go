package fibercache

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/internal/wire"
)

// record is a path's record, stored under its record key (keys.go): a
// nonce that InvalidatePath replaces, and the Vary list learned from the
// path's responses. Every page key of the path holds both.
type record struct {
	nonce []byte // nonceLen printable bytes
	vary  []byte // canonical header names, sorted, comma separated
}

// The stored form of a record: recordMagic, then the nonce and the Vary
// list as wire fields.
var recordMagic = wire.Magic{A: 'F', B: 'R', Format: 1}

const nonceLen = 16

func encodeRecord(rec record) []byte {
	b := make([]byte, 0, wire.HeaderLen+2*binary.MaxVarintLen16+len(rec.nonce)+len(rec.vary))
	b = recordMagic.AppendHeader(b)
	b = wire.AppendField(b, rec.nonce)
	return wire.AppendField(b, rec.vary)
}

// decodeRecord parses b; the record aliases it.
func decodeRecord(b []byte) (record, bool) {
	if !recordMagic.Is(b) {
		return record{}, false
	}
	nonce, rest, ok := wire.ReadField(b[wire.HeaderLen:], nonceLen)
	if !ok || len(nonce) != nonceLen {
		return record{}, false
	}
	vary, rest, ok := wire.ReadField(rest, maxFieldLen)
	if !ok || len(rest) != 0 {
		return record{}, false
	}
	return record{nonce: nonce, vary: vary}, true
}

func (r record) equal(o record) bool {
	return string(r.nonce) == string(o.nonce) && string(r.vary) == string(o.vary)
}

// newRecord returns a record with a fresh random nonce and the Vary list vary.
func newRecord(vary []byte) record {
	var raw [12]byte
	_, _ = rand.Read(raw[:])
	b := make([]byte, nonceLen)
	base64.RawURLEncoding.Encode(b, raw[:])
	return record{nonce: b, vary: vary}
}

// lookupRecord returns the path's record, read through the core without
// counting (cache.Peek): the core's hot layer is exact, so a record held
// there is the stored one.
func (m *middleware) lookupRecord(rkey []byte) (record, bool) {
	r, _ := m.cache.Peek(b2s(rkey))
	if r.Status != cachekit.Hit {
		return record{}, false
	}
	return decodeRecord(r.Value)
}

// ensureRecord returns the path's record, making it (once for concurrent
// callers) when there is none, and replacing one that does not decode.
func (m *middleware) ensureRecord(rkey string) (record, bool) {
	r, err := m.cache.Load(rkey, cachekit.Policy{}, func(*cachekit.Policy) ([]byte, error) {
		return encodeRecord(newRecord(nil)), nil
	})
	if err != nil {
		return record{}, false
	}
	if rec, ok := decodeRecord(r.Value); ok {
		return rec, true
	}
	rec := newRecord(nil)
	if m.cache.Set(rkey, encodeRecord(rec), 0) != nil {
		return record{}, false
	}
	return rec, true
}

// learnVary replaces the path's record (under rkey, fence key fkey) with
// one listing vary and a new nonce, unless the record moved while the page
// rendered. An InvalidatePath that ran meanwhile is seen through the fence
// it rewrites first (fence0 is the fence read before the render): the
// record is then invalidated again, so this write can never undo it.
func (m *middleware) learnVary(rkey, fkey string, rec record, vary []byte, fence0 []byte, fenceErr error) (record, bool) {
	cur, ok := m.lookupRecord([]byte(rkey))
	if !ok || !cur.equal(rec) || fenceErr != nil {
		return record{}, false
	}
	nrec := newRecord(vary)
	if m.cache.Set(rkey, encodeRecord(nrec), 0) != nil {
		return record{}, false
	}
	fence1, err := m.readFence(fkey)
	if err != nil || string(fence0) != string(fence1) {
		_ = m.cache.Set(rkey, encodeRecord(newRecord(vary)), 0)
		return record{}, false
	}
	return nrec, true
}

// readFence returns the path's fence (nil when there is none).
func (m *middleware) readFence(fkey string) ([]byte, error) {
	r, err := m.cache.Peek(fkey)
	return r.Value, err
}
