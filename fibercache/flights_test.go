package fibercache

import (
	"strconv"
	"testing"
	"time"
)

// TestMarksBounded: hit-for-miss marks for any number of keys stay
// bounded, expired ones make room, and a running render is never dropped.
func TestMarksBounded(t *testing.T) {
	var ms marks
	ms.init()
	for i := 0; i < 20000; i++ {
		k := strconv.Itoa(i)
		ms.end(k, ms.begin(k), 50*time.Millisecond)
	}
	if n := ms.n.Load(); n > maxMarks*markShards || n <= 0 {
		t.Fatalf("%d marks held, bound %d", n, maxMarks*markShards)
	}
	// The latest key is kept unless its own shard was full of marks that
	// had not expired (on a slow machine other shards may have swept some).
	if st, _ := ms.check("19999"); st != markHitForMiss && len(ms.shard("19999").m) < maxMarks {
		t.Errorf("latest key not a hit-for-miss, its shard holding %d of %d", len(ms.shard("19999").m), maxMarks)
	}
	time.Sleep(60 * time.Millisecond)
	for i := 0; i < 100; i++ {
		k := "new" + strconv.Itoa(i)
		ms.end(k, ms.begin(k), time.Minute)
		if st, _ := ms.check(k); st != markHitForMiss {
			t.Fatalf("%s: expired marks made no room", k)
		}
	}
	running := ms.begin("run")
	if ms.begin("run") != nil {
		t.Errorf("a second render of a running key began")
	}
	if st, mk := ms.check("run"); st != markFlight || mk != running {
		t.Errorf("running render not found")
	}
	ms.end("run", running, 0)
	if st, _ := ms.check("run"); st != markNone {
		t.Errorf("a storable render left a mark")
	}
	if running.wait(time.Millisecond) != true {
		t.Errorf("wait on an ended render")
	}
	var total int
	for i := range ms.shards {
		total += len(ms.shards[i].m)
	}
	expect(t, "count matches the shards", ms.n.Load(), int64(total))
}
