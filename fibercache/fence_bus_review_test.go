package fibercache

import (
	"sync"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
)

// heldBus is a cachekit.Bus inside one process whose delivery to one
// subscriber can be held, as a pub/sub delivers late: messages to a held
// subscriber queue until release.
type heldBus struct {
	mu   sync.Mutex
	subs []*heldSub
}

type heldSub struct {
	fn    func(string)
	held  bool
	queue []string
}

func (b *heldBus) Publish(msg string) error {
	b.mu.Lock()
	var now []func(string)
	for _, s := range b.subs {
		if s.held {
			s.queue = append(s.queue, msg)
		} else {
			now = append(now, s.fn)
		}
	}
	b.mu.Unlock()
	for _, fn := range now {
		fn(msg)
	}
	return nil
}

func (b *heldBus) Subscribe(fn func(string)) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs = append(b.subs, &heldSub{fn: fn})
	return func() {}, nil
}

func (b *heldBus) hold(i int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs[i].held = true
}

func (b *heldBus) release(i int) {
	b.mu.Lock()
	s := b.subs[i]
	s.held = false
	q := s.queue
	s.queue = nil
	b.mu.Unlock()
	for _, msg := range q {
		s.fn(msg)
	}
}

// Two instances in the two-level mode (each its own Local, one Bus) over
// one shared plain store. A's Local holds the path's fence from an earlier
// render. An InvalidatePath on B runs wholly during A's render, whose
// record is near expiry and so extended; B's messages reach A only after
// that render. The fence A checks after writing the record must be the
// shared store's, not its Local copy: else A keeps the old record, and B
// serves the old page after its InvalidatePath returned, for good.
func TestFenceReadPastLocalCopy(t *testing.T) {
	m := newMemory(t)
	bus := &heldBus{}
	s := &site{}
	s.data.Store("v1")
	mk := func() *instance {
		in := &instance{store: &hooked{m: m}}
		in.cache = cachekit.New(cachekit.Config{Storage: in.store, Local: newMemory(t), LocalTTL: time.Minute, Bus: bus})
		if err := in.cache.Err(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { in.cache.Close() })
		in.app = newApp()
		in.app.Use(New(Config{Cache: in.cache, TTL: time.Minute}))
		in.app.Get("/p", func(c *fiber.Ctx) error {
			v := s.data.Load().(string)
			if h := s.hold.Swap(nil); h != nil {
				close(h.rendering)
				<-h.proceed
			}
			return c.SendString(v)
		})
		return in
	}
	s.a, s.b = mk(), mk()                                   // A subscribed first: subscriber 0
	if err := InvalidatePath(s.b.cache, "/p"); err != nil { // a tombstone and its fence
		t.Fatal(err)
	}
	expect(t, "first render on A (reads the fence: now in A's Local)", get(t, s.a.app, "/p").xcache(), "MISS")
	expect(t, "on B", get(t, s.b.app, "/p").xcache(), "HIT")
	rkey := string(appendPathKey(nil, keyRecord, "/p"))
	r, err := s.a.cache.Peek(rkey)
	if err != nil || r.Value == nil {
		t.Fatalf("no record: %v", err)
	}
	if err := s.a.cache.Set(rkey, r.Value, 30*time.Second); err != nil { // near expiry
		t.Fatal(err)
	}

	bus.hold(0)
	h := s.holdRender()
	done := async(t, s.a, "/p?x=1") // under the same record: extends it
	<-h.rendering
	s.data.Store("v2")
	if err := InvalidatePath(s.b.cache, "/p"); err != nil {
		t.Fatal(err)
	}
	close(h.proceed)
	<-done
	if body, xc, _ := fetchAsync(s.b.app, "/p"); body != "v2" {
		t.Errorf("B after its InvalidatePath returned: %q (X-Cache %s), want v2", body, xc)
	}
	bus.release(0)
	s.noStale(t, "/p", "v2")
}
