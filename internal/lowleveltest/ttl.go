package lowleveltest

import (
	"math"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
)

// ttlCase is one TTL value and what it must mean in every call.
type ttlCase struct {
	name   string
	ttl    time.Duration
	stored bool          // the call leaves a fresh entry
	life   time.Duration // how long it is fresh for when stored: 0 for no expiry
}

// ttlCases are the TTL meanings (cachekit.NoExpiry's doc): a duration,
// NoExpiry, DefaultTTL (Config.DefaultTTL, 300 s by default), 0 and negative
// (nothing stored, the key deleted), and the value time.Until saturates to.
func ttlCases() []ttlCase {
	return []ttlCase{
		{"minute", time.Minute, true, time.Minute},
		{"NoExpiry", cachekit.NoExpiry, true, 0},
		{"century", 200 * 365 * 24 * time.Hour, true, 0},
		{"DefaultTTL", cachekit.DefaultTTL, true, cachekit.DefaultEntryTTL},
		{"zero", 0, false, 0},
		{"negative", -time.Second, false, 0},
		{"MinInt64", math.MinInt64, false, 0},
	}
}

// ttlCall is one call that takes a TTL, run on key over an entry "old"
// already stored under it for an hour (Add runs on a fresh key).
type ttlCall struct {
	name     string
	fresh    bool // runs on a key with nothing stored
	replaces bool // a TTL that stores nothing deletes the old entry
	run      func(c *cachekit.Cache, key string, ttl time.Duration) error
}

func ttlCalls() []ttlCall {
	fill := func() ([]byte, error) { return []byte("new"), nil }
	return []ttlCall{
		{"Set", false, true, func(c *cachekit.Cache, k string, ttl time.Duration) error {
			return c.Set(k, []byte("new"), ttl, "t")
		}},
		{"SetMany", false, true, func(c *cachekit.Cache, k string, ttl time.Duration) error {
			return c.SetMany(map[string][]byte{k: []byte("new")}, ttl, "t")
		}},
		{"Touch", false, true, func(c *cachekit.Cache, k string, ttl time.Duration) error {
			_, err := c.Touch(k, ttl)
			return err
		}},
		{"Add", true, false, func(c *cachekit.Cache, k string, ttl time.Duration) error {
			_, err := c.Add(k, []byte("new"), ttl, "t")
			return err
		}},
		{"GetOrSet", true, false, func(c *cachekit.Cache, k string, ttl time.Duration) error {
			_, err := c.GetOrSet(k, ttl, fill, "t")
			return err
		}},
		{"Fetch", true, false, func(c *cachekit.Cache, k string, ttl time.Duration) error {
			_, err := cachekit.Fetch(c, k, ttl, func() (string, error) { return "new", nil }, "t")
			return err
		}},
		{"Load", true, false, func(c *cachekit.Cache, k string, ttl time.Duration) error {
			_, err := c.Load(k, cachekit.Policy{TTL: ttl, Tags: []string{"t"}}, func(*cachekit.Policy) ([]byte, error) { return fill() })
			return err
		}},
		{"LoadFillSetsTTL", true, false, func(c *cachekit.Cache, k string, ttl time.Duration) error {
			_, err := c.Load(k, cachekit.Policy{TTL: time.Hour}, func(p *cachekit.Policy) ([]byte, error) {
				p.TTL = ttl
				return fill()
			})
			return err
		}},
	}
}

// testTTLMeaning checks that every TTL value means the same in every call
// that takes one.
func testTTLMeaning(t *testing.T, s suite) {
	c := s.newCache()
	for _, call := range ttlCalls() {
		for _, tc := range ttlCases() {
			key := call.name + "/" + tc.name
			if !call.fresh {
				set(t, c, key, []byte("old"), time.Hour)
			}
			before := time.Now()
			if err := call.run(c, key, tc.ttl); err != nil {
				t.Errorf("%s: %v", key, err)
				continue
			}
			r, err := c.Lookup(key)
			if err != nil {
				t.Errorf("%s: Lookup: %v", key, err)
				continue
			}
			switch {
			case !tc.stored && r.Status == cachekit.Hit && (call.replaces || call.fresh):
				t.Errorf("%s: a fresh entry is left (%q), want none", key, r.Value)
			case !tc.stored:
			case r.Status != cachekit.Hit:
				t.Errorf("%s: %v, want a hit", key, r.Status)
			case tc.life == 0 && !r.Expires.IsZero():
				t.Errorf("%s: expires at %v, want never", key, r.Expires)
			case tc.life != 0 && (r.Expires.Before(before.Add(tc.life-time.Second)) || r.Expires.After(time.Now().Add(tc.life+time.Second))):
				t.Errorf("%s: expires in %v, want %v", key, time.Until(r.Expires), tc.life)
			}
		}
	}
	// A TTL that stores nothing: Add reports whether it would have won.
	set(t, c, "present", []byte("v"), time.Hour)
	if ok, err := c.Add("present", []byte("x"), 0); ok || err != nil {
		t.Errorf("Add with TTL 0 over a present key: %v %v", ok, err)
	}
	if ok, err := c.Add("absent", []byte("x"), 0); !ok || err != nil {
		t.Errorf("Add with TTL 0 of an absent key: %v %v", ok, err)
	}
	// GetOrSet with TTL 0 serves what is there (Django's get_or_set reads
	// first) and runs its load on every miss.
	if v, err := c.GetOrSet("present", 0, func() ([]byte, error) { return []byte("x"), nil }); string(v) != "v" || err != nil {
		t.Errorf("GetOrSet with TTL 0 over a present key: %q %v", v, err)
	}
	runs := 0
	for range 2 {
		_, _ = c.GetOrSet("uncached", 0, func() ([]byte, error) { runs++; return []byte("x"), nil })
	}
	if runs != 2 {
		t.Errorf("GetOrSet with TTL 0 ran its load %d times of 2", runs)
	}
}
