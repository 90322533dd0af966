package cachekit

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cachekit/cachekit/internal/keys"
)

func TestAnyStringIsAKey(t *testing.T) {
	c, m := newTestCache(t)
	names := []string{
		strings.Repeat("long", 200), "with space", "ctrl\x00\x01\n", "ünïcødé", "#hash", "a:b:c",
	}
	for i, k := range names {
		c.Set(k, []byte(fmt.Sprint(i)), NoExpiry)
	}
	for i, k := range names {
		v, ok, _ := c.Get(k)
		if !ok || string(v) != fmt.Sprint(i) {
			t.Errorf("key %q: %q %v", k, v, ok)
		}
		sk := c.keys.storageKey(kindEntry, k)
		if len(sk) > MaxKeyLen || !keys.Safe(strings.TrimPrefix(sk, "test:")) && !strings.Contains(sk, ":#") {
			t.Errorf("storage key %q unsafe for Memcached", sk)
		}
	}
	_ = m
}

// The storage key format is fixed, byte for byte: entries and generations
// written by an earlier version stay readable.
func TestStorageKeyFormat(t *testing.T) {
	ks := newKeyspace("site", 3)
	for _, tc := range []struct {
		kind      byte
		key, want string
	}{
		{kindEntry, "page:/x?y=1", "site:3:e:page:/x?y=1"},
		{kindTag, "product:1", "site:3:t:product:1"},
		{kindEntry, "with space", "site:3:e:#b8b8f25a5fc711caea1cfebfe02359e3ce2b9a8f"},
		{kindEntry, "#x", "site:3:e:#acfa92747bb3b6fcdd0e61da682d2fc4fa45c96f"},
		{kindEntry, strings.Repeat("x", 300), "site:3:e:#0d4e2ca9e9cbced7a7a5380eb29e1a3783b9b6d0"},
		{kindEntry, "ü", "site:3:e:#607474ca475a9724d7360aba71a56d5df77e6135"},
	} {
		if got := ks.storageKey(tc.kind, tc.key); got != tc.want {
			t.Errorf("storageKey(%c, %.20q) = %q, want %q", tc.kind, tc.key, got, tc.want)
		}
	}
}

// Any string is a valid key on every store: the storage key is short,
// printable ASCII without spaces, and distinct keys stay distinct.
func FuzzKey(f *testing.F) {
	for _, s := range []string{"", "a", "page:/x?y=1", "with space", "#x", strings.Repeat("z", 300), "\x00\xff", "ü"} {
		f.Add(s, "other")
	}
	ks := newKeyspace("site", 3)
	f.Fuzz(func(t *testing.T, a, b string) {
		ka, kb := ks.storageKey(kindEntry, a), ks.storageKey(kindEntry, b)
		if len(ka) > MaxKeyLen {
			t.Fatalf("key %q: storage key of %d bytes", a, len(ka))
		}
		for i := 0; i < len(ka); i++ {
			if ka[i] <= ' ' || ka[i] >= 0x7f {
				t.Fatalf("key %q: storage key %q has byte %q", a, ka, ka[i])
			}
		}
		if a != b && ka == kb {
			t.Fatalf("keys %q and %q collide as %q", a, b, ka)
		}
		if ka != ks.storageKey(kindEntry, a) {
			t.Fatal("not deterministic")
		}
		if ka == ks.storageKey(kindTag, a) {
			t.Fatal("entry and tag keys collide")
		}
	})
}
