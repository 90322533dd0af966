package cachekit_test

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/internal/lowleveltest"
)

// The low-level calls over every store users pick: Memory (Atomic), and Redis
// and Memcached through plain fiber.Storage drivers (the process-lock
// fallback). redisbus's tests run the same suite over redisbus.Atomic.
func TestLowLevel(t *testing.T) {
	for _, sc := range cachekit.SuiteStores() {
		t.Run(sc.Name, func(t *testing.T) {
			store := sc.Open(t)
			lowleveltest.Run(t, func() *cachekit.Cache {
				return cachekit.New(cachekit.Config{Storage: store, Prefix: "t" + strconv.FormatUint(rand.Uint64(), 36), Timeout: 2 * time.Second, Logger: cachekit.Quiet()})
			}, cachekit.LoseClearGeneration)
		})
	}
}
