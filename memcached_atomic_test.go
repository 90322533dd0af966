package cachekit

import (
	"bytes"
	"errors"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// atomicMemcachedStore shows what a store needs to make the low-level calls
// atomic across processes: Memcached's own get-multi, add and cas.
type atomicMemcachedStore struct{ *memcachedStore }

var _ Atomic = atomicMemcachedStore{}

func memcachedSecs(exp time.Duration) int32 { return int32((exp + time.Second - 1) / time.Second) }

func (s atomicMemcachedStore) GetMany(keys []string) ([][]byte, error) {
	items, err := s.c.GetMulti(keys)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		if it, ok := items[k]; ok {
			out[i] = it.Value
		}
	}
	return out, nil
}

func (s atomicMemcachedStore) SetIfAbsent(key string, val []byte, exp time.Duration) (bool, error) {
	err := s.c.Add(&memcache.Item{Key: key, Value: val, Expiration: memcachedSecs(exp)})
	if errors.Is(err, memcache.ErrNotStored) {
		return false, nil
	}
	return err == nil, err
}

func (s atomicMemcachedStore) CompareAndSwap(key string, old, val []byte, exp time.Duration) (bool, error) {
	it, err := s.c.Get(key)
	if errors.Is(err, memcache.ErrCacheMiss) {
		return false, nil
	}
	if err != nil || !bytes.Equal(it.Value, old) {
		return false, err
	}
	it.Value, it.Expiration = val, memcachedSecs(exp)
	err = s.c.CompareAndSwap(it)
	if errors.Is(err, memcache.ErrCASConflict) || errors.Is(err, memcache.ErrNotStored) {
		return false, nil
	}
	return err == nil, err
}
