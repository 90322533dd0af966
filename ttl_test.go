package cachekit_test

import (
	"testing"
	"time"

	"github.com/cachekit/cachekit"
)

// TestConfigDefaultTTL checks Config.DefaultTTL: what DefaultTTL stands for,
// NoExpiry allowed, negative refused at New.
func TestConfigDefaultTTL(t *testing.T) {
	m, err := cachekit.NewMemory(cachekit.MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	c := cachekit.New(cachekit.Config{Storage: m, DefaultTTL: 10 * time.Second})
	if err := c.Set("k", []byte("v"), cachekit.DefaultTTL); err != nil {
		t.Fatal(err)
	}
	if r, _ := c.Lookup("k"); r.Status != cachekit.Hit || time.Until(r.Expires) > 10*time.Second || time.Until(r.Expires) < 8*time.Second {
		t.Errorf("Set with DefaultTTL under Config.DefaultTTL 10s: %v, expires in %v", r.Status, time.Until(r.Expires))
	}
	never := cachekit.New(cachekit.Config{Storage: m, Prefix: "never", DefaultTTL: cachekit.NoExpiry})
	if err := never.Set("k", []byte("v"), cachekit.DefaultTTL); err != nil {
		t.Fatal(err)
	}
	if r, _ := never.Lookup("k"); r.Status != cachekit.Hit || !r.Expires.IsZero() {
		t.Errorf("DefaultTTL under Config.DefaultTTL NoExpiry: %v, expires %v", r.Status, r.Expires)
	}
	if err := cachekit.New(cachekit.Config{Storage: m, DefaultTTL: -time.Second}).Err(); err == nil {
		t.Error("negative Config.DefaultTTL accepted")
	}
}
