package cachekit

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Stats counts what a Cache did since it was made.
type Stats struct {
	Hits          uint64 // fresh values served
	Misses        uint64 // lookups that found nothing usable
	Stale         uint64 // stale values served (while revalidating or on error)
	Coalesced     uint64 // callers that waited for another caller's fill
	Stores        uint64 // entries written
	Invalidations uint64 // tag generations bumped
	Errors        uint64 // storage errors (the request went on uncached)
	Corrupt       uint64 // entries that failed to decode, read as misses
	RefreshErrors uint64 // background refreshes whose fill failed
	RaceSkips     uint64 // values not stored because a tag moved while they were computed
	LocalHits     uint64 // two-level mode: entries read from the Local store
	Panics        uint64 // fills that panicked (the caller got a *PanicError)

	// An external store's guard.
	Timeouts     uint64 // calls that ran out of Config.Timeout
	Abandoned    uint64 // calls the Cache stopped waiting for (a client that ignored the deadline)
	Running      int64  // abandoned calls still running now (at most Config.MaxAbandoned)
	Overloaded   uint64 // calls not made because Running was at Config.MaxAbandoned
	StorePanics  uint64 // store calls that panicked (read as errors)
	Skipped      uint64 // calls not made while a circuit was open
	CircuitOpens uint64 // times a circuit opened (the whole store's or a key group's)
	CircuitOpen  bool   // whether the whole store's circuit is open now

	// Config.Replicas: tag generations stored on several keys.
	ReplicaDisagreements uint64 // reads whose replicas answered differently (read as misses)
	ReplicaShort         uint64 // reads and writes that fewer than a majority of replicas answered
}

// HitRatio is (Hits+Stale) / (Hits+Stale+Misses), or 0 before any lookup.
func (s Stats) HitRatio() float64 {
	served := s.Hits + s.Stale
	if served+s.Misses == 0 {
		return 0
	}
	return float64(served) / float64(served+s.Misses)
}

type counters struct {
	hits, misses, stale, staleErrors, coalesced, stores                 atomic.Uint64
	invalidations, errors, corrupt, refreshErrors, raceSkips, localHits atomic.Uint64
	panics                                                              atomic.Uint64
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	s := c.stats
	var g Stats
	if c.guard != nil {
		g.Timeouts = c.guard.timeouts.Load()
		g.Skipped = c.guard.skipped.Load()
		g.CircuitOpens = c.guard.opened.Load()
		g.CircuitOpen = c.guard.all.openUntil.Load() != 0
		g.Abandoned = c.guard.abandons.Load()
		g.Running = c.guard.abandoned.Load()
		g.Overloaded = c.guard.overload.Load()
		g.StorePanics = c.guard.panics.Load()
		if r := c.guard.reps; r != nil {
			g.ReplicaDisagreements, g.ReplicaShort = r.disagree.Load(), r.short.Load()
		}
	}
	return Stats{
		ReplicaDisagreements: g.ReplicaDisagreements,
		ReplicaShort:         g.ReplicaShort,
		Abandoned:            g.Abandoned,
		Running:              g.Running,
		Overloaded:           g.Overloaded,
		StorePanics:          g.StorePanics,
		Timeouts:             g.Timeouts,
		Skipped:              g.Skipped,
		CircuitOpens:         g.CircuitOpens,
		CircuitOpen:          g.CircuitOpen,
		LocalHits:            s.localHits.Load(),
		Hits:                 s.hits.Load(),
		Misses:               s.misses.Load(),
		Stale:                s.stale.Load() + s.staleErrors.Load(),
		Coalesced:            s.coalesced.Load(),
		Stores:               s.stores.Load(),
		Invalidations:        s.invalidations.Load(),
		Errors:               s.errors.Load(),
		Corrupt:              s.corrupt.Load(),
		RefreshErrors:        s.refreshErrors.Load(),
		RaceSkips:            s.raceSkips.Load(),
		Panics:               s.panics.Load(),
	}
}

// storageError counts err and logs it, once per burst.
func (c *Cache) storageError(err error) {
	c.stats.errors.Add(1)
	c.errlog.log(err)
}

// errorLog logs the first error of a burst and counts the rest until the
// interval has passed.
type errorLog struct {
	logger *slog.Logger  // set by New
	every  time.Duration // set by New

	mu         sync.Mutex // protects last and suppressed
	last       time.Time  // when the last line was logged
	suppressed int        // errors not logged since
}

func (l *errorLog) log(err error) {
	l.mu.Lock()
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	l.logger.Warn("cachekit: storage error; serving uncached", "err", err, "suppressed_since_last", n)
}
