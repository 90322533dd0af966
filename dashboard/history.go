package dashboard

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/cachekit/cachekit"
)

// sample is the counters at one moment; the charts draw the differences
// between consecutive samples.
type sample struct {
	at        time.Time
	routes    map[string]Counts
	fragments map[string]Counts
	models    map[string]Counts
	bypass    map[string]uint64
	unstored  map[string]uint64
	core      cachekit.Stats
	haveCore  bool
	mem       cachekit.MemoryStats
	haveMem   bool
}

// history keeps the last samples. It runs no goroutine: a sample is taken
// by the first recorded event (or dashboard view) after each Interval
// boundary, so a quiet period simply has no points.
type history struct {
	every time.Duration
	n     int
	next  atomic.Int64 // UnixNano of the next sample

	mu      sync.Mutex
	samples []sample // oldest first, at most n+1
}

func (h *history) init(every time.Duration, n int) {
	h.every, h.n = every, n
}

func (h *history) maybeSample(r *Recorder, now time.Time) {
	if now.UnixNano() < h.next.Load() || !h.mu.TryLock() {
		return
	}
	defer h.mu.Unlock()
	if now.UnixNano() < h.next.Load() {
		return
	}
	h.add(r.current(now))
	h.next.Store(now.Truncate(h.every).Add(h.every).UnixNano())
}

// add appends s and drops what the charts no longer reach: the window is
// n intervals, plus one sample before it as the base of the first
// difference.
func (h *history) add(s sample) {
	h.samples = append(h.samples, s)
	cut := s.at.Add(-time.Duration(h.n) * h.every)
	i := 0
	for i+1 < len(h.samples) && !h.samples[i+1].at.After(cut) {
		i++
	}
	if over := len(h.samples) - (h.n + 1); over > i {
		i = over
	}
	if i > 0 {
		h.samples = append(h.samples[:0], h.samples[i:]...)
	}
}

// view returns the samples with the counters as of now appended.
func (h *history) view(r *Recorder, now time.Time) []sample {
	h.maybeSample(r, now)
	cur := r.current(now)
	h.mu.Lock()
	out := append(make([]sample, 0, len(h.samples)+1), h.samples...)
	h.mu.Unlock()
	if len(out) > 0 && !cur.at.After(out[len(out)-1].at) {
		return out
	}
	return append(out, cur)
}

// current reads every counter.
func (r *Recorder) current(now time.Time) sample {
	s := sample{
		at:        now,
		routes:    r.Routes(),
		fragments: r.Fragments(),
		models:    r.Models(),
		bypass:    r.Bypasses(),
		unstored:  r.NotStored(),
	}
	if c := r.cache.Load(); c != nil {
		s.core, s.haveCore = c.Stats(), true
	}
	if m := r.memory.Load(); m != nil {
		s.mem, s.haveMem = m.Stats(), true
	}
	return s
}
