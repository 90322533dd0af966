package fibercache

import (
	"strings"
	"testing"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
)

// A record lost to eviction must never bring back what was invalidated,
// whether the store is the embedded Memory (read through the core's hot
// layer) or another one.
func TestLostRecordBringsNothingBack(t *testing.T) {
	mem, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for _, store := range []fiber.Storage{mem, &recordingStore{Memory: mem}} {
		_ = mem.Reset()
		cache := cachekit.New(cachekit.Config{Storage: store})
		app := newApp()
		app.Use(New(Config{Cache: cache}))
		h, _ := counting("page")
		app.Get("/p", h)
		rkey := string(appendPathKey(nil, keyRecord, "/p"))
		get(t, app, "/p")
		expect(t, "stored", get(t, app, "/p").body, "page 1")
		if err := InvalidatePath(cache, "/p"); err != nil {
			t.Fatal(err)
		}
		expect(t, "invalidated", get(t, app, "/p").body, "page 2")
		// The store evicts the record; the page stored under it is still
		// valid (it was rendered after the invalidation), and page 1 must
		// never come back.
		if err := cache.Delete(rkey); err != nil {
			t.Fatal(err)
		}
		r := get(t, app, "/p")
		if r.body == "page 1" {
			t.Fatalf("%T: invalidated page came back", store)
		}
		for i := 0; i < 2; i++ {
			if r := get(t, app, "/p"); r.body == "page 1" {
				t.Fatalf("%T: invalidated page came back", store)
			}
		}
	}
}

func TestRecordCodec(t *testing.T) {
	rec := newRecord([]byte("Accept-Encoding,X-Theme"), newNonce())
	enc := encodeRecord(rec)
	fence := newNonce()
	v1 := append([]byte("FR\x01"), enc[3:len(enc)-len(rec.fence)-1]...) // format 1: no fence
	cases := []struct {
		name     string
		b        []byte
		ok, tomb bool
		fence    []byte
	}{
		{"round trip", enc, true, false, rec.fence},
		{"no vary, no fence", encodeRecord(newRecord(nil, nil)), true, false, nil},
		{"long vary", encodeRecord(newRecord([]byte(strings.Repeat("X-Long-Header-Name,", 100)), nil)), true, false, nil},
		{"tombstone", encodeTombstone(fence), true, true, fence},
		{"empty", nil, false, false, nil},
		{"old format", append([]byte("R1"), rec.nonce...), false, false, nil},
		{"format 1", v1, false, false, nil},
		{"truncated", enc[:len(enc)-1], false, false, nil},
		{"trailing bytes", append(append([]byte(nil), enc...), 'x'), false, false, nil},
		{"short nonce", encodeRecord(record{nonce: []byte("abc")}), false, false, nil},
		{"tombstone with a Vary list", encodeRecord(record{vary: []byte("X-A"), fence: fence}), false, false, nil},
		{"long fence", encodeRecord(record{nonce: rec.nonce, fence: []byte(strings.Repeat("f", nonceLen+1))}), false, false, nil},
		{"wrong magic", append([]byte("FC\x02"), enc[3:]...), false, false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, tomb, ok := decodeRecord(tc.b)
			if ok != tc.ok || tomb != tc.tomb {
				t.Fatalf("decodeRecord ok = %v tomb = %v, want %v %v", ok, tomb, tc.ok, tc.tomb)
			}
			if ok && string(got.fence) != string(tc.fence) {
				t.Errorf("fence %q, want %q", got.fence, tc.fence)
			}
			if tc.name == "round trip" && !got.equal(rec) {
				t.Errorf("decoded %q %q, want %q %q", got.nonce, got.vary, rec.nonce, rec.vary)
			}
		})
	}
	if a, b := newRecord(nil, nil), newRecord(nil, nil); string(a.nonce) == string(b.nonce) || len(a.nonce) != nonceLen {
		t.Errorf("nonces %q and %q", a.nonce, b.nonce)
	}
}

func TestEnsureRecord(t *testing.T) {
	cases := []struct {
		name   string
		stored []byte // nil: no record
	}{
		{"made on first use", nil},
		{"kept", encodeRecord(record{nonce: []byte("0123456789abcdef"), vary: []byte("X-A")})},
		{"one that does not decode is replaced", []byte("garbage")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newMiddleware(configDefault(Config{Cache: newCache(t)}), false)
			rk := appendPathKey(nil, keyRecord, "/p")
			if tc.stored != nil {
				if err := m.cache.Set(string(rk), tc.stored, cachekit.NoExpiry); err != nil {
					t.Fatal(err)
				}
			}
			rec, ok := m.ensureRecord(string(rk))
			if !ok {
				t.Fatal("no record")
			}
			again, ok := m.lookupRecord(rk)
			if !ok || !again.equal(rec) {
				t.Fatalf("lookup after ensure: %v %q, want %q", ok, again.nonce, rec.nonce)
			}
			if want, _, ok := decodeRecord(tc.stored); ok && !rec.equal(want) {
				t.Errorf("stored record replaced")
			}
		})
	}
}

// FuzzDecodeRecord: any bytes decode to a record, a tombstone or nothing,
// never a panic; what decodes encodes to bytes that decode to the same.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(newRecord([]byte("Accept-Language"), newNonce())))
	f.Add(encodeRecord(newRecord(nil, nil)))
	f.Add(encodeTombstone(newNonce()))
	f.Add([]byte("FR\x01\x10"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, tomb, ok := decodeRecord(b)
		if !ok {
			return
		}
		if tomb != (len(rec.nonce) == 0) || (tomb && len(rec.vary) != 0) {
			t.Fatalf("tomb %v with nonce %q vary %q", tomb, rec.nonce, rec.vary)
		}
		again, tomb2, ok := decodeRecord(encodeRecord(rec))
		if !ok || tomb2 != tomb || !again.equal(rec) || string(again.fence) != string(rec.fence) {
			t.Fatalf("%q: re-encoded, decodes to %q %q %q", b, again.nonce, again.vary, again.fence)
		}
	})
}
