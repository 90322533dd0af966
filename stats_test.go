package cachekit

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestStorageErrorsNeverFailLoad(t *testing.T) {
	var logs bytes.Buffer
	f := &flaky{Memory: newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20})}
	c := New(Config{Storage: f, Logger: slog.New(slog.NewTextHandler(&logs, nil)), ErrorLogInterval: time.Hour, Timeout: -1})
	f.fail.Store(true)
	for i := 0; i < 50; i++ {
		v, err := c.GetOrSet("k", time.Minute, func() ([]byte, error) { return []byte("computed"), nil }, "tag")
		if err != nil || string(v) != "computed" {
			t.Fatalf("GetOrSet with a failing store: %q %v", v, err)
		}
	}
	if c.Stats().Errors == 0 {
		t.Error("storage errors not counted")
	}
	if n := strings.Count(logs.String(), "storage error"); n != 1 {
		t.Errorf("logged %d lines for one burst, want 1:\n%s", n, logs.String())
	}
	f.fail.Store(false)
	c.GetOrSet("k", time.Minute, func() ([]byte, error) { return []byte("computed"), nil }, "tag")
	if _, ok, _ := c.Get("k"); !ok {
		t.Error("caching did not resume when the store recovered")
	}
	f.fail.Store(true)
	if _, _, err := c.Get("k"); err == nil || !errors.Is(err, errInjected) {
		t.Errorf("Get reports the storage error wrapped: %v", err)
	}
}

func TestStatsHitRatio(t *testing.T) {
	c, _ := newTestCache(t)
	c.GetOrSet("k", NoExpiry, func() ([]byte, error) { return []byte("v"), nil })
	c.GetOrSet("k", NoExpiry, func() ([]byte, error) { return []byte("v"), nil })
	c.GetOrSet("k", NoExpiry, func() ([]byte, error) { return []byte("v"), nil })
	s := c.Stats()
	if s.Hits != 2 || s.Misses != 1 || s.Stores != 1 {
		t.Fatalf("stats: %+v", s)
	}
	if r := s.HitRatio(); r < 0.66 || r > 0.67 {
		t.Fatalf("HitRatio = %v", r)
	}
}
