package fibercache_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/internal/missrt"
	"github.com/gofiber/fiber/v2"
)

// plainCounter is a plain fiber.Storage (no Atomic, no multi-get) over a
// real Memory that counts its calls: a shared store's round trips. The
// core keeps no hot copies over it (it is not a Memory), as over Redis
// without Local.
type plainCounter struct {
	s   fiber.Storage
	mu  sync.Mutex
	n   missrt.Counts
	log []string
}

func (s *plainCounter) note(op, key string, read bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if read {
		s.n.Reads++
	} else {
		s.n.Writes++
	}
	s.log = append(s.log, op+" "+key)
}

func (s *plainCounter) Get(k string) ([]byte, error) { s.note("GET", k, true); return s.s.Get(k) }
func (s *plainCounter) Set(k string, v []byte, exp time.Duration) error {
	s.note("SET", k, false)
	return s.s.Set(k, v, exp)
}
func (s *plainCounter) Delete(k string) error { s.note("DEL", k, false); return s.s.Delete(k) }
func (s *plainCounter) Reset() error          { return s.s.Reset() }
func (s *plainCounter) Close() error          { return nil }

func (s *plainCounter) take() (missrt.Counts, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, log := s.n, strings.Join(s.log, "\n  ")
	s.n, s.log = missrt.Counts{}, nil
	return n, log
}

// TestMissRoundTrips holds each page-miss scenario to its store calls on a
// plain fiber.Storage with the hot layer off (a shared store): at most
// missrt.MaxReads reads. redisbus runs the same table over real Redis.
func TestMissRoundTrips(t *testing.T) {
	mem, err := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mem.Close() })
	store := &plainCounter{s: mem}
	cache := cachekit.New(cachekit.Config{Storage: store})
	missrt.Run(t, cache, missrt.Steps(), func(s missrt.Step) missrt.Counts { return s.Plain }, store.take)
}
