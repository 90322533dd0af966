package cachekit

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// The rule: whatever is cached and was built from another cached piece
// carries that piece's tags, hits included, at any depth, on every store.
func TestDependenciesPropagate(t *testing.T) {
	type env struct {
		c     *Cache
		other *Cache // another Cache (prefix) on the same store
	}
	stores := map[string]func(t *testing.T) env{
		"memory": func(t *testing.T) env {
			m := newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20})
			return env{New(Config{Storage: m, Prefix: "d"}), New(Config{Storage: m, Prefix: "o"})}
		},
		"shared": func(t *testing.T) env {
			s := shared{newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20})}
			return env{New(Config{Storage: s, Prefix: "d"}), New(Config{Storage: s, Prefix: "o"})}
		},
		"two-level+bus": func(t *testing.T) env {
			s := shared{newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20})}
			bus := &localBus{}
			c := New(Config{Storage: s, Prefix: "d", Bus: bus, Local: newTestMemory(t, MemoryConfig{MaxBytes: 2 << 20})})
			t.Cleanup(func() { c.Close() })
			return env{c, New(Config{Storage: s, Prefix: "o"})}
		},
	}
	// piece reads "inner" (tagged p:1) through ctx.
	piece := func(c *Cache, ctx context.Context, key string, tags ...string) error {
		_, err := c.GetOrSetContext(ctx, key, time.Minute, func(context.Context) ([]byte, error) { return []byte(key), nil }, tags...)
		return err
	}
	cases := []struct {
		name       string
		warm       func(e env) // before the outer fill
		fill       func(e env, ctx context.Context) error
		invalidate []string
		wantStored bool // the outer entry was written
		wantGone   bool // after invalidate, the outer entry reads as a miss
	}{
		{name: "inner miss reaches outer",
			fill:       func(e env, ctx context.Context) error { return piece(e.c, ctx, "card", "p:1") },
			invalidate: []string{"p:1"}, wantStored: true, wantGone: true},
		{name: "inner hit reaches outer",
			warm:       func(e env) { piece(e.c, context.Background(), "card", "p:1") },
			fill:       func(e env, ctx context.Context) error { return piece(e.c, ctx, "card", "p:1") },
			invalidate: []string{"p:1"}, wantStored: true, wantGone: true},
		{name: "inner hot hit reaches outer",
			warm: func(e env) {
				piece(e.c, context.Background(), "card", "p:1")
				e.c.Get("card") // now in the hot layer, where there is one
			},
			fill:       func(e env, ctx context.Context) error { return piece(e.c, ctx, "card", "p:1") },
			invalidate: []string{"p:1"}, wantStored: true, wantGone: true},
		{name: "GetContext hit reaches outer",
			warm: func(e env) { e.c.Set("raw", []byte("x"), time.Minute, "raw:1") },
			fill: func(e env, ctx context.Context) error {
				_, ok, err := e.c.GetContext(ctx, "raw")
				if !ok {
					return errors.New("raw: miss")
				}
				return err
			},
			invalidate: []string{"raw:1"}, wantStored: true, wantGone: true},
		{name: "three levels: the innermost tag reaches the top",
			fill: func(e env, ctx context.Context) error {
				_, err := e.c.GetOrSetContext(ctx, "middle", time.Minute, func(ctx context.Context) ([]byte, error) {
					return []byte("m"), piece(e.c, ctx, "leaf", "leaf:1")
				}, "middle:1")
				return err
			},
			invalidate: []string{"leaf:1"}, wantStored: true, wantGone: true},
		{name: "three levels, middle a hit: its entry carries the leaf's tag",
			warm: func(e env) {
				e.c.GetOrSetContext(context.Background(), "middle", time.Minute, func(ctx context.Context) ([]byte, error) {
					return []byte("m"), piece(e.c, ctx, "leaf", "leaf:1")
				}, "middle:1")
			},
			fill: func(e env, ctx context.Context) error {
				_, err := e.c.GetOrSetContext(ctx, "middle", time.Minute, func(context.Context) ([]byte, error) {
					return nil, errors.New("middle should be a hit")
				})
				return err
			},
			invalidate: []string{"leaf:1"}, wantStored: true, wantGone: true},
		{name: "an unrelated tag leaves the outer alone",
			fill:       func(e env, ctx context.Context) error { return piece(e.c, ctx, "card", "p:1") },
			invalidate: []string{"p:2"}, wantStored: true, wantGone: false},
		{name: "the inner's implicit tags reach the outer too",
			fill: func(e env, ctx context.Context) error {
				return piece(e.c, ctx, "frag", "fragment:card", "p:1")
			},
			invalidate: []string{"fragment:card"}, wantStored: true, wantGone: true},
		{name: "AddTags before the data is stored on the first fill",
			fill:       func(e env, ctx context.Context) error { return AddTags(ctx, "page:1") },
			invalidate: []string{"page:1"}, wantStored: true, wantGone: true},
		{name: "AddTags, then an invalidation during the fill: never served",
			fill: func(e env, ctx context.Context) error {
				if err := AddTags(ctx, "page:1"); err != nil {
					return err
				}
				return e.c.InvalidateTags("page:1") // an edit lands while the page renders
			},
			invalidate: nil, wantStored: true, wantGone: true},
		{name: "one tag seen with two generations: not stored",
			fill: func(e env, ctx context.Context) error {
				if err := piece(e.c, ctx, "a", "shared:1"); err != nil {
					return err
				}
				e.c.InvalidateTags("shared:1")
				return piece(e.c, ctx, "b", "shared:1")
			},
			wantStored: false, wantGone: true},
		{name: "an inner NoStore fill still reaches the outer",
			fill: func(e env, ctx context.Context) error {
				_, err := e.c.LoadContext(ctx, "nostore", Policy{TTL: time.Minute, Tags: []string{"ns:1"}}, func(p *Policy) ([]byte, error) {
					p.NoStore = true
					return []byte("x"), nil
				})
				return err
			},
			invalidate: []string{"ns:1"}, wantStored: true, wantGone: true},
		{name: "a piece of another Cache's tags: not stored",
			fill:       func(e env, ctx context.Context) error { return piece(e.other, ctx, "card", "p:1") },
			wantStored: false, wantGone: true},
		{name: "a call without the context does not link (use the context variants)",
			fill: func(e env, ctx context.Context) error {
				_, err := e.c.GetOrSet("card", time.Minute, func() ([]byte, error) { return []byte("c"), nil }, "p:1")
				return err
			},
			invalidate: []string{"p:1"}, wantStored: true, wantGone: false},
	}
	for sname, mk := range stores {
		for _, tc := range cases {
			t.Run(sname+"/"+tc.name, func(t *testing.T) {
				e := mk(t)
				if tc.warm != nil {
					tc.warm(e)
				}
				r, err := e.c.LoadContext(context.Background(), "outer", Policy{TTL: time.Minute, Tags: []string{"outer:1"}}, func(p *Policy) ([]byte, error) {
					return []byte("outer"), tc.fill(e, p.Context())
				})
				if err != nil {
					t.Fatal(err)
				}
				if r.Stored != tc.wantStored {
					t.Fatalf("Stored = %v, want %v", r.Stored, tc.wantStored)
				}
				if len(tc.invalidate) > 0 {
					if err := e.c.InvalidateTags(tc.invalidate...); err != nil {
						t.Fatal(err)
					}
				}
				_, ok, _ := e.c.Get("outer")
				if ok == tc.wantGone {
					t.Fatalf("after InvalidateTags(%v): outer served %v, want %v", tc.invalidate, ok, !tc.wantGone)
				}
				if !tc.wantGone {
					e.c.InvalidateTags("outer:1") // its own tag still works
					if _, ok, _ := e.c.Get("outer"); ok {
						t.Fatal("outer:1 did not invalidate the outer entry")
					}
				}
			})
		}
	}
}

// A caller that waited for another caller's fill depends on what that fill
// read.
func TestDependenciesOfACoalescedFill(t *testing.T) {
	c, _ := newTestCache(t)
	started, release := make(chan struct{}), make(chan struct{})
	go c.GetOrSetContext(context.Background(), "inner", time.Minute, func(context.Context) ([]byte, error) {
		close(started)
		<-release
		return []byte("i"), nil
	}, "p:1")
	<-started
	done := make(chan Result)
	go func() {
		r, _ := c.LoadContext(context.Background(), "outer", Policy{TTL: time.Minute}, func(p *Policy) ([]byte, error) {
			_, err := c.GetOrSetContext(p.Context(), "inner", time.Minute, func(context.Context) ([]byte, error) {
				return []byte("mine"), nil
			}, "p:1")
			return []byte("o"), err
		})
		done <- r
	}()
	time.Sleep(20 * time.Millisecond) // the outer fill waits on the inner flight
	close(release)
	if r := <-done; !r.Stored {
		t.Fatal("outer not stored")
	}
	c.InvalidateTags("p:1")
	if _, ok, _ := c.Get("outer"); ok {
		t.Fatal("outer served after its coalesced inner piece's tag was invalidated")
	}
}

// A context already done fails a miss before the fill runs; a hit is served.
func TestContextCancelled(t *testing.T) {
	c, _ := newTestCache(t)
	c.Set("hit", []byte("v"), time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r, err := c.LoadContext(ctx, "hit", Policy{TTL: time.Minute}, nil); err != nil || string(r.Value) != "v" {
		t.Fatalf("hit under a done context: %q %v", r.Value, err)
	}
	ran := false
	_, err := c.LoadContext(ctx, "miss", Policy{TTL: time.Minute}, func(*Policy) ([]byte, error) { ran = true; return nil, nil })
	if !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("miss under a done context: err %v, fill ran %v", err, ran)
	}
	// The fill sees the caller's deadline.
	dctx, dcancel := context.WithTimeout(context.Background(), time.Hour)
	defer dcancel()
	c.LoadContext(dctx, "deadline", Policy{TTL: time.Minute}, func(p *Policy) ([]byte, error) {
		if _, ok := p.Context().Deadline(); !ok {
			t.Error("the fill's context lost the caller's deadline")
		}
		return []byte("x"), nil
	})
	if err := AddTags(context.Background(), "x"); err != nil {
		t.Fatalf("AddTags outside a fill: %v", err)
	}
	c.LoadContext(context.TODO(), "empty-tag", Policy{TTL: time.Minute}, func(p *Policy) ([]byte, error) {
		if err := AddTags(p.Context(), ""); err == nil || !strings.Contains(err.Error(), "empty tag") {
			t.Errorf("AddTags of an empty tag: %v", err)
		}
		return []byte("x"), nil
	})
}

// FetchContext: a typed read inside a fill links like the others.
func TestFetchContextLinks(t *testing.T) {
	c, _ := newTestCache(t)
	type product struct{ Name string }
	for i := 0; i < 2; i++ { // a miss, then a hit of the product
		c.Delete("page")
		r, err := c.LoadContext(context.Background(), "page", Policy{TTL: time.Minute}, func(p *Policy) ([]byte, error) {
			pr, err := FetchContext(p.Context(), c, "product:1", time.Minute, func(context.Context) (product, error) {
				return product{"lamp"}, nil
			}, "product:1")
			return []byte(pr.Name), err
		})
		if err != nil || !r.Stored {
			t.Fatalf("round %d: %v stored %v", i, err, r.Stored)
		}
		c.InvalidateTags("product:1")
		if _, ok, _ := c.Get("page"); ok {
			t.Fatalf("round %d: page served after its product's tag was invalidated", i)
		}
	}
}
