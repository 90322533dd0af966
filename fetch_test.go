package cachekit

import (
	"errors"
	"io"
	"testing"
	"time"
)

func TestFetch(t *testing.T) {
	c, m := newTestCache(t)
	type product struct {
		ID    int
		Name  string
		Price float64
	}
	loads := 0
	load := func() ([]product, error) {
		loads++
		return []product{{1, "Lamp", 19.5}, {2, "Desk", 120}}, nil
	}
	for i := 0; i < 3; i++ {
		ps, err := Fetch(c, "products", time.Minute, load, "products")
		if err != nil || len(ps) != 2 || ps[1].Name != "Desk" {
			t.Fatalf("Fetch: %+v %v", ps, err)
		}
	}
	if loads != 1 {
		t.Fatalf("loaded %d times", loads)
	}
	c.InvalidateTags("products")
	Fetch(c, "products", time.Minute, load, "products")
	if loads != 2 {
		t.Fatalf("after invalidation loaded %d times", loads)
	}
	// A stored value that no longer decodes is reloaded.
	c.Set("products", []byte("{not json"), NoExpiry, "products")
	ps, err := Fetch(c, "products", time.Minute, load, "products")
	if err != nil || len(ps) != 2 || loads != 3 {
		t.Fatalf("undecodable value: %+v %v loads=%d", ps, err, loads)
	}
	_, err = Fetch(c, "boom", time.Minute, func() (int, error) { return 0, io.ErrUnexpectedEOF })
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("load error: %v", err)
	}
	_ = m
}
