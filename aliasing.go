package cachekit

import (
	"bytes"
	"reflect"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// aliasingDrivers are the fiber.Storage packages whose Get returns memory
// the store still owns and may change or unmap after the call:
// gofiber/storage/bbolt returns bbolt's memory-mapped page, valid only
// inside the read transaction it has already closed; the file growing
// remaps it, and the bytes a caller holds read as zeros or fault.
var aliasingDrivers = [...]string{"github.com/gofiber/storage/bbolt"}

// aliasesReads reports whether s comes from one of aliasingDrivers.
func aliasesReads(s fiber.Storage) bool {
	t := reflect.TypeOf(s)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	pkg := t.PkgPath()
	for _, p := range aliasingDrivers {
		if pkg == p || strings.HasPrefix(pkg, p+"/") {
			return true
		}
	}
	return false
}

// copyingStore is a store whose reads are copied out before the Cache
// keeps, decodes or returns them (see aliasingDrivers).
type copyingStore struct{ fiber.Storage }

func (s copyingStore) Get(key string) ([]byte, error) {
	v, err := s.Storage.Get(key)
	if v != nil {
		v = bytes.Clone(v)
	}
	return v, err
}
