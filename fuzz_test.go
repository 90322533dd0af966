package cachekit

import (
	"bytes"
	"strings"
	"testing"
)

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

// decodeEntry never panics on bytes read back from a store, and what
// encodeEntry writes decodes to the same thing.
func FuzzDecodeEntry(f *testing.F) {
	good := encodeEntry(nil, &entry{stored: 1, fresh: 2, swr: 3, sie: 4},
		[]taggedGen{{name: "t", gen: newGeneration(5)}}, []byte("value"))
	f.Add(good, []byte("value"), "tag")
	f.Add([]byte("CK\x01\x00"), []byte{}, "")
	f.Add(good[:len(good)-1], []byte("v"), "a b")
	f.Fuzz(func(t *testing.T, raw, value []byte, tag string) {
		decodeEntry(raw) // must not panic
		var tags []taggedGen
		if tag != "" {
			tags = append(tags, taggedGen{name: tag, gen: newGeneration(7)})
		}
		enc := encodeEntry(nil, &entry{stored: 9, fresh: 10}, tags, value)
		e, err := decodeEntry(enc)
		if err != nil {
			t.Fatalf("round trip: %v", err)
		}
		if !bytes.Equal(e.value, value) || e.stored != 9 || e.fresh != 10 {
			t.Fatalf("round trip changed the entry: %+v", e)
		}
		n := 0
		for rest := e.tags; len(rest) > 0; n++ {
			var name, gen []byte
			name, gen, rest = nextTag(rest)
			if string(name) != tag || !bytes.Equal(gen, tags[0].gen[:]) {
				t.Fatalf("tag %q/%x", name, gen)
			}
		}
		if n != len(tags) {
			t.Fatalf("%d tags back, want %d", n, len(tags))
		}
	})
}
