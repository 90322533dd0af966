package fibercache

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"time"
	"unsafe"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/internal/wire"
)

// record is a path's record, stored under its record key (keys.go): a
// nonce that InvalidatePath replaces, and the Vary list learned from the
// path's responses. Every page key of the path holds both.
type record struct {
	nonce []byte // nonceLen printable bytes
	vary  []byte // canonical header names, sorted, comma separated
	// expires is when the stored record expires (zero: never, or not
	// stored); not part of its stored form.
	expires time.Time
	// pending: a record about to be made (its path has none), not stored yet.
	pending bool
}

// A path without a record renders under the provisional record: its page
// key holds a nonce no record ever has (random nonces are base64url), so
// nothing is ever found or stored under it, and concurrent first misses
// still share one render (the core coalesces on that key). The record is
// written only once a response is storable (rule 8: nothing is written for
// what is not stored).
var provisional = record{nonce: []byte("~~~~~~~~~~~~~~~~")}

func (r record) provisional() bool { return string(r.nonce) == string(provisional.nonce) }

// Every key fibercache writes expires (rule 8). A record lives at least
// as long as the pages it keys: recordTTL of the longest page life stored
// under it (commit extends it when a longer-lived page is stored). A fence
// lives long enough for any render it guards.
const (
	fenceTTL      = 24 * time.Hour
	minRecordLife = time.Minute
)

// recordTTL is the TTL a record is written with for a page that lives
// life (TTL and stale windows): twice that, so that the pages stored in
// its first half need no extension.
func recordTTL(life time.Duration) time.Duration {
	return 2*max(life, minRecordLife) + time.Minute
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
	rec, ok := decodeRecord(r.Value)
	rec.expires = r.Expires
	return rec, ok
}

// lookupRecordIn is lookupRecord through hv, the request's view of the
// core's hot layer: a record held there is decoded once for as long as it
// is held (its memo, as a page's: hit.go), and one that is not is read as
// lookupRecord reads it.
func (m *middleware) lookupRecordIn(hv cachekit.HotView, rkey []byte) (record, bool) {
	r, ok := hv.Peek(b2s(rkey))
	if !ok {
		return m.lookupRecord(rkey)
	}
	memo := r.Memo()
	d, _ := memo.Load().(*decodedRecord)
	if d == nil || len(d.src) != len(r.Value) || unsafe.SliceData(d.src) != unsafe.SliceData(r.Value) {
		d = &decodedRecord{src: r.Value}
		d.rec, d.ok = decodeRecord(r.Value)
		memo.Store(d)
	}
	rec := d.rec
	rec.expires = r.Expires
	return rec, d.ok
}

// decodedRecord is a record decoded once (lookupRecordIn): never
// modified once made.
type decodedRecord struct {
	src []byte
	rec record
	ok  bool
}

// ensureRecord returns the path's record, making it (once for concurrent
// callers) when there is none, and replacing one that does not decode.
// Tests use it; requests make records only through learnVary.
func (m *middleware) ensureRecord(rkey string) (record, bool) {
	r, err := m.cache.Load(rkey, cachekit.Policy{TTL: recordTTL(0)}, func(*cachekit.Policy) ([]byte, error) {
		return encodeRecord(newRecord(nil)), nil
	})
	if err != nil {
		return record{}, false
	}
	if rec, ok := decodeRecord(r.Value); ok {
		return rec, true
	}
	rec := newRecord(nil)
	if m.cache.Set(rkey, encodeRecord(rec), recordTTL(0)) != nil {
		return record{}, false
	}
	return rec, true
}

// learnVary replaces the path's record (under rkey, fence key fkey) with
// one listing vary and a new nonce, or makes it when rec is the
// provisional one, unless the record moved while the page rendered. An
// InvalidatePath that ran meanwhile is seen through the fence it rewrites
// first (fence0 is the fence read before the render): the record is then
// invalidated again, so this write can never undo it. life is how long
// the page that made it lives: the record outlives it (recordTTL).
func (m *middleware) learnVary(rkey, fkey string, rec record, vary []byte, fence0 []byte, fenceErr error, life time.Duration) (record, bool) {
	nrec := newRecord(vary)
	if !m.rewriteRecord(rkey, fkey, rec, nrec, fence0, fenceErr, life) {
		return record{}, false
	}
	nrec.expires = time.Now().Add(recordTTL(life))
	return nrec, true
}

// relearnVary replaces the path's known record rec (under rkey) with one
// listing vary and a new nonce, if the record still is rec, for a render
// that did not read the fence (fence.skipped): nothing is stored under the
// new record by that render, so no fence is needed. An InvalidatePath
// whose record write this one overwrites is kept: the new nonce is no
// record's either, and every page stored under it is rendered after it
// was read, so after that InvalidatePath's writes.
func (m *middleware) relearnVary(rkey string, rec record, vary []byte, life time.Duration) {
	defer m.recordWrites.Add(1) // after the write: see render.run
	if cur, ok := m.lookupRecord([]byte(rkey)); !ok || !cur.equal(rec) {
		return
	}
	_ = m.cache.Set(rkey, encodeRecord(newRecord(vary)), recordTTL(life))
}

// rewriteRecord writes nrec in place of rec (see learnVary), for recordTTL(life).
func (m *middleware) rewriteRecord(rkey, fkey string, rec, nrec record, fence0 []byte, fenceErr error, life time.Duration) bool {
	if fenceErr != nil {
		return false
	}
	defer m.recordWrites.Add(1) // after the writes: see render.run
	if !rec.provisional() && !rec.pending {
		// A record made meanwhile is found by the Load below.
		if cur, ok := m.lookupRecord([]byte(rkey)); !ok || !cur.equal(rec) {
			return false
		}
	}
	ttl := recordTTL(life)
	if rec.provisional() || rec.pending {
		// Written through a Load (which, unlike Set, does not make the
		// hot layer revalidate everything), without reading it again: the
		// request read it as missing, and a record another request made
		// meanwhile may be overwritten (its pages are then unreachable,
		// never wrong; the fence below sees an InvalidatePath). Concurrent
		// callers here share one write: the record is ours if it holds
		// our nonce.
		r, err := m.cache.Load(rkey, cachekit.Policy{TTL: ttl, Absent: true}, func(*cachekit.Policy) ([]byte, error) {
			return encodeRecord(nrec), nil
		})
		if got, ok := decodeRecord(r.Value); err != nil || !ok || !got.equal(nrec) {
			return false
		}
	} else if m.cache.Set(rkey, encodeRecord(nrec), ttl) != nil {
		return false
	}
	fence1, err := m.readFence(fkey)
	if err != nil || string(fence0) != string(fence1) {
		_ = m.cache.Set(rkey, encodeRecord(newRecord(nrec.vary)), ttl)
		return false
	}
	return true
}

// extendRecord makes rec live at least as long as a page of life stored
// now under it: one write, only when it would expire first.
func (m *middleware) extendRecord(rkey, fkey string, rec record, fence0 []byte, fenceErr error, life time.Duration) {
	if rec.expires.IsZero() || rec.provisional() || rec.pending || !rec.expires.Before(time.Now().Add(life)) {
		return
	}
	m.rewriteRecord(rkey, fkey, rec, rec, fence0, fenceErr, life)
}

// readFence returns the path's fence (nil when there is none).
func (m *middleware) readFence(fkey string) ([]byte, error) {
	r, err := m.cache.Peek(fkey)
	return r.Value, err
}
