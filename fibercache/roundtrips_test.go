package fibercache

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
)

// callCounter is a fiber.Storage that forwards every call to a real store
// and counts the calls: a shared store's round trips. The core keeps no
// hot copies over it (it is not a Memory), as over Redis without Local.
type callCounter struct {
	fiber.Storage
	mu         sync.Mutex
	gets, sets int
	log        []string
}

func (s *callCounter) Get(key string) ([]byte, error) {
	s.mu.Lock()
	s.gets++
	s.log = append(s.log, "GET "+key)
	s.mu.Unlock()
	return s.Storage.Get(key)
}

func (s *callCounter) Set(key string, val []byte, exp time.Duration) error {
	s.mu.Lock()
	s.sets++
	s.log = append(s.log, "SET "+key)
	s.mu.Unlock()
	return s.Storage.Set(key, val, exp)
}

func (s *callCounter) Delete(key string) error {
	s.mu.Lock()
	s.sets++
	s.log = append(s.log, "DEL "+key)
	s.mu.Unlock()
	return s.Storage.Delete(key)
}

// take returns the counts since the last take and resets them.
func (s *callCounter) take() (gets, sets int, log string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gets, sets, log = s.gets, s.sets, strings.Join(s.log, "\n  ")
	s.gets, s.sets, s.log = 0, 0, nil
	return gets, sets, log
}

// The miss of a known path whose record would expire within the page's
// life extends the record: it reads the record again just before that
// write (an InvalidatePath during the render must not be undone:
// TestRecordExtensionAfterInvalidatePathBringsNothingBack), and checks the
// fence after it (the one the record holds is its baseline): four reads
// (before: five, with the fence read before the render too). The other
// scenarios are in missrt (TestMissRoundTrips).
func TestRecordExtensionRoundTrips(t *testing.T) {
	mem, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mem.Close() })
	store := &callCounter{Storage: mem}
	cache := cachekit.New(cachekit.Config{Storage: store})
	app := newApp()
	app.Use(New(Config{Cache: cache, TTL: time.Minute}))
	app.Get("/p", func(c *fiber.Ctx) error { return c.SendString("p") })
	get(t, app, "/warm")
	expect(t, "first", get(t, app, "/p").xcache(), "MISS")
	rk := appendPathKey(nil, keyRecord, "/p")
	m := newMiddleware(configDefault(Config{Cache: cache}), false)
	rec, ok := m.lookupRecord(rk)
	if !ok {
		t.Fatal("no record")
	}
	// The record as it is a minute before it expires.
	if err := cache.Set(string(rk), encodeRecord(rec), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	store.take()
	expect(t, "known path", get(t, app, "/p?q=1").xcache(), "MISS")
	gets, sets, log := store.take()
	t.Logf("%d GETs, %d SETs\n  %s", gets, sets, log)
	if gets != 4 || sets != 2 {
		t.Errorf("%d GETs, %d SETs; want 4 and 2 (the record extended)", gets, sets)
	}
	if again, ok := m.lookupRecord(rk); !ok || !again.equal(rec) || time.Until(again.expires) < 2*time.Minute {
		t.Errorf("record after the extension: %v, expires in %v", ok, time.Until(again.expires))
	}
	expect(t, "both pages kept", get(t, app, "/p").xcache(), "HIT")
	expect(t, "both pages kept", get(t, app, "/p?q=1").xcache(), "HIT")
}
