package cachekit_test

import (
	"fmt"
	"time"

	"github.com/cachekit/cachekit"
)

// One TTL meaning in every call, as Django's timeout: a duration, NoExpiry
// (timeout=None), DefaultTTL (the omitted timeout: Config.DefaultTTL), and
// 0 or negative (nothing stored; Set deletes the key).
func ExampleNoExpiry() {
	cache := cachekit.New(cachekit.Config{DefaultTTL: 10 * time.Minute}) // Django's TIMEOUT

	cache.Set("motd", []byte("hello"), cachekit.NoExpiry)          // timeout=None
	cache.Set("banner", []byte("sale"), cachekit.DefaultTTL)       // timeout omitted: 10 minutes
	cache.Set("flash", []byte("saved"), 30*time.Second)            // timeout=30
	cache.Set("banner", []byte("ignored"), 0)                      // timeout=0: deleted
	added, _ := cache.Add("lock", []byte("1"), 0)                  // stores nothing; reports it would have won
	v, _ := cache.GetOrSet("uncached", 0, func() ([]byte, error) { // runs on every miss, stores nothing
		return []byte("computed"), nil
	})

	for _, k := range []string{"motd", "banner", "flash", "lock", "uncached"} {
		r, _ := cache.Lookup(k)
		fmt.Printf("%s: %v, never expires: %v\n", k, r.Status, r.Status == cachekit.Hit && r.Expires.IsZero())
	}
	fmt.Println(added, string(v))
	// Output:
	// motd: HIT, never expires: true
	// banner: MISS, never expires: false
	// flash: HIT, never expires: false
	// lock: MISS, never expires: false
	// uncached: MISS, never expires: false
	// true computed
}
