package cachekit

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// syncBuffer is a log sink safe for the goroutines of a Cache.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newLoggedCache(t testing.TB) (*Cache, *syncBuffer) {
	t.Helper()
	var logs syncBuffer
	m := newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20})
	return New(Config{Storage: m, Prefix: "test", Logger: slog.New(slog.NewTextHandler(&logs, nil))}), &logs
}

// A Fetch whose key holds a stale-while-revalidate entry starts a refresh
// that runs after Fetch returns; the refresh must not write what Fetch
// reads (go test -race).
func TestFetchBackgroundRefreshNoRace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := newTestCache(t)
		p := Policy{TTL: time.Minute, StaleWhileRevalidate: time.Hour}
		if _, err := c.Load("n", p, func(*Policy) ([]byte, error) { return []byte("1"), nil }); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Minute)
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, err := Fetch(c, "n", time.Minute, func() (int, error) { return 2, nil })
				if err != nil || (v != 1 && v != 2) {
					t.Errorf("Fetch: %v %v", v, err)
				}
			}()
		}
		wg.Wait()
		synctest.Wait()
		v, err := Fetch(c, "n", time.Minute, func() (int, error) { return 3, nil })
		if err != nil || v != 2 {
			t.Fatalf("after the refresh: %v %v, want the refreshed 2", v, err)
		}
	})
}

// A panic in a fill reaches the caller, and every caller waiting for the
// same key, as a *PanicError; nobody is left waiting; the next call fills.
func TestFillPanicIsAnError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, logs := newLoggedCache(t)
		release := make(chan struct{})
		var wg sync.WaitGroup
		errs := make([]error, 20)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = c.GetOrSet("k", time.Minute, func() ([]byte, error) {
					<-release
					panic("template blew up")
				})
			}()
		}
		synctest.Wait()
		close(release)
		wg.Wait()
		for i, err := range errs {
			var pe *PanicError
			if !errors.As(err, &pe) || pe.Value != "template blew up" || len(pe.Stack) == 0 {
				t.Fatalf("caller %d: %v, want a *PanicError with the value and a stack", i, err)
			}
		}
		if n := c.Stats().Panics; n != 1 {
			t.Fatalf("Stats.Panics = %d, want 1", n)
		}
		if l := logs.String(); !strings.Contains(l, "template blew up") || !strings.Contains(l, "panics_test.go") {
			t.Fatalf("the panic is not logged with its stack:\n%s", l)
		}
		v, err := c.GetOrSet("k", time.Minute, func() ([]byte, error) { return []byte("ok"), nil })
		if err != nil || string(v) != "ok" {
			t.Fatalf("after the panic: %q %v", v, err)
		}
		// A panic with an error unwraps to it.
		boom := errors.New("boom")
		_, err = c.GetOrSet("e", time.Minute, func() ([]byte, error) { panic(boom) })
		if !errors.Is(err, boom) {
			t.Fatalf("panic(err): %v does not unwrap to it", err)
		}
	})
}

// A panic in a background refresh does not end the process: it is logged
// and counted, the stale value is served meanwhile, and a later refresh
// can succeed.
func TestBackgroundRefreshPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, logs := newLoggedCache(t)
		p := Policy{TTL: time.Minute, StaleWhileRevalidate: time.Hour}
		c.Load("k", p, func(*Policy) ([]byte, error) { return []byte("v1"), nil })
		time.Sleep(2 * time.Minute)
		var panicked atomic.Bool
		for i := 0; i < 3; i++ {
			r, err := c.Load("k", p, func(*Policy) ([]byte, error) {
				panicked.Store(true)
				panic("refresh blew up")
			})
			if err != nil || r.Status != Stale || string(r.Value) != "v1" {
				t.Fatalf("stale load %d: %v %q %v", i, r.Status, r.Value, err)
			}
			synctest.Wait()
		}
		if !panicked.Load() {
			t.Fatal("the refresh never ran")
		}
		s := c.Stats()
		if s.Panics == 0 || s.RefreshErrors == 0 {
			t.Fatalf("panicking refreshes not counted: %+v", s)
		}
		if !strings.Contains(logs.String(), "refresh blew up") {
			t.Fatalf("not logged:\n%s", logs.String())
		}
		c.Load("k", p, func(*Policy) ([]byte, error) { return []byte("v2"), nil })
		synctest.Wait()
		if r, _ := c.Lookup("k"); r.Status != Hit || string(r.Value) != "v2" {
			t.Fatalf("a later refresh did not land: %v %q", r.Status, r.Value)
		}
	})
}
