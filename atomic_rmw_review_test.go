package cachekit

import (
	"fmt"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// reviewPlain is a real Memory behind only fiber.Storage's methods: a shared
// store without Atomic, so the Cache's read-modify-writes use its own locks.
type reviewPlain struct{ fiber.Storage }

// A read-modify-write whose key shares a lock stripe with the key-space
// generation, when that generation must be made again (lost from the store,
// this process's copy out of date), does not wait for itself forever.
func TestReviewRMWStripeSelfDeadlock(t *testing.T) {
	c := New(Config{Storage: reviewPlain{newTestMemory(t, MemoryConfig{MaxBytes: 8 << 20})}, Logger: quiet()})
	tk := c.keys.storageKey(kindTag, clearTag)
	key := ""
	for i := 0; ; i++ {
		k := fmt.Sprint("k", i)
		if stripeOf(c.keys.storageKey(kindEntry, k)) == stripeOf(tk) {
			key = k
			break
		}
	}
	if err := c.Set(key, []byte("1"), time.Hour); err != nil {
		t.Fatal(err)
	}
	LoseClearGeneration(c)                          // evicted, or the store restarted
	time.Sleep(spaceCopyTTL + 100*time.Millisecond) // this process's copy is read again
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Incr(key, 1)
		c.Touch(key, time.Hour)
		c.Add(key, []byte("2"), time.Hour)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatalf("Incr/Touch/Add on %q hung: its lock stripe is the key-space generation's", key)
	}
}
