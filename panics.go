package cachekit

import (
	"fmt"
	"runtime/debug"
)

// A PanicError is what a Fill that panicked returns instead: to the caller
// that ran it and to every caller waiting for the same key, so none of them
// is left waiting and none takes the process down. A panic in a background
// refresh is logged with its stack and counted (Stats.Panics); the stale
// value keeps being served.
type PanicError struct {
	Key   string // the Cache key whose fill panicked
	Value any    // what the fill panicked with
	Stack []byte // the panicking goroutine's stack
}

func (p *PanicError) Error() string {
	return fmt.Sprintf("cachekit: the fill for %q panicked: %v", p.Key, p.Value)
}

// Unwrap returns the panic's value when it is an error.
func (p *PanicError) Unwrap() error {
	err, _ := p.Value.(error)
	return err
}

// callFill runs fill, turning a panic into a *PanicError that is counted and
// logged with its stack.
func (c *Cache) callFill(skey string, fill Fill, p *Policy) (v []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			pe := &PanicError{Key: c.keys.userKey(skey), Value: r, Stack: debug.Stack()}
			c.stats.panics.Add(1)
			c.errlog.logger.Error("cachekit: a fill panicked; the caller gets an error", "key", pe.Key, "panic", fmt.Sprint(r), "stack", string(pe.Stack))
			v, err = nil, pe
		}
	}()
	return fill(p)
}

// recoverBackground keeps a panic on a background goroutine of the Cache
// from ending the process.
func (c *Cache) recoverBackground(skey string) {
	if r := recover(); r != nil {
		c.stats.panics.Add(1)
		c.errlog.logger.Error("cachekit: a background refresh panicked", "key", c.keys.userKey(skey), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	}
}
