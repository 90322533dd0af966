package fibercache

import (
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
)

func TestFenceKept(t *testing.T) {
	f0, f1 := newNonce(), newNonce()
	now := time.Now()
	for _, tc := range []struct {
		name           string
		fence0, fence1 []byte
		age            time.Duration
		kept           bool
	}{
		{"no fence, none now", nil, nil, 0, true},
		{"the record's fence, still", f0, f0, time.Second, true},
		{"the record's fence expired or evicted", f0, nil, time.Second, true},
		{"an invalidation since", f0, f1, 0, false},
		{"an invalidation since, no fence before", nil, f1, 0, false},
		{"a request older than fenceQuick", nil, nil, fenceQuick, false},
		{"a request older than fenceQuick, fence unchanged", f0, f0, fenceQuick + time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fenceKept(tc.fence0, tc.fence1, now.Add(-tc.age)); got != tc.kept {
				t.Errorf("fenceKept = %v, want %v", got, tc.kept)
			}
		})
	}
}

// hooked is one instance's view of a store shared by several: a real
// Memory, plain (no Atomic: as a fiber.Storage without it), whose calls
// can be held at one point (pause).
type hooked struct {
	m  *cachekit.Memory
	mu sync.Mutex
	p  *pausePoint
}

// pausePoint holds the first call of op on a key containing sub, before
// or after the call: reached closes when it is held, release lets it go.
type pausePoint struct {
	op, sub          string
	after            bool
	reached, release chan struct{}
}

func (s *hooked) pause(op, sub string, after bool) *pausePoint {
	p := &pausePoint{op: op, sub: sub, after: after, reached: make(chan struct{}), release: make(chan struct{})}
	s.mu.Lock()
	s.p = p
	s.mu.Unlock()
	return p
}

func (s *hooked) at(op, key string, after bool) {
	s.mu.Lock()
	p := s.p
	if p == nil || p.op != op || p.after != after || !strings.Contains(key, p.sub) {
		s.mu.Unlock()
		return
	}
	s.p = nil
	s.mu.Unlock()
	close(p.reached)
	<-p.release
}

func (s *hooked) Get(k string) ([]byte, error) {
	s.at("GET", k, false)
	v, err := s.m.Get(k)
	s.at("GET", k, true)
	return v, err
}

func (s *hooked) Set(k string, v []byte, exp time.Duration) error {
	s.at("SET", k, false)
	err := s.m.Set(k, v, exp)
	s.at("SET", k, true)
	return err
}

func (s *hooked) Delete(k string) error { return s.m.Delete(k) }
func (s *hooked) Reset() error          { return s.m.Reset() }
func (s *hooked) Close() error          { return nil }

// instance is one process of a site: its own Cache over the shared store,
// its own app.
type instance struct {
	store *hooked
	cache *cachekit.Cache
	app   *fiber.App
}

// site is two instances over one store, serving /p (a page made from
// data, tagged "t" and the query's r when tagged) and, for the tag races,
// /q (the same).
// A render of /p waits on hold when it is set, after it read the data.
type site struct {
	a, b    *instance
	data    atomic.Value
	hold    atomic.Pointer[renderHold]
	renders atomic.Int64
}

type renderHold struct{ rendering, proceed chan struct{} }

func newSite(t *testing.T, tagged bool) *site {
	m, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	s := &site{}
	s.data.Store("v1")
	mk := func() *instance {
		in := &instance{store: &hooked{m: m}}
		in.cache = cachekit.New(cachekit.Config{Storage: in.store})
		in.app = newApp()
		in.app.Use(New(Config{Cache: in.cache, TTL: time.Minute}))
		page := func(c *fiber.Ctx) error {
			if tagged {
				Tag(c, "t"+c.Query("r")) // before the data it guards
			}
			v := s.data.Load().(string)
			s.renders.Add(1)
			if h := s.hold.Swap(nil); h != nil && c.Path() == "/p" {
				close(h.rendering)
				<-h.proceed
			}
			return c.SendString(v)
		}
		in.app.Get("/p", page)
		in.app.Get("/q", page)
		return in
	}
	s.a, s.b = mk(), mk()
	return s
}

// holdRender makes the next render of /p wait, after it read the data.
func (s *site) holdRender() *renderHold {
	h := &renderHold{rendering: make(chan struct{}), proceed: make(chan struct{})}
	s.hold.Store(h)
	return h
}

// fetchAsync is get for other goroutines: the error comes back, no t.Fatal.
func fetchAsync(app *fiber.App, target string) (string, string, error) {
	resp, err := app.Test(httptest.NewRequest("GET", target, nil), -1)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), resp.Header.Get("X-Cache"), err
}

// async runs a request on instance in and returns its body on the channel.
func async(t *testing.T, in *instance, target string) <-chan string {
	ch := make(chan string, 1)
	go func() {
		body, _, err := fetchAsync(in.app, target)
		if err != nil {
			t.Error(err)
		}
		ch <- body
	}()
	return ch
}

// noStale checks that both instances serve the new data, twice.
func (s *site) noStale(t *testing.T, target, want string) {
	t.Helper()
	for range 2 {
		for name, in := range map[string]*instance{"A": s.a, "B": s.b} {
			if body, xc, _ := fetchAsync(in.app, target); body != want {
				t.Fatalf("instance %s after the invalidation returned: %q (X-Cache %s), want %q", name, body, xc, want)
			}
		}
	}
}

// InvalidatePath on instance B racing the first render of the path on
// instance A (no record yet), at each point of A's sequence (read the
// record key, render, store the page, write the record, read the fence):
// once InvalidatePath has returned and the data changed before it, no
// instance ever serves the old page. When it lands before A reads the
// record, A's page is stored and kept.
func TestInvalidatePathRacesFirstRenderAcrossInstances(t *testing.T) {
	invalidate := func(t *testing.T, s *site) {
		s.data.Store("v2")
		if err := InvalidatePath(s.b.cache, "/p"); err != nil {
			t.Error(err)
		}
	}
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, s *site)
	}{
		{"whole during the render", func(t *testing.T, s *site) {
			h := s.holdRender()
			done := async(t, s.a, "/p")
			<-h.rendering
			invalidate(t, s)
			close(h.proceed)
			expect(t, "the render's own answer", <-done, "v1")
		}},
		{"record read during the render, tombstone after the record write", func(t *testing.T, s *site) {
			h := s.holdRender()
			done := async(t, s.a, "/p")
			<-h.rendering
			p := s.b.store.pause("GET", ":fcr:", true) // B has read the record key: no record
			inv := make(chan struct{})
			go func() { defer close(inv); invalidate(t, s) }()
			<-p.reached
			close(h.proceed)
			expect(t, "the render's own answer", <-done, "v1") // stored its page, wrote the record
			close(p.release)
			<-inv
		}},
		{"fence written after A's fence check", func(t *testing.T, s *site) {
			h := s.holdRender()
			p := s.a.store.pause("GET", ":fcf:", true) // A wrote the record and read the fence
			done := async(t, s.a, "/p")
			<-h.rendering
			close(h.proceed)
			<-p.reached
			invalidate(t, s) // reads A's record, replaces it
			close(p.release)
			expect(t, "the render's own answer", <-done, "v1")
		}},
		{"fence written before A's record write, record read after", func(t *testing.T, s *site) {
			h := s.holdRender()
			done := async(t, s.a, "/p")
			<-h.rendering
			p := s.b.store.pause("GET", ":fcr:", false) // B wrote the fence, not read the record yet
			inv := make(chan struct{})
			go func() { defer close(inv); invalidate(t, s) }()
			<-p.reached
			close(h.proceed)
			expect(t, "the render's own answer", <-done, "v1")
			close(p.release)
			<-inv
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSite(t, false)
			tc.run(t, s)
			s.noStale(t, "/p", "v2")
		})
	}
	t.Run("before A read the record: A's page is kept", func(t *testing.T) {
		s := newSite(t, false)
		invalidate(t, s) // a tombstone: the path has no record
		expect(t, "first render", get(t, s.a.app, "/p").xcache(), "MISS")
		n := s.renders.Load()
		expect(t, "on A", get(t, s.a.app, "/p").xcache(), "HIT")
		expect(t, "on B", get(t, s.b.app, "/p").xcache(), "HIT")
		expect(t, "renders", s.renders.Load(), n)
	})
}

// InvalidateTags on instance B racing the first render of a tagged page
// on instance A, which makes the tag's generation (its first use): nothing
// stale once it returned, including when a third render (of /q on B) read
// the tag as missing before A made it and writes its own generation over
// the invalidation's.
func TestInvalidateTagsRacesFirstRenderAcrossInstances(t *testing.T) {
	invalidate := func(t *testing.T, s *site) {
		s.data.Store("v2")
		if err := s.b.cache.InvalidateTags("t"); err != nil {
			t.Error(err)
		}
	}
	t.Run("during the render", func(t *testing.T) {
		s := newSite(t, true)
		h := s.holdRender()
		done := async(t, s.a, "/p")
		<-h.rendering
		invalidate(t, s)
		close(h.proceed)
		expect(t, "the render's own answer", <-done, "v1")
		s.noStale(t, "/p", "v2")
	})
	t.Run("a late maker's write over the invalidation", func(t *testing.T) {
		s := newSite(t, true)
		p := s.b.store.pause("SET", ":t:t", false) // B read the tag as missing; its write waits
		late := async(t, s.b, "/q")
		<-p.reached
		h := s.holdRender()
		done := async(t, s.a, "/p") // makes the tag, reads v1
		<-h.rendering
		invalidate(t, s)
		close(h.proceed)
		expect(t, "the render's own answer", <-done, "v1")
		close(p.release) // B's fresh generation overwrites the invalidation's
		<-late
		s.noStale(t, "/p", "v2")
	})
}

// Many rounds of the two races at once, unforced: a first render on A, an
// invalidation of its path or tag on B.
func TestFirstRenderInvalidationStress(t *testing.T) {
	for _, tagged := range []bool{false, true} {
		t.Run(fmt.Sprint("tagged=", tagged), func(t *testing.T) {
			s := newSite(t, tagged)
			for round := range 100 {
				// Each round a first render (the record gone, as when it
				// expired), of a tag's first use when tagged.
				_ = s.a.cache.Delete(string(appendPathKey(nil, keyRecord, "/p")))
				target, tag := "/p", ""
				if tagged {
					target, tag = fmt.Sprint("/p?r=", round), fmt.Sprint("t", round)
				}
				old := fmt.Sprint("v", round)
				s.data.Store(old)
				next := fmt.Sprint("v", round, "+")
				var wg sync.WaitGroup
				wg.Go(func() { _, _, _ = fetchAsync(s.a.app, target) })
				wg.Go(func() {
					s.data.Store(next)
					var err error
					if tagged {
						err = s.b.cache.InvalidateTags(tag)
					} else {
						err = InvalidatePath(s.b.cache, "/p")
					}
					if err != nil {
						t.Error(err)
					}
				})
				wg.Wait()
				for _, in := range []*instance{s.a, s.b} {
					if body, _, _ := fetchAsync(in.app, target); body == old {
						t.Fatalf("round %d: served %q after the invalidation returned", round, body)
					}
				}
			}
		})
	}
}

// An InvalidatePath from an instance whose copy of the key space's
// generation is not the store's still fences a first render elsewhere.
// Instances keep their copy a while (cachekit's spaceCopyTTL), so after a
// Clear on one instance (or when two made the key space at once over a
// store without set-if-absent, each keeping its own), an entry one writes
// validates nowhere else. A fence written as an entry then read as none
// on the other instance: its render kept its record over the
// InvalidatePath, and served the old page after it returned. Fences are
// now stored outside every generation (cachekit.Cache.SetFence).
func TestFenceSeenAcrossKeySpaceCopies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		diverge func(t *testing.T, s *site)
	}{
		{"Clear on the rendering instance", func(t *testing.T, s *site) {
			if err := s.a.cache.Clear(); err != nil { // B's copy is the old generation
				t.Fatal(err)
			}
		}},
		{"Clear on the invalidating instance", func(t *testing.T, s *site) {
			if err := s.b.cache.Clear(); err != nil { // A's copy is the old generation
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSite(t, false)
			// Both instances read (and keep) the key space's generation.
			for _, in := range []*instance{s.a, s.b} {
				if body, _, err := fetchAsync(in.app, "/q"); err != nil || body != "v1" {
					t.Fatalf("warm: %q, %v", body, err)
				}
			}
			tc.diverge(t, s)
			h := s.holdRender()
			done := async(t, s.a, "/p") // /p's first render, on A
			<-h.rendering
			s.data.Store("v2")
			if err := InvalidatePath(s.b.cache, "/p"); err != nil {
				t.Fatal(err)
			}
			close(h.proceed)
			expect(t, "the render's own answer", <-done, "v1")
			for range 3 {
				if body, xc, _ := fetchAsync(s.a.app, "/p"); body != "v2" {
					t.Fatalf("A after the invalidation returned: %q (X-Cache %s), want v2", body, xc)
				}
			}
		})
	}
}
