// Package lowleveltest is the behaviour suite of cachekit's low-level calls
// (GetMany, SetMany, DeleteMany, Add, Incr, Touch, Clear, WithVersion,
// IncrVersion), run by the core's tests over every store and by redisbus's
// over redisbus.Atomic.
package lowleveltest

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
)

// Run checks GetMany, SetMany, DeleteMany, Add, Incr, Touch and Clear on
// Caches from newCache, each with a prefix of its own. lose, when set, deletes
// the Cache's key-space generation from its store.
func Run(t *testing.T, newCache func() *cachekit.Cache, lose func(*cachekit.Cache)) {
	s := suite{newCache: newCache, lose: lose}
	for _, b := range behaviours() {
		t.Run(b.name, func(t *testing.T) { b.test(t, s) })
	}
}

// suite is what Run was given: each behaviour's Caches come from newCache.
type suite struct {
	newCache func() *cachekit.Cache
	lose     func(*cachekit.Cache) // nil: the store cannot lose the generation
}

// behaviour is one named subtest of Run.
type behaviour struct {
	name string
	test func(*testing.T, suite)
}

// behaviours lists Run's subtests, in the order they run.
func behaviours() []behaviour {
	return append([]behaviour{
		{"GetMany", testGetMany},
		{"SetManyDeleteMany", testSetManyDeleteMany},
		{"Add", testAdd},
		{"AddOneWinner", testAddOneWinner},
		{"Incr", testIncr},
		{"Incr500", testIncr500},
		{"Touch", testTouch},
		{"Clear", testClear},
		{"BadInput", testBadInput},
		{"TTLMeaning", testTTLMeaning},
	}, versionBehaviours()...)
}

// testGetMany checks that GetMany returns the live entries asked for and
// skips deleted, missing and invalidated ones.
func testGetMany(t *testing.T, s suite) {
	c := s.newCache()
	set(t, c, "a", []byte("1"), time.Minute, "x")
	set(t, c, "b", []byte("2"), time.Minute)
	set(t, c, "gone", []byte("3"), time.Minute, "x")
	c.Delete("gone")
	got, err := c.GetMany("a", "b", "gone", "never")
	if err != nil || len(got) != 2 || string(got["a"]) != "1" || string(got["b"]) != "2" {
		t.Fatalf("GetMany: %q %v", got, err)
	}
	c.InvalidateTags("x")
	if got, _ := c.GetMany("a", "b"); len(got) != 1 || string(got["b"]) != "2" {
		t.Fatalf("GetMany after InvalidateTags: %q", got)
	}
}

// testSetManyDeleteMany checks that SetMany stores every entry with its tags
// and DeleteMany removes the ones named.
func testSetManyDeleteMany(t *testing.T, s suite) {
	c := s.newCache()
	if err := c.SetMany(map[string][]byte{"a": []byte("1"), "b": []byte("2"), "c": []byte("3")}, time.Minute, "t"); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.GetMany("a", "b", "c"); len(got) != 3 {
		t.Fatalf("after SetMany: %q", got)
	}
	if err := c.DeleteMany("a", "b"); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.GetMany("a", "b", "c"); len(got) != 1 || string(got["c"]) != "3" {
		t.Fatalf("after DeleteMany: %q", got)
	}
	c.InvalidateTags("t")
	if _, ok, _ := c.Get("c"); ok {
		t.Fatal("SetMany's tag did not invalidate")
	}
}

// testAdd checks that Add stores only over an absent (or invalidated) key
// and never overwrites.
func testAdd(t *testing.T, s suite) {
	c := s.newCache()
	if ok, err := c.Add("k", []byte("first"), time.Minute, "t"); !ok || err != nil {
		t.Fatalf("Add of an absent key: %v %v", ok, err)
	}
	if ok, err := c.Add("k", []byte("second"), time.Minute); ok || err != nil {
		t.Fatalf("Add of a present key: %v %v", ok, err)
	}
	if v, _, _ := c.Get("k"); string(v) != "first" {
		t.Fatalf("Add overwrote: %q", v)
	}
	c.InvalidateTags("t") // an invalidated entry is absent
	if ok, _ := c.Add("k", []byte("third"), time.Minute); !ok {
		t.Fatal("Add over an invalidated entry refused")
	}
	if v, _, _ := c.Get("k"); string(v) != "third" {
		t.Fatalf("after Add: %q", v)
	}
}

// testAddOneWinner checks that of 50 concurrent Adds of one key, exactly one
// wins.
func testAddOneWinner(t *testing.T, s suite) {
	c := s.newCache()
	var wins atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ok, err := c.Add("k", []byte(strconv.Itoa(i)), time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d of 50 concurrent Adds won", n)
	}
}

// testIncr checks that Incr adds to a number, keeps its tags, and refuses a
// missing key, a word and an overflow.
func testIncr(t *testing.T, s suite) {
	c := s.newCache()
	if _, err := c.Incr("missing", 1); !errors.Is(err, cachekit.ErrNotFound) {
		t.Fatalf("Incr of a missing key: %v", err)
	}
	set(t, c, "word", []byte("ten"), time.Minute)
	if _, err := c.Incr("word", 1); !errors.Is(err, cachekit.ErrNotNumber) {
		t.Fatalf("Incr of a word: %v", err)
	}
	if v, _, _ := c.Get("word"); string(v) != "ten" {
		t.Fatalf("Incr of a word changed it: %q", v)
	}
	set(t, c, "n", []byte("10"), time.Minute, "t")
	if n, err := c.Incr("n", 5); n != 15 || err != nil {
		t.Fatalf("Incr +5: %d %v", n, err)
	}
	if n, err := c.Incr("n", -20); n != -5 || err != nil {
		t.Fatalf("Incr -20: %d %v", n, err)
	}
	if v, _, _ := c.Get("n"); string(v) != "-5" {
		t.Fatalf("after Incr: %q", v)
	}
	set(t, c, "max", []byte("9223372036854775807"), time.Minute)
	if _, err := c.Incr("max", 1); !errors.Is(err, cachekit.ErrNotNumber) {
		t.Fatalf("Incr past MaxInt64: %v", err)
	}
	c.InvalidateTags("t") // Incr keeps the entry's tags
	if _, err := c.Incr("n", 1); !errors.Is(err, cachekit.ErrNotFound) {
		t.Fatalf("Incr of an invalidated entry: %v", err)
	}
}

// testIncr500 checks that 500 concurrent Incr of one key lose no increment.
func testIncr500(t *testing.T, s suite) {
	c := s.newCache()
	set(t, c, "n", []byte("0"), time.Minute)
	var wg sync.WaitGroup
	for range 500 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Incr("n", 1); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if v, _, _ := c.Get("n"); string(v) != "500" {
		t.Fatalf("500 concurrent Incr: %q", v)
	}
}

// testTouch checks that Touch gives a present entry a new TTL, refuses a
// missing or invalidated key, and expires an entry at once for a negative
// TTL.
func testTouch(t *testing.T, s suite) {
	c := s.newCache()
	if ok, err := c.Touch("missing", time.Minute); ok || err != nil {
		t.Fatalf("Touch of a missing key: %v %v", ok, err)
	}
	set(t, c, "k", []byte("v"), time.Second, "t")
	if ok, err := c.Touch("k", time.Hour); !ok || err != nil {
		t.Fatalf("Touch: %v %v", ok, err)
	}
	r, _ := c.Lookup("k")
	if r.Status != cachekit.Hit || time.Until(r.Expires) < 50*time.Minute {
		t.Fatalf("after Touch: %v, expires in %v", r.Status, time.Until(r.Expires))
	}
	set(t, c, "short", []byte("v"), time.Hour)
	c.Touch("short", time.Second)
	time.Sleep(1100 * time.Millisecond)
	if _, ok, _ := c.Get("short"); ok {
		t.Fatal("served after the TTL Touch gave it")
	}
	if _, ok, _ := c.Get("k"); !ok {
		t.Fatal("entry Touched to an hour lost after a second")
	}
	c.InvalidateTags("t")
	if ok, _ := c.Touch("k", time.Hour); ok {
		t.Fatal("Touch revived an invalidated entry")
	}
	set(t, c, "gone", []byte("v"), time.Hour)
	if ok, err := c.Touch("gone", -time.Second); !ok || err != nil {
		t.Fatalf("Touch with a negative TTL: %v %v", ok, err)
	}
	if _, ok, _ := c.Get("gone"); ok {
		t.Fatal("served after Touch with a negative TTL (Django: expired at once)")
	}
}

// testClear checks that Clear empties this Cache's key space only, and a
// lost key-space generation never brings cleared entries back.
func testClear(t *testing.T, s suite) {
	c := s.newCache()
	other := s.newCache()
	set(t, other, "k", []byte("other"), time.Minute)
	c.SetMany(map[string][]byte{"a": []byte("1"), "b": []byte("2")}, time.Minute)
	c.Add("c", []byte("3"), time.Minute)
	set(t, c, "n", []byte("1"), time.Minute, "t")
	if err := c.Clear(); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.GetMany("a", "b", "c", "n"); len(got) != 0 {
		t.Fatalf("after Clear: %q", got)
	}
	if _, err := c.Incr("n", 1); !errors.Is(err, cachekit.ErrNotFound) {
		t.Fatalf("Incr after Clear: %v", err)
	}
	if v, ok, _ := other.Get("k"); !ok || string(v) != "other" {
		t.Fatal("Clear reached another prefix")
	}
	if ok, _ := c.Add("a", []byte("new"), time.Minute); !ok {
		t.Fatal("Add after Clear refused")
	}
	if v, _, _ := c.Get("a"); string(v) != "new" {
		t.Fatalf("set after Clear: %q", v)
	}
	// A lost key-space generation never brings cleared entries back.
	c.Clear()
	if s.lose != nil {
		s.lose(c)
	}
	set(t, c, "fresh", []byte("v"), time.Minute)
	if _, ok, _ := c.Get("a"); ok {
		t.Fatal("cleared entry revived by a lost generation")
	}
}

// testBadInput checks that every call refuses an empty key and an empty tag,
// and changes nothing.
func testBadInput(t *testing.T, s suite) {
	c := s.newCache()
	set(t, c, "a", []byte("1"), time.Minute)
	calls := map[string]error{}
	_, calls["GetMany"] = c.GetMany("a", "")
	calls["SetMany"] = c.SetMany(map[string][]byte{"b": []byte("2"), "": []byte("x")}, time.Minute)
	calls["DeleteMany"] = c.DeleteMany("a", "")
	_, calls["Add"] = c.Add("", []byte("x"), time.Minute)
	_, calls["Incr"] = c.Incr("", 1)
	_, calls["Touch"] = c.Touch("", time.Minute)
	calls["SetMany tag"] = c.SetMany(map[string][]byte{"b": []byte("2")}, time.Minute, "")
	_, calls["Add tag"] = c.Add("b", []byte("2"), time.Minute, "")
	for name, err := range calls {
		if err == nil {
			t.Errorf("%s: no error for an empty key, tag or negative TTL", name)
		}
	}
	if got, _ := c.GetMany("a", "b"); len(got) != 1 || string(got["a"]) != "1" {
		t.Fatalf("a call that failed changed something: %q", got)
	}
}

// set is Cache.Set, failing the test on an error.
func set(t *testing.T, c *cachekit.Cache, key string, value []byte, ttl time.Duration, tags ...string) {
	t.Helper()
	if err := c.Set(key, value, ttl, tags...); err != nil {
		t.Fatalf("Set %q: %v", key, err)
	}
}
