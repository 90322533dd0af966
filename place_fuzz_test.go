package cachekit

import (
	"strings"
	"testing"
)

// Placed storage keys stay within the limit, keep the hash tag they were
// placed by, and two keys never share one.
func FuzzPlacedKeys(f *testing.F) {
	f.Add("fcr:{abc}/p", "fcr:{abc}/p00")
	f.Add("{a}", "{a}x")
	f.Add("fcp:{0c975e}|"+strings.Repeat("q", 200), "#x")
	f.Add("x{a b}", "{}")
	ks := keyspace{head: "site:0:", max: 64, place: true}
	f.Fuzz(func(t *testing.T, a, b string) {
		sa, sb := ks.storageKey(kindEntry, a), ks.storageKey(kindEntry, b)
		if a != b && sa == sb {
			t.Fatalf("%q and %q share the storage key %q", a, b, sa)
		}
		if len(sa) > ks.limit() {
			t.Fatalf("%q: storage key %q is %d bytes", a, sa, len(sa))
		}
		if tag, ok := hashTag(a); ok && strings.Contains(sa, "{") && !strings.Contains(sa, "{"+tag+"}") {
			t.Fatalf("%q: storage key %q lost the hash tag %q", a, sa, tag)
		}
	})
}
