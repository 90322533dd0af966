package cachekit

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// garbage answers every Get with random bytes of random length, or
// panics, or errors: a store gone wrong.
type garbage struct {
	*Memory
	mode string
}

func (g *garbage) Get(k string) ([]byte, error) {
	switch g.mode {
	case "panic":
		panic("driver bug")
	case "garbage":
		b := make([]byte, rand.IntN(200))
		for i := range b {
			b[i] = byte(rand.Uint32())
		}
		if rand.IntN(3) == 0 { // a real entry's bytes, some of them flipped
			if v, _ := g.Memory.Get(k); len(v) > 0 {
				v[rand.IntN(len(v))] ^= 1 << rand.IntN(8)
				return v, nil
			}
		}
		return b, nil
	}
	return g.Memory.Get(k)
}

// A store that returns garbage or panics never fails a request and never
// serves a wrong value; each failure is counted.
func TestBadStoreNeverServesWrong(t *testing.T) {
	for _, mode := range []string{"garbage", "panic"} {
		t.Run(mode, func(t *testing.T) {
			g := &garbage{Memory: newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20})}
			c := New(Config{Storage: g, Timeout: time.Second, Logger: quiet()})
			for i := 0; i < 20; i++ {
				c.Set(string(rune('a'+i)), []byte(strings.Repeat(string(rune('a'+i)), 50)), time.Hour, "t")
			}
			g.mode = mode
			for i := 0; i < 2000; i++ {
				k := string(rune('a' + i%20))
				want := strings.Repeat(k, 50)
				v, err := c.GetOrSet(k, time.Hour, func() ([]byte, error) { return []byte(want), nil }, "t")
				if err != nil || string(v) != want {
					t.Fatalf("%s store: %q %v", mode, v, err)
				}
			}
			s := c.Stats()
			switch mode {
			case "garbage":
				if s.Corrupt == 0 {
					t.Fatalf("garbage not counted: %+v", s)
				}
			case "panic":
				if s.StorePanics == 0 || s.Errors == 0 {
					t.Fatalf("store panics not counted: %+v", s)
				}
			}
		})
	}
}
