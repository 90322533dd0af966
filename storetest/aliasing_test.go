package storetest

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/gofiber/storage/bbolt/v2"
)

// TestReadsOutliveTheStore: what a Cache returns stays the caller's after
// the store moves on. gofiber's bbolt driver returns bbolt's memory-mapped
// page from Get, valid only inside its read transaction; the file growing
// remaps it. Values read through the Cache (Get, GetMany, Fetch's hit) must
// still hold what was written after the database has grown many times.
func TestReadsOutliveTheStore(t *testing.T) {
	s := bbolt.New(bbolt.Config{Database: filepath.Join(t.TempDir(), "cache.bolt"), Bucket: "cachekit"})
	t.Cleanup(func() { s.Close() })
	c := newCache(t, s, prefix())
	want := map[string][]byte{}
	for i := range 4 {
		k := fmt.Sprint("kept", i)
		want[k] = bytes.Repeat([]byte{byte('a' + i)}, 3000+i)
		if err := c.Set(k, want[k], time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string][]byte{}
	for k := range want {
		v, _, err := c.Get(k)
		if err != nil || v == nil {
			t.Fatalf("Get(%s): %v, %v", k, v, err)
		}
		got[k] = v
	}
	many, err := c.GetMany("kept0", "kept1")
	if err != nil {
		t.Fatal(err)
	}
	// Grow the file well past its first mappings.
	filler := bytes.Repeat([]byte("z"), 64<<10)
	for i := range 600 {
		if err := s.Set(fmt.Sprint("filler", i), filler, 0); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range got {
		if !bytes.Equal(v, want[k]) {
			t.Errorf("Get(%s) changed after the store grew: %d bytes, starts %q", k, len(v), v[:min(8, len(v))])
		}
	}
	for k, v := range many {
		if !bytes.Equal(v, want[k]) {
			t.Errorf("GetMany[%s] changed after the store grew", k)
		}
	}
}
