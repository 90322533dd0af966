package cachekit

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// Replicated tag generations (Config.Replicas): on a sharded store, every
// page hit needs each of its tags' generations, and a tag's one key lives
// on one node, so one dead node of three would cost every page under its
// tags. With Replicas n (odd), each generation is stored under n keys
// placed on distinct nodes (replicaKey), and:
//
//   - a write (an invalidation, a new generation) goes to all n and
//     succeeds when a majority q = n/2+1 took it; otherwise it fails, and
//     InvalidateTags reports it and keeps it pending, as for a single key;
//   - a read asks all n and stands when q replicas hold one generation and
//     none another (once q agree, the others get replicaGrace to answer:
//     a live node's answer is never skipped for coming third); a replica that holds none (evicted, its node
//     restarted) counts for nothing. Differing generations, or fewer than q
//     holding one, read as no generation (unknown: a miss, and the next
//     fill writes a new random generation to every replica, which heals
//     them); more than n-q failed calls is an error (a miss).
//
// Why an invalidated entry cannot come back: an entry is valid when q
// replicas answered with the generation it was written under and no
// replica that answered holds another. An invalidation that succeeded
// wrote a new generation, never seen before, to q replicas; any q replicas
// share one with them, which holds that generation or a newer one, or
// none if it lost it, never the entry's: so the read's q answers cannot
// all be the entry's. A replica that missed the write (its node was down
// or hung) can only make a read's answers differ, which is a miss. No one ever writes an old generation
// back: generations are random and each is written once, by the call that
// made it. This holds with replicas on any nodes; placing them apart is
// only what keeps reads answering when one node is dead.
//
// What it does not cover, as for one key: a write abandoned on a hung
// node that lands after a newer one on the same key. With replicas, one
// such late write of the old generation on a replica that took the
// invalidation, plus the n-q replicas that missed it, make q that hold the
// old one; a read then serves it if the replicas holding the new one do
// not answer (down, or slower than replicaGrace).

// replicas holds the guard's replication of tag generations.
type replicas struct {
	n, quorum int
	ks        keyspace
	prefix    string // "<prefix>:": the tag keys of every version of it are replicated (WithVersion)
	tags      *replicaTags
	disagree  atomic.Uint64 // reads whose answers differed
	short     atomic.Uint64 // calls with fewer than a quorum of answers
}

func newReplicas(n int, ks keyspace, prefix string) *replicas {
	return &replicas{n: n, quorum: n/2 + 1, ks: ks, prefix: prefix + ":", tags: newReplicaTags(n)}
}

// of reports whether key is a tag generation's key, stored replicated: a
// tag key of the Cache's prefix, at any version.
func (r *replicas) of(key string) bool {
	_, ok := r.headOf(key)
	return ok
}

// headOf returns the head ("<prefix>:<version>:") of a tag key of the
// Cache's prefix at any version, and false for any other key. A prefix
// holds no ':', a version is strconv.Itoa's form.
func (r *replicas) headOf(key string) (string, bool) {
	if r == nil || !strings.HasPrefix(key, r.prefix) {
		return "", false
	}
	rest := key[len(r.prefix):]
	i := strings.IndexByte(rest, ':')
	if i <= 0 || !strings.HasPrefix(rest[i:], ":"+string(kindTag)+":") {
		return "", false
	}
	for j, b := range []byte(rest[:i]) {
		if (b < '0' || b > '9') && (b != '-' || j > 0 || i == 1) {
			return "", false
		}
	}
	return key[:len(r.prefix)+i+1], true
}

// replicaKey returns the storage key of the i-th replica of tk, a key of
// its tag keys at any version.
func (r *replicas) replicaKey(tk string, i int) string {
	ks := r.ks
	if head, ok := r.headOf(tk); ok {
		ks.head = head
	}
	return ks.replicaKey(r.tags, tk, i)
}

type replicaAnswer struct {
	v   []byte
	err error
}

// fanOut runs op on every replica key of tk, each on its own goroutine
// under the guard, and returns their answers as they come.
func (g *guard) fanOut(ctx context.Context, tk string, op func(ctx context.Context, rk string) ([]byte, error)) <-chan replicaAnswer {
	ch := make(chan replicaAnswer, g.reps.n)
	for i := range g.reps.n {
		rk := g.reps.replicaKey(tk, i)
		go func() {
			v, err := op(ctx, rk)
			ch <- replicaAnswer{v, err}
		}()
	}
	return ch
}

// getReplicated reads tk's generation from its replicas (see above).
func (g *guard) getReplicated(ctx context.Context, tk string) ([]byte, error) {
	r := g.reps
	ch := g.fanOut(ctx, tk, func(ctx context.Context, rk string) ([]byte, error) { return g.getOne(ctx, rk) })
	var first []byte
	var firstErr error
	agree, missing, failed := 0, 0, 0
	var grace <-chan time.Time // once a quorum agrees: how long the others may still answer
	for range r.n {
		var a replicaAnswer
		select {
		case a = <-ch:
		case <-grace:
			return first, nil
		case <-ctx.Done():
			if grace != nil {
				return first, nil
			}
			return nil, fmt.Errorf("get %q: %w: %w", tk, errCallerGone, ctx.Err())
		}
		switch {
		case a.err != nil:
			failed++
			if firstErr == nil {
				firstErr = a.err
			}
		case len(a.v) == 0:
			missing++
		case agree > 0 && !bytes.Equal(a.v, first):
			r.disagree.Add(1)
			return nil, nil // unknown: a miss, and the next fill heals it
		default:
			if agree == 0 {
				first = a.v
			}
			if agree++; agree >= r.quorum && grace == nil {
				// Not at once: a replica that answers another generation
				// makes the read a miss (and so the next fill heals it),
				// whatever the order the answers come in.
				t := time.NewTimer(g.replicaGrace())
				defer t.Stop()
				grace = t.C
			}
		}
		if failed > r.n-r.quorum {
			r.short.Add(1)
			return nil, fmt.Errorf("get %q: %d of %d replicas failed: %w", tk, failed, r.n, firstErr)
		}
	}
	if agree >= r.quorum {
		return first, nil
	}
	// Every replica answered or failed, and fewer than a quorum hold one
	// generation: missing (made anew by the next fill), or some hold it and
	// too few to know it is the current one (a miss, healed the same way).
	if agree > 0 {
		r.disagree.Add(1)
	}
	return nil, nil
}

// writeReplicated runs a write of tk on every replica and succeeds when a
// quorum did. The writes left running when it returns go on, bounded by
// the Timeout, even if ctx ends: a replica that takes the write late still
// takes it.
func (g *guard) writeReplicated(ctx context.Context, op, tk string, write func(ctx context.Context, rk string) error) error {
	r := g.reps
	ch := g.fanOut(context.WithoutCancel(ctx), tk, func(ctx context.Context, rk string) ([]byte, error) { return nil, write(ctx, rk) })
	var firstErr error
	done, failed := 0, 0
	var grace <-chan time.Time // once a quorum took it
	for range r.n {
		var a replicaAnswer
		select {
		case a = <-ch:
		case <-grace:
			return nil
		case <-ctx.Done():
			if grace != nil {
				return nil
			}
			return fmt.Errorf("%s %q: %w: %w", op, tk, errCallerGone, ctx.Err())
		}
		if a.err != nil {
			failed++
			if firstErr == nil {
				firstErr = a.err
			}
			if failed > r.n-r.quorum {
				r.short.Add(1)
				return fmt.Errorf("%s %q: %d of %d replicas failed: %w", op, tk, failed, r.n, firstErr)
			}
			continue
		}
		if done++; done >= r.quorum && grace == nil {
			// The others get a moment to land too, so that a read that
			// follows does not find them differ (and fill again).
			t := time.NewTimer(g.replicaGrace())
			defer t.Stop()
			grace = t.C
		}
	}
	if done >= r.quorum {
		return nil
	}
	return fmt.Errorf("%s %q: %w", op, tk, firstErr) // not reached
}

// replicaGrace is how long a replicated read or write that has its quorum
// still waits for the other replicas: the answers of live nodes come
// within it; a hung node's do not, and cost no more than it.
func (g *guard) replicaGrace() time.Duration { return g.deadline() / 10 }

func (g *guard) setReplicated(ctx context.Context, tk string, val []byte, exp time.Duration) error {
	return g.writeReplicated(ctx, "set", tk, func(ctx context.Context, rk string) error { return g.setOne(ctx, rk, val, exp) })
}

func (g *guard) delReplicated(ctx context.Context, tk string) error {
	return g.writeReplicated(ctx, "delete", tk, func(ctx context.Context, rk string) error { return g.delOne(ctx, rk) })
}
