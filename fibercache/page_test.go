package fibercache

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
)

// recordingStore remembers the page keys written through it.
type recordingStore struct {
	*cachekit.Memory
	mu   sync.Mutex
	keys []string
}

func (s *recordingStore) Set(key string, val []byte, exp time.Duration) error {
	if strings.Contains(key, ":fcp:") || strings.Contains(key, ":fcP:") {
		s.mu.Lock()
		s.keys = append(s.keys, key)
		s.mu.Unlock()
	}
	return s.Memory.Set(key, val, exp)
}

func TestCorruptEntryIsNeverServed(t *testing.T) {
	mem, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	store := &recordingStore{Memory: mem}
	cache := cachekit.New(cachekit.Config{Storage: store})
	app := newApp()
	app.Use(New(Config{Cache: cache}))
	h, runs := counting("page")
	app.Get("/", h)
	get(t, app, "/")
	expect(t, "hit before", get(t, app, "/").xcache(), "HIT")
	if len(store.keys) != 1 {
		t.Fatalf("page keys written: %q", store.keys)
	}
	// Overwrite the page, through the core, with bytes that are not an
	// entry (a deploy that changed the format, a bug elsewhere).
	const head = ":0:e:"
	if !strings.HasPrefix(store.keys[0], head) {
		t.Fatalf("unexpected storage key %q", store.keys[0])
	}
	// The page key has a hash tag: the core placed it with a suffix of
	// two bytes (cachekit's place.go).
	if err := cache.Set(store.keys[0][len(head):len(store.keys[0])-2], []byte("FC\x01 garbage"), cachekit.NoExpiry); err != nil {
		t.Fatal(err)
	}
	r := get(t, app, "/")
	expect(t, "body", r.body, "page 2")
	expect(t, "X-Cache", r.xcache(), "MISS")
	expect(t, "runs", runs.Load(), int64(2))
}

func TestPageRoundTrip(t *testing.T) {
	e := page{flags: flagPublic | flagHasCC, status: 203, lastModified: 1700000000, ttl: 3600, age: 120,
		vary: []byte("Accept-Encoding,Accept-Language"), ctype: []byte("text/html; charset=utf-8"),
		etag: []byte(`"abc"`), body: []byte("<p>body</p>")}
	hdrs := []header{{[]byte("Vary"), []byte("Accept-Language")}, {[]byte("Link"), []byte("</a>")}, {[]byte("Link"), []byte("</b>")}}
	b := appendPage(nil, &e, hdrs)
	var d page
	if err := decodePage(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.flags != e.flags || d.status != e.status || d.lastModified != e.lastModified || d.ttl != e.ttl || d.age != e.age ||
		string(d.vary) != string(e.vary) || string(d.ctype) != string(e.ctype) ||
		string(d.etag) != string(e.etag) || string(d.body) != string(e.body) || d.nheaders != 3 {
		t.Fatalf("round trip: %+v", d)
	}
	hs := d.headers
	for i, want := range hdrs {
		var h header
		h, hs = nextHeader(hs)
		if string(h.name) != string(want.name) || string(h.value) != string(want.value) {
			t.Errorf("header %d = %s: %s", i, h.name, h.value)
		}
	}
	for i := 0; i < len(b)-len(e.body); i++ {
		if err := decodePage(b[:i], &d); err == nil {
			t.Errorf("truncated page of %d bytes decoded", i)
		}
	}
}

// FuzzDecodePage: decoding any bytes never panics, and what decodes
// re-encodes to the same bytes.
func FuzzDecodePage(f *testing.F) {
	e := page{status: 200, vary: []byte("Accept-Encoding"), ctype: []byte("text/html"), etag: []byte(`"x"`), body: []byte("body")}
	f.Add(appendPage(nil, &e, []header{{[]byte("X-A"), []byte("1")}}))
	f.Add([]byte("FC\x01\x00\x00\xc8"))
	f.Add([]byte{})
	f.Add(appendPage(nil, &e, []header{{[]byte("Link"), bytes.Repeat([]byte("x"), 200)}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= pageFixed && pageMagic.Is(b) {
			// The short-field fast path decodes as the general one.
			var s, l page
			if decodeShort(b, &s) && (decodePageLong(b, &l) != nil || fmt.Sprint(s) != fmt.Sprint(l)) {
				t.Fatalf("fast decode %+v, general %+v", s, l)
			}
		}
		var d page
		if decodePage(b, &d) != nil {
			return
		}
		var hdrs []header
		hs := d.headers
		for i := 0; i < d.nheaders; i++ {
			var h header
			h, hs = nextHeader(hs)
			hdrs = append(hdrs, h)
		}
		if len(hs) != 0 {
			t.Fatalf("headers left over: %q", hs)
		}
		var d2 page
		if err := decodePage(appendPage(nil, &d, hdrs), &d2); err != nil {
			t.Fatalf("re-encoded page does not decode: %v", err)
		}
		if d2.flags != d.flags || d2.status != d.status || d2.lastModified != d.lastModified ||
			string(d2.vary) != string(d.vary) || string(d2.ctype) != string(d.ctype) ||
			string(d2.etag) != string(d.etag) || string(d2.headers) != string(d.headers) || string(d2.body) != string(d.body) {
			t.Fatalf("re-encoded page decodes differently")
		}
	})
}
