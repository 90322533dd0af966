package cachekit

import (
	"bytes"
	"encoding/hex"
	"testing"
)

func TestCorruptEntryIsAMissAndOverwritten(t *testing.T) {
	m := newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20})
	// The test writes into the store behind the Cache's back, which the hot
	// layer (rightly) does not see.
	c := New(Config{Storage: m, Prefix: "test", HotBytes: -1})
	c.Set("k", []byte("value"), NoExpiry, "t")
	sk := c.keys.storageKey(kindEntry, "k")
	good, _ := m.Get(sk)
	cases := map[string][]byte{
		"random":    []byte("\x8f\x01garbage that is not an entry at all........................"),
		"truncated": good[:len(good)-3],
		"bitflip":   append(append([]byte(nil), good[:20]...), append([]byte{good[20] ^ 0x40}, good[21:]...)...),
		"short":     []byte("CK"),
	}
	for name, b := range cases {
		m.Set(sk, b, 0)
		before := c.Stats().Corrupt
		if _, ok, err := c.Get("k"); ok || err != nil {
			t.Errorf("%s: ok=%v err=%v", name, ok, err)
		}
		if c.Stats().Corrupt <= before {
			t.Errorf("%s: corrupt entry not counted", name)
		}
		v, err := c.GetOrSet("k", NoExpiry, func() ([]byte, error) { return []byte("fresh"), nil })
		if err != nil || string(v) != "fresh" {
			t.Errorf("%s: GetOrSet = %q %v", name, v, err)
		}
		if v, ok, _ := c.Get("k"); !ok || string(v) != "fresh" {
			t.Errorf("%s: not overwritten: %q", name, v)
		}
	}
}

// The stored form of an entry is fixed, byte for byte (written by cf1125c):
// entries written by an earlier version stay readable.
func TestEntryFormat(t *testing.T) {
	var g [generationLen]byte
	for i := range g {
		g[i] = byte(i)
	}
	const want = "434b01000000000000000001000000000000000200000000000000030000000000000004020970726f647563743a31000102030405060708090a0b0c0d0e0f0174000102030405060708090a0b0c0d0e0f76616c7565a912c843"
	b := encodeEntry(nil, &entry{stored: 1, fresh: 2, swr: 3, sie: 4}, []taggedGen{{name: "product:1", gen: g}, {name: "t", gen: g}}, []byte("value"))
	if got := hex.EncodeToString(b); got != want {
		t.Fatalf("encoded\n%s\nwant\n%s", got, want)
	}
	e, err := decodeEntry(b)
	if err != nil || string(e.value) != "value" || e.stored != 1 || e.fresh != 2 || e.swr != 3 || e.sie != 4 {
		t.Fatalf("decoded %+v %v", e, err)
	}
	name, gen, rest := nextTag(e.tags)
	if string(name) != "product:1" || !bytes.Equal(gen, g[:]) {
		t.Fatalf("first tag %q %x", name, gen)
	}
	if name, _, rest = nextTag(rest); string(name) != "t" || len(rest) != 0 {
		t.Fatalf("second tag %q, rest %q", name, rest)
	}
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
