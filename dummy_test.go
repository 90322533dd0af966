package cachekit

import (
	"fmt"
	"testing"
	"time"
)

// A Dummy store answers at once: its calls are not run under the guard
// (a goroutine and a deadline each), so a loaded machine never times one
// out and a "cache off" Cache costs nothing but its misses.
func TestDummyIsNotGuarded(t *testing.T) {
	c := New(Config{Storage: NewDummy(), Timeout: time.Nanosecond})
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		v, err := c.GetOrSet(fmt.Sprint("k", i%7), time.Minute, func() ([]byte, error) { return []byte("v"), nil }, "t")
		if err != nil || string(v) != "v" {
			t.Fatalf("GetOrSet: %q, %v", v, err)
		}
	}
	if err := c.InvalidateTags("t"); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.Timeouts != 0 || s.Errors != 0 || s.CircuitOpens != 0 {
		t.Fatalf("a Dummy store's calls timed out or failed: %+v", s)
	}
}
