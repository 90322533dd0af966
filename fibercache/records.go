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
// path's responses. Every page key of the path holds both. It also holds
// the path's fence as it was when the record was written (see fences
// below): reading the record reads the fence a render compares with after
// it wrote a record.
type record struct {
	nonce []byte // nonceLen printable bytes
	vary  []byte // canonical header names, sorted, comma separated
	fence []byte // the fence it was written under (nil: none)
	// expires is when the stored record expires (zero: never, or not
	// stored); not part of its stored form.
	expires time.Time
	// pending: a record about to be made (its path has none), not stored yet.
	pending bool
	// hint is where the core's hot layer kept the path's page last found
	// there (hit.go), when the record was read from the hot layer: the
	// hint of its decoded form (decodedRecord), nil otherwise. Not part
	// of its stored form, nor of what it means.
	hint *cachekit.HotHint
}

// Fences. InvalidatePath first writes a fresh random value under the
// path's fence key, then replaces the record (a new nonce) or, when the
// path has none, leaves a tombstone under the record key: a record without
// a nonce, that no page is stored under, which holds only the fence. A
// render that writes a record its page is stored under (the path's first
// render, or one whose record is near expiry: needFence) reads the fence
// once, after that write, and keeps the record only when the fence is the
// one the record (or tombstone) it read at the start of the request holds,
// or none; otherwise it writes a record with a new nonce:
//
//   - an InvalidatePath whose fence write landed after the request read
//     the record wrote a fresh value, which no record read before holds:
//     if it landed before the render's fence read, the render sees it and
//     writes a record with a new nonce instead (its page unreachable); if
//     after, that InvalidatePath reads the record after the render wrote
//     it, and replaces it;
//   - an InvalidatePath whose fence write landed before the request read
//     the record changed the data before, so the render read the new data.
//
// "None" is the fence key expired or evicted. A fence lives fenceTTL, and
// a render whose request began more than fenceQuick before its fence read
// keeps nothing (fenceKept), so a fence written during a render cannot
// have expired by then; an InvalidatePath slow between its fence write and
// its record write writes the fence again. An eviction of a key written
// that recently is not covered, as before. Only durations on one clock
// count (the request's start and the fence read, on the render's), never
// the clocks of two machines. Not covered either: between the render's
// record write and its rewrite after the fence read, the record it wrote
// is the path's, over an InvalidatePath that may have returned; its page
// is reachable for that round trip (for the record's life if the rewrite
// fails). An extension, which writes back a nonce older pages are stored
// under, reads the record first (extendRecord).

// A path without a record renders under the provisional record: its page
// key holds a nonce no record ever has (random nonces are base64url), so
// nothing is ever found or stored under it, and concurrent first misses
// still share one render (the core coalesces on that key). The record is
// written only once a response is storable (rule 8: nothing is written for
// what is not stored).
var provisional = record{nonce: []byte("~~~~~~~~~~~~~~~~")}

func (r record) provisional() bool { return string(r.nonce) == string(provisional.nonce) }

// provisionalUnder is the provisional record of a path whose record key
// holds nothing or a tombstone with the fence fence.
func provisionalUnder(fence []byte) record {
	r := provisional
	r.fence = fence
	return r
}

// Every key fibercache writes expires (rule 8). A record lives at least
// as long as the pages it keys: recordTTL of the longest page life stored
// under it (commit extends it when a longer-lived page is stored). A fence
// (and a tombstone) lives fenceTTL; a render keeps a record it wrote only
// when its request began less than fenceQuick before it read the fence.
const (
	fenceTTL      = 10 * time.Minute
	fenceQuick    = fenceTTL / 2
	minRecordLife = time.Minute
)

// recordTTL is the TTL a record is written with for a page that lives
// life (TTL and stale windows): twice that, so that the pages stored in
// its first half need no extension.
func recordTTL(life time.Duration) time.Duration {
	return 2*max(life, minRecordLife) + time.Minute
}

// The stored form of a record: recordMagic, then the nonce, the Vary list
// and the fence as wire fields. A tombstone has an empty nonce and Vary
// list. (Format 1, without the fence, does not decode: such a path renders
// as one without a record, and makes a new one.)
var recordMagic = wire.Magic{A: 'F', B: 'R', Format: 2}

const nonceLen = 16

func encodeRecord(rec record) []byte {
	b := make([]byte, 0, wire.HeaderLen+3*binary.MaxVarintLen16+len(rec.nonce)+len(rec.vary)+len(rec.fence))
	b = recordMagic.AppendHeader(b)
	b = wire.AppendField(b, rec.nonce)
	b = wire.AppendField(b, rec.vary)
	return wire.AppendField(b, rec.fence)
}

// encodeTombstone is the stored form of a tombstone holding fence.
func encodeTombstone(fence []byte) []byte { return encodeRecord(record{fence: fence}) }

// decodeRecord parses b; the record aliases it. tomb reports a tombstone
// (rec then holds only its fence).
func decodeRecord(b []byte) (rec record, tomb, ok bool) {
	if !recordMagic.Is(b) {
		return record{}, false, false
	}
	nonce, rest, ok := wire.ReadField(b[wire.HeaderLen:], nonceLen)
	if !ok || (len(nonce) != nonceLen && len(nonce) != 0) {
		return record{}, false, false
	}
	vary, rest, ok := wire.ReadField(rest, maxFieldLen)
	if !ok {
		return record{}, false, false
	}
	fence, rest, ok := wire.ReadField(rest, nonceLen)
	if !ok || len(rest) != 0 || (len(nonce) == 0 && len(vary) != 0) {
		return record{}, false, false
	}
	if len(fence) == 0 {
		fence = nil
	}
	return record{nonce: nonce, vary: vary, fence: fence}, len(nonce) == 0, true
}

func (r record) equal(o record) bool {
	return string(r.nonce) == string(o.nonce) && string(r.vary) == string(o.vary)
}

// newRecord returns a record with a fresh random nonce and the Vary list
// vary, written under the fence fence.
func newRecord(vary, fence []byte) record {
	return record{nonce: newNonce(), vary: vary, fence: fence}
}

// newNonce returns nonceLen fresh random printable bytes: a record's nonce,
// or a fence.
func newNonce() []byte {
	var raw [12]byte
	_, _ = rand.Read(raw[:])
	b := make([]byte, nonceLen)
	base64.RawURLEncoding.Encode(b, raw[:])
	return b
}

// lookupRecord returns the path's record, read through the core without
// counting (cache.Peek): the core's hot layer is exact, so a record held
// there is the stored one. A path without one (none stored, a tombstone,
// one that does not decode) gets the provisional record, holding the
// tombstone's fence if any, and ok false.
func (m *middleware) lookupRecord(rkey []byte) (rec record, ok bool) {
	r, _ := m.cache.Peek(b2s(rkey))
	if r.Status != cachekit.Hit {
		return provisional, false
	}
	rec, tomb, ok := decodeRecord(r.Value)
	return recordRead(rec, tomb, ok, r.Expires)
}

// recordRead is what a read of the record key says, decodeRecord's rec,
// tomb and ok for a value fresh until expires: the record and true, or the
// provisional record (under a tombstone's fence) and false.
func recordRead(rec record, tomb, ok bool, expires time.Time) (record, bool) {
	switch {
	case !ok:
		return provisional, false
	case tomb:
		return provisionalUnder(rec.fence), false
	}
	rec.expires = expires
	return rec, true
}

// lookupRecordIn is lookupRecord through hv, the request's view of the
// core's hot layer, into rec: a record held there is decoded once for as
// long as it is held (its memo, as a page's: hit.go), and copied once per
// request; one that is not is read as lookupRecord reads it.
func (m *middleware) lookupRecordIn(hv cachekit.HotView, rkey []byte, rec *record) bool {
	r, ok := hv.Peek(b2s(rkey))
	if !ok {
		*rec, ok = m.lookupRecord(rkey)
		return ok
	}
	memo := r.Memo()
	d, _ := memo.Load().(*decodedRecord)
	if d == nil || len(d.src) != len(r.Value) || unsafe.SliceData(d.src) != unsafe.SliceData(r.Value) {
		d = &decodedRecord{src: r.Value}
		d.rec, d.tomb, d.ok = decodeRecord(r.Value)
		memo.Store(d)
	}
	if !d.ok || d.tomb {
		*rec, ok = recordRead(d.rec, d.tomb, d.ok, r.Expires)
		return ok
	}
	*rec = d.rec // as recordRead has it
	rec.expires = r.Expires
	rec.hint = &d.hint
	return true
}

// decodedRecord is a record decoded once (lookupRecordIn): never
// modified once made, but for hint.
type decodedRecord struct {
	src  []byte
	rec  record
	tomb bool // an InvalidatePath's tombstone (decodeRecord)
	ok   bool
	// hint leads the core's hot layer to the page of the path's requests
	// under this record (hit.go): of one of them, when several variants
	// are asked for. It never decides what a hit finds.
	hint cachekit.HotHint
}

// lookupStoredRecord is lookupRecord reading the shared store itself, past
// copies another instance's InvalidatePath may not have reached yet (see
// readFence).
func (m *middleware) lookupStoredRecord(rkey string) (record, bool) {
	r, _ := m.cache.PeekStored(rkey)
	if r.Status != cachekit.Hit {
		return provisional, false
	}
	rec, tomb, ok := decodeRecord(r.Value)
	return recordRead(rec, tomb, ok, r.Expires)
}

// ensureRecord returns the path's record, making it (once for concurrent
// callers) when there is none, and replacing one that does not decode.
// Tests use it; requests make records only through learnVary.
func (m *middleware) ensureRecord(rkey string) (record, bool) {
	r, err := m.cache.Load(rkey, cachekit.Policy{TTL: recordTTL(0)}, func(*cachekit.Policy) ([]byte, error) {
		return encodeRecord(newRecord(nil, nil)), nil
	})
	if err != nil {
		return record{}, false
	}
	if rec, tomb, ok := decodeRecord(r.Value); ok && !tomb {
		return rec, true
	}
	rec := newRecord(nil, nil)
	if m.cache.Set(rkey, encodeRecord(rec), recordTTL(0)) != nil {
		return record{}, false
	}
	return rec, true
}

// learnVary replaces the path's record (under rkey, fence key fkey) with
// one listing vary and a new nonce, or makes it when rec is the
// provisional one, unless the record moved while the page rendered. An
// InvalidatePath that ran meanwhile is seen through the fence it rewrites
// first (rec holds the fence as the request read it; start is when the
// request began): the record is then invalidated again, so this write can
// never undo it. life is how long the page that made it lives: the record
// outlives it (recordTTL).
func (m *middleware) learnVary(rkey, fkey string, rec record, vary []byte, start time.Time, life time.Duration) (record, bool) {
	nrec := newRecord(vary, rec.fence)
	if !m.rewriteRecord(rkey, fkey, rec, nrec, start, life) {
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
	cur, ok := m.lookupRecord([]byte(rkey))
	if !ok || !cur.equal(rec) {
		return
	}
	_ = m.cache.Set(rkey, encodeRecord(newRecord(vary, cur.fence)), recordTTL(life))
}

// rewriteRecord writes nrec in place of rec (see learnVary), for
// recordTTL(life), then checks the fence (see Fences): nrec holds the one
// the request read; start is when the request began. It writes without
// reading the record again: a record written since rec was read by an
// InvalidatePath is seen through the fence, and rewritten with a new
// nonce; one written by another render (another Vary list learned, the
// same path's first render elsewhere) is overwritten, which makes the
// pages stored under it unreachable, never wrong (each page holds the
// Vary list it was stored under, checked on a hit).
func (m *middleware) rewriteRecord(rkey, fkey string, rec, nrec record, start time.Time, life time.Duration) bool {
	defer m.recordWrites.Add(1) // after the writes: see render.run
	ttl := recordTTL(life)
	if (rec.provisional() || rec.pending) && rec.fence == nil {
		// The record key held nothing when the request read it: written
		// through a Load (which, unlike Set, does not move the epoch, so
		// concurrent fills are not taken for stale), without reading it
		// again (Absent). Concurrent callers here share one write: the
		// record is ours if it holds our nonce. Over anything else (a
		// record, a tombstone), Set: it drops the copies of the old value
		// the hot layer and Local keep.
		r, err := m.cache.Load(rkey, cachekit.Policy{TTL: ttl, Absent: true}, func(*cachekit.Policy) ([]byte, error) {
			return encodeRecord(nrec), nil
		})
		if got, tomb, ok := decodeRecord(r.Value); err != nil || !ok || tomb || !got.equal(nrec) {
			return false
		}
	} else if m.cache.Set(rkey, encodeRecord(nrec), ttl) != nil {
		return false
	}
	fence1, err := m.readFence(fkey)
	if err != nil || !fenceKept(nrec.fence, fence1, start) {
		_ = m.cache.Set(rkey, encodeRecord(newRecord(nrec.vary, fence1)), ttl)
		return false
	}
	return true
}

// fenceKept reports whether a record written under the fence fence0 (as
// the request that began at start read it) may stay, now that the fence is
// fence1 (nil: none): see Fences.
func fenceKept(fence0, fence1 []byte, start time.Time) bool {
	if time.Since(start) >= fenceQuick {
		return false // a fence written since the request began may be gone
	}
	return fence1 == nil || string(fence1) == string(fence0)
}

// extendRecord makes rec live at least as long as a page of life stored
// now under it: one write, only when it would expire first, and only if
// the record (and its fence) still is rec when read again just before,
// from the shared store (see readFence).
// The extension writes rec's own nonce back: without that read, an
// InvalidatePath that ran during the render would be undone until the
// fence check after the write rewrote the record, and its old pages
// served meanwhile (forever, if that rewrite failed). The read leaves that
// window only to an InvalidatePath landing between it and the write.
func (m *middleware) extendRecord(rkey, fkey string, rec record, start time.Time, life time.Duration) {
	if rec.expires.IsZero() || rec.provisional() || rec.pending || !rec.expires.Before(time.Now().Add(life)) {
		return
	}
	if cur, ok := m.lookupStoredRecord(rkey); !ok || !cur.equal(rec) || string(cur.fence) != string(rec.fence) {
		return
	}
	m.rewriteRecord(rkey, fkey, rec, rec, start, life)
}

// readFence returns the path's fence (nil when there is none), as the
// shared store holds it (cachekit's fences: never a copy, which in the
// two-level mode may predate an InvalidatePath on another instance whose
// Bus message has not arrived, and never hidden by a generation this
// instance's copy differs on), so that a render never takes an
// InvalidatePath's fence for none and keeps the record it wrote over it.
func (m *middleware) readFence(fkey string) ([]byte, error) {
	return m.cache.Fence(fkey)
}
