package cachekit

import (
	"testing"

	"github.com/cachekit/cachekit/internal/testserver"
	"github.com/gofiber/fiber/v2"
)

// For the external tests (package cachekit_test).

// SuiteStore is one of storeCases.
type SuiteStore struct {
	Name string
	Open func(t testing.TB) fiber.Storage
}

func SuiteStores() []SuiteStore {
	var out []SuiteStore
	for _, sc := range storeCases {
		out = append(out, SuiteStore{sc.name, sc.open})
	}
	return append(out, SuiteStore{"Memcached/Atomic", func(t testing.TB) fiber.Storage {
		return atomicMemcachedStore{newMemcachedStore(testserver.Addr(t, "CACHEKIT_MEMCACHED_ADDR"))}
	}})
}

// LoseClearGeneration deletes c's key-space generation from its store.
func LoseClearGeneration(c *Cache) { _ = c.Storage().Delete(c.keys.storageKey(kindTag, clearTag)) }

var Quiet = quiet
