package cachekit

import (
	"fmt"
	"hash/crc32"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/cachekit/cachekit/internal/testserver"
)

// The replicas of a tag's generation land on distinct servers of a
// gomemcache pool of 3, 4 or 6 and on distinct thirds of Redis Cluster's
// slots; keys that share a hash tag land together; no two keys or
// replicas share a storage key.
func TestPlacement(t *testing.T) {
	c := New(Config{Storage: shared{newTestMemory(t, MemoryConfig{MaxBytes: 1 << 20})}, Prefix: "site", Replicas: 3})
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
	r := c.guard.reps
	seen := map[string]string{}
	claim := func(skey, what string) {
		if prev, ok := seen[skey]; ok {
			t.Fatalf("%s and %s share the storage key %q", prev, what, skey)
		}
		seen[skey] = what
	}
	for i := 0; i < 500; i++ {
		name := fmt.Sprint("product:", i)
		if i%50 == 0 {
			name = strings.Repeat("long tag ", 30) + name // digested
		}
		tk := c.keys.storageKey(kindTag, name)
		for _, n := range []uint32{3, 4, 6} {
			nodes := map[uint32]bool{}
			for j := range r.n {
				nodes[crc32.ChecksumIEEE([]byte(r.ks.replicaKey(r.tags, tk, j)))%n] = true
			}
			if len(nodes) != r.n {
				t.Fatalf("tag %q: replicas on %d of %d servers of a pool of %d", name, len(nodes), r.n, n)
			}
		}
		bands := map[int]bool{}
		for j := range r.n {
			rk := r.ks.replicaKey(r.tags, tk, j)
			if len(rk) > MaxKeyLen {
				t.Fatalf("replica key %q is %d bytes", rk, len(rk))
			}
			claim(rk, fmt.Sprint("replica ", j, " of ", name))
			tag, ok := hashTag(rk[len(c.keys.head)+2:])
			if !ok {
				t.Fatalf("replica key %q has no hash tag", rk)
			}
			bands[redisSlot(tag)*3/16384] = true
		}
		if len(bands) != 3 {
			t.Fatalf("tag %q: replicas on %d thirds of the cluster's slots", name, len(bands))
		}
	}
	// A path's keys share a hash tag: one server, whatever their length.
	for i := 0; i < 200; i++ {
		tag := fmt.Sprintf("{%06x}", i*7919)
		ks := []string{"fcr:" + tag + "/p", "fcf:" + tag + "/p", "fcp:" + tag + "|nonce|G0h" + strings.Repeat("q", i)}
		want := crc32.ChecksumIEEE([]byte(c.keys.storageKey(kindEntry, ks[0]))) % placeMod
		for _, k := range ks {
			skey := c.keys.storageKey(kindEntry, k)
			if got := crc32.ChecksumIEEE([]byte(skey)) % placeMod; got != want {
				t.Fatalf("%q is placed at %d, its record at %d", skey, got, want)
			}
			if !strings.Contains(skey, tag) || len(skey) > MaxKeyLen {
				t.Fatalf("%q lost its hash tag or is too long", skey)
			}
			claim(skey, k)
		}
		// A key that extends a placed key, by the suffix's length or
		// otherwise, is another key.
		for _, k := range []string{ks[0] + "00", ks[0] + "0", ks[0] + "zz"} {
			skey := c.keys.storageKey(kindEntry, k)
			if _, dup := seen[skey]; dup {
				t.Fatalf("%q and another key share %q", k, skey)
			}
		}
	}
	// A key that is not tagged stays as it was.
	if got := c.keys.storageKey(kindEntry, "plain"); got != "site:0:e:plain" {
		t.Fatalf("untagged key %q", got)
	}
}

func TestHashTag(t *testing.T) {
	for k, want := range map[string]string{"fcr:{abc}/x": "abc", "{a}": "a", "{}x": "", "x{a b}": "", "{" + strings.Repeat("a", 17) + "}": "",
		strings.Repeat("x", 40) + "{a}": "", "{a{b}": "a{b"} {
		got, ok := hashTag(k)
		if got != want || ok != (want != "") {
			t.Errorf("hashTag(%q) = %q, %v; want %q", k, got, ok, want)
		}
	}
}

func TestReplicasConfig(t *testing.T) {
	for _, r := range []int{-1, 2, 4, 11} {
		if New(Config{Storage: NewDummy(), Replicas: r}).Err() == nil {
			t.Errorf("Replicas %d accepted", r)
		}
	}
	if New(Config{Storage: NewDummy(), Replicas: 3, Timeout: -1}).Err() == nil {
		t.Error("Replicas without a Timeout accepted")
	}
}

// pool is a gomemcache pool of three real memcached servers; refuse makes
// every call for a key of that server fail at once (its node unreachable:
// the server keeps what it holds).
type pool struct {
	*memcachedStore
	refuse  atomic.Int32 // 1 + the server's index; 0: none
	refuse2 atomic.Int32
}

func newPool(t *testing.T) *pool {
	var addrs []string
	for range 3 {
		addrs = append(addrs, testserver.Memcached(t).Addr)
	}
	c := memcache.New(addrs...)
	c.Timeout = time.Second
	return &pool{memcachedStore: &memcachedStore{c}}
}

func (p *pool) fault(k string) error {
	n := int32(crc32.ChecksumIEEE([]byte(k))%3) + 1
	if p.refuse.Load() == n || p.refuse2.Load() == n {
		return errInjected
	}
	return nil
}

func (p *pool) Get(k string) ([]byte, error) {
	if err := p.fault(k); err != nil {
		return nil, err
	}
	return p.memcachedStore.Get(k)
}

func (p *pool) Set(k string, v []byte, d time.Duration) error {
	if err := p.fault(k); err != nil {
		return err
	}
	return p.memcachedStore.Set(k, v, d)
}

func (p *pool) Delete(k string) error {
	if err := p.fault(k); err != nil {
		return err
	}
	return p.memcachedStore.Delete(k)
}

// An invalidation that one server missed (unreachable at the time, then
// back with the old generation) never brings the entry back, on this
// instance or on another; the next fill heals the replicas.
func TestReplicaThatMissedABumpNeverRevives(t *testing.T) {
	p := newPool(t)
	prefix := fmt.Sprint("r", time.Now().UnixNano()%1e9)
	cfg := Config{Storage: p, Prefix: prefix, Replicas: 3, Logger: quiet()}
	a := New(cfg)
	for node := int32(1); node <= 3; node++ {
		key, tag := fmt.Sprint("k", node), fmt.Sprint("t", node)
		if err := a.Set(key, []byte("old"), time.Hour, tag); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := a.Get(key); !ok {
			t.Fatal("no hit before the invalidation")
		}
		p.refuse.Store(node)
		if err := a.InvalidateTags(tag); err != nil {
			t.Fatalf("one server of three down: InvalidateTags: %v", err)
		}
		if _, ok, _ := a.Get(key); ok {
			t.Fatal("invalidated entry served while the server is down")
		}
		p.refuse.Store(0) // back, with the generation from before
		b := New(cfg)     // another instance: nothing pending
		for i := 0; i < 20; i++ {
			for _, c := range []*Cache{a, b} {
				if v, ok, _ := c.Get(key); ok {
					t.Fatalf("server %d back: invalidated entry %q served (read %d)", node, v, i)
				}
			}
		}
		healed := false
		for i := 0; i < 3 && !healed; i++ {
			if _, err := b.GetOrSet(key, time.Hour, func() ([]byte, error) { return []byte("new"), nil }, tag); err != nil {
				t.Fatal(err)
			}
			v, ok, _ := a.Get(key)
			healed = ok && string(v) == "new"
		}
		if !healed {
			t.Fatalf("server %d back: still no hit after three fills: %+v", node, b.Stats())
		}
	}
}

// With two servers of three unreachable, an invalidation fails (it is an
// error, and pending here) and reads are misses, never the old entry.
func TestReplicasWithoutAMajority(t *testing.T) {
	p := newPool(t)
	c := New(Config{Storage: p, Prefix: fmt.Sprint("m", time.Now().UnixNano()%1e9), Replicas: 3, Logger: quiet()})
	if err := c.Set("k", []byte("v"), time.Hour, "t"); err != nil {
		t.Fatal(err)
	}
	p.refuse.Store(1)
	p.refuse2.Store(2)
	if err := c.InvalidateTags("t"); err == nil {
		t.Fatal("InvalidateTags succeeded with two servers of three down")
	}
	if _, ok, _ := c.Get("k"); ok {
		t.Fatal("entry served with its tag pending")
	}
	if s := c.Stats(); s.ReplicaShort == 0 {
		t.Fatalf("no short quorum counted: %+v", s)
	}
	p.refuse.Store(0)
	p.refuse2.Store(0)
	deadline := time.Now().Add(10 * time.Second)
	for c.pending.n.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // the retry lands
	}
	if _, ok, _ := New(Config{Storage: p, Prefix: c.keys.head[:len(c.keys.head)-3], Replicas: 3, Logger: quiet()}).Get("k"); ok {
		t.Fatal("another instance serves the entry after the retried invalidation")
	}
}

// Replica keys fit the shortest MaxKeyLen the Config allows, and stay apart.
func TestReplicaKeysFitShortKeys(t *testing.T) {
	for _, limit := range []int{57, 64, 70, 80} { // 57: the least with this Prefix
		c := New(Config{Storage: shared{newTestMemory(t, MemoryConfig{MaxBytes: 1 << 20})}, Prefix: "tabcdefghij", MaxKeyLen: limit, Replicas: 3})
		if err := c.Err(); err != nil {
			t.Fatal(err)
		}
		r, seen := c.guard.reps, map[string]bool{}
		for _, name := range []string{"a", "product:1", strings.Repeat("x", 30), strings.Repeat("y", 300)} {
			for j := range r.n {
				rk := r.ks.replicaKey(r.tags, c.keys.storageKey(kindTag, name), j)
				if len(rk) > limit || seen[rk] {
					t.Fatalf("MaxKeyLen %d: replica key %q (%d bytes, seen %v)", limit, rk, len(rk), seen[rk])
				}
				seen[rk] = true
			}
		}
	}
}

// A replica lost (evicted, its server restarted empty) costs no hit: the
// other two still agree.
func TestLostReplicaKeepsHits(t *testing.T) {
	p := newPool(t)
	c := New(Config{Storage: p, Prefix: fmt.Sprint("l", time.Now().UnixNano()%1e9), Replicas: 3, Logger: quiet()})
	if err := c.Set("k", []byte("v"), time.Hour, "t"); err != nil {
		t.Fatal(err)
	}
	r := c.guard.reps
	if err := p.memcachedStore.Delete(r.ks.replicaKey(r.tags, c.keys.storageKey(kindTag, "t"), 1)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, ok, err := c.Get("k"); !ok {
			t.Fatalf("read %d: a miss with one replica lost (%v): %+v", i, err, c.Stats())
		}
	}
	if err := c.InvalidateTags("t"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.Get("k"); ok {
		t.Fatal("invalidated entry served")
	}
}
