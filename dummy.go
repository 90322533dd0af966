package cachekit

import (
	"time"

	"github.com/gofiber/fiber/v2"
)

// NewDummy returns a fiber.Storage that stores nothing, like Django's
// DummyCache: every read misses. Use it to turn caching off without changing
// code.
func NewDummy() fiber.Storage { return dummy{} }

type dummy struct{}

func (dummy) Get(string) ([]byte, error)              { return nil, nil }
func (dummy) Set(string, []byte, time.Duration) error { return nil }
func (dummy) Delete(string) error                     { return nil }
func (dummy) Reset() error                            { return nil }
func (dummy) Close() error                            { return nil }
