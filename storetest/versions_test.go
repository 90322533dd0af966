package storetest

import (
	"testing"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/internal/lowleveltest"
)

// WithVersion, IncrVersion and DecrVersion over each driver: the value, its
// tags and its TTL move, the old version is gone, bad input changes nothing.
func TestDriversVersions(t *testing.T) {
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			store := d.open(t)
			lowleveltest.RunVersions(t, func() *cachekit.Cache { return newCache(t, store, prefix()) })
		})
	}
}
