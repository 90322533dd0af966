package fibercache

import (
	"testing"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
)

// A record lost to eviction must never bring back what was invalidated,
// whether records are held in process (Memory) or read from the store.
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
