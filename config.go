package cachekit

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/cachekit/cachekit/internal/keys"
	"github.com/gofiber/fiber/v2"
)

// The defaults a zero Config field means.
const (
	DefaultErrorLogInterval = 10 * time.Second
	DefaultTimeout          = 100 * time.Millisecond
	DefaultCircuitThreshold = 3
	DefaultCircuitCooldown  = 5 * time.Second
	DefaultLocalTTL         = time.Second
	DefaultHotBytes         = 16 << 20
	DefaultMaxAbandoned     = 256
)

// Config configures a Cache. The zero value is usable: a private Memory
// store, no prefix, version 0, JSON for Fetch.
type Config struct {
	// Storage holds the entries and the tag generations.
	//
	// Optional. Default: a new Memory store with a zero MemoryConfig.
	Storage fiber.Storage

	// Prefix starts every key (Django's KEY_PREFIX), so several sites or
	// environments can share one store. Printable ASCII without spaces or
	// ':', at most 64 bytes.
	//
	// Optional. Default: "".
	Prefix string

	// Version is part of every key (Django's VERSION): bump it to leave every
	// entry written under the old version behind at once. Cache.WithVersion
	// gives the Cache of another version over the same layers (Django's
	// version= argument), Cache.IncrVersion moves one key to another.
	//
	// Optional. Default: 0.
	Version int

	// DefaultTTL is the TTL of a call given cachekit.DefaultTTL (Django's
	// TIMEOUT): how long an entry lives when the caller leaves it to the
	// site's settings. NoExpiry makes such entries never expire. Negative is
	// an error (a zero here means the default; to store nothing, use Dummy).
	//
	// Optional. Default: DefaultEntryTTL (300 s, as Django).
	DefaultTTL time.Duration

	// MaxKeyLen is the longest key the Storage takes: a longer key (prefix,
	// version and kind included) is stored under its digest. gofiber's
	// postgres driver takes 64 (its k column is VARCHAR(64)). At most
	// cachekit.MaxKeyLen; it must leave room for the prefix and a digest.
	//
	// Optional. Default: MaxKeyLen (200).
	MaxKeyLen int

	// Codec encodes the values Fetch stores.
	//
	// Optional. Default: JSON{}.
	Codec Codec

	// Logger receives storage errors, at most one line per ErrorLogInterval.
	//
	// Optional. Default: slog.Default().
	Logger *slog.Logger

	// ErrorLogInterval is the shortest time between two logged storage
	// errors; the ones in between are counted and reported with the next
	// line. 0 or negative means the default.
	//
	// Optional. Default: DefaultErrorLogInterval (10 s).
	ErrorLogInterval time.Duration

	// Timeout bounds each call to an external Storage (not to Memory) and
	// to the Bus, whatever the store's client does with a context: the call
	// runs under this deadline and the Cache stops waiting when it passes;
	// the request goes on uncached. One Load waits for at most one such
	// call: after a storage failure it fills without the store. Negative
	// means no bound and no circuit breaker.
	//
	// Optional. Default: DefaultTimeout (100 ms).
	Timeout time.Duration

	// MaxAbandoned bounds the calls the Cache stopped waiting for that are
	// still running (a client that ignores its context goes on until its
	// own read timeout). Past it, calls fail at once without reaching the
	// store (Stats.Overloaded). Negative is an error.
	//
	// Optional. Default: DefaultMaxAbandoned (256).
	MaxAbandoned int

	// Replicas stores every tag generation (and the key space's, which
	// Clear moves) under this many keys, placed on distinct nodes of a
	// sharded store (a Memcached pool, a Redis Cluster), so that a page hit
	// needs only its own entry's node: with one node of three dead, the
	// pages on the other two stay hits. Writes need a majority of the
	// replicas, reads a majority of answers that all agree; answers that
	// differ read as a miss, never as an older generation (replicas.go).
	// It costs every tag read and write that many calls, in parallel.
	// 0 or 1: one key; otherwise odd, at most 9. Not used over Memory;
	// needs the Timeout (not negative) and a Prefix without '{'.
	//
	// Optional. Default: 0 (one key).
	Replicas int

	// CircuitThreshold is how many slow failures (timeouts) of an external
	// Storage in a row, with no other call answered while they waited (a
	// store that hangs for every key, not one hung node), open the circuit
	// for the whole store: the Cache stops calling it, lets one call through
	// to probe it after a fifth of CircuitCooldown (at least Timeout; the
	// store may have one hung node only), and resumes when it answers. With
	// After a slow failure, until a call is answered, calls get half of
	// Timeout: with 3, a store that hangs costs a request at most two
	// Timeouts (one, then two halves) before the circuit opens.
	// A slow failure also opens the circuit of the key's group (one of 1024,
	// by a hash of the key) at once, so a store node that hangs shuts out
	// its own keys only. Fast failures (connection refused) open no
	// circuit: they cost no time, and the keys of the nodes that answer
	// stay cached. Negative is an error.
	//
	// Optional. Default: DefaultCircuitThreshold (3).
	CircuitThreshold int

	// CircuitCooldown is how long an open circuit stays open. Negative is
	// an error.
	//
	// Optional. Default: DefaultCircuitCooldown (5 s).
	CircuitCooldown time.Duration

	// Local turns on the two-level mode: a Memory store in front of a shared
	// Storage. Reads try Local first; tag generations are always read from
	// the shared Storage, so a tag invalidated on one instance is seen by
	// every instance on its next read. A key Set or Deleted on another
	// instance is seen within LocalTTL. It must not be the Storage itself.
	//
	// Optional. Default: nil (one level).
	Local *Memory

	// LocalTTL bounds how long Local keeps a copy of a shared entry (and,
	// with a Bus, of a tag generation). Negative is an error.
	//
	// Optional. Default: DefaultLocalTTL (1 s).
	LocalTTL time.Duration

	// HotBytes bounds the hot layer: the values of recent hits kept in
	// process, so that a repeated hit reads no storage at all. It is exact
	// and survives unrelated writes: a Set, Delete or Bus message for a key
	// drops that key's value, an InvalidateTags every value under its tags,
	// Clear and Memory.Reset all of them. It is used only when this process sees
	// every invalidation: the Storage is a Memory used by this Cache alone,
	// or a Bus is set. It holds two to four values per KiB of HotBytes (at
	// least 1024, at most 65536), each up to a 128th of HotBytes (1 MiB at
	// most). Negative turns it off.
	//
	// Optional. Default: DefaultHotBytes (16 MiB).
	HotBytes int64

	// Observe, when set, is called with the key and the outcome (Hit,
	// Stale or Miss) of every Lookup and Load, for per-key-family metrics
	// such as a dashboard's hit ratio per fragment. It runs on the hit
	// path: keep it cheap and never block in it. The key is valid only
	// during the call: it may view a buffer the caller reuses (fibercache's
	// page keys do, so a hit allocates nothing); strings.Clone it to keep it.
	//
	// Optional. Default: nil.
	Observe func(key string, s Status)

	// Bus, in the two-level mode, carries tag invalidations between
	// instances, so tag generations can be kept in Local as well: a hit then
	// costs no round trip to the shared store. A tag invalidated on another
	// instance is seen as soon as its message arrives, and within LocalTTL
	// if the message is lost. It needs Local.
	//
	// Optional. Default: nil.
	Bus Bus
}

// configDefault returns cfg with every zero field that has a default set
// to it. Storage is made by New, which can fail.
func configDefault(cfg Config) Config {
	cfg.Codec = cmp.Or[Codec](cfg.Codec, JSON{})
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	if cfg.ErrorLogInterval <= 0 {
		cfg.ErrorLogInterval = DefaultErrorLogInterval
	}
	cfg.DefaultTTL = cmp.Or(cfg.DefaultTTL, DefaultEntryTTL)
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultTimeout)
	cfg.MaxAbandoned = cmp.Or(cfg.MaxAbandoned, DefaultMaxAbandoned)
	cfg.CircuitThreshold = cmp.Or(cfg.CircuitThreshold, DefaultCircuitThreshold)
	cfg.CircuitCooldown = cmp.Or(cfg.CircuitCooldown, DefaultCircuitCooldown)
	cfg.LocalTTL = cmp.Or(cfg.LocalTTL, DefaultLocalTTL)
	cfg.HotBytes = cmp.Or(cfg.HotBytes, DefaultHotBytes)
	return cfg
}

// validate reports every reason cfg cannot work, each naming its field.
func (cfg *Config) validate() error {
	var errs []error
	if err := keys.CheckPrefix("cachekit: Config.Prefix", cfg.Prefix, ""); err != nil {
		errs = append(errs, err)
	}
	if cfg.CircuitThreshold < 0 {
		errs = append(errs, fmt.Errorf("cachekit: Config.CircuitThreshold is negative (%d)", cfg.CircuitThreshold))
	}
	if min := len(cfg.Prefix) + len(strconv.Itoa(cfg.Version)) + 4 + keys.DigestLen; cfg.MaxKeyLen != 0 && (cfg.MaxKeyLen < min || cfg.MaxKeyLen > MaxKeyLen) {
		errs = append(errs, fmt.Errorf("cachekit: Config.MaxKeyLen is %d; with this Prefix and Version it must be between %d and %d", cfg.MaxKeyLen, min, MaxKeyLen))
	}
	if cfg.DefaultTTL < 0 {
		errs = append(errs, fmt.Errorf("cachekit: Config.DefaultTTL is negative (%v); give a positive TTL or NoExpiry", cfg.DefaultTTL))
	}
	if r := cfg.Replicas; r < 0 || r > 9 || (r > 1 && r%2 == 0) {
		errs = append(errs, fmt.Errorf("cachekit: Config.Replicas is %d; 0, 1 or odd up to 9", r))
	} else if r > 1 && cfg.Timeout < 0 {
		errs = append(errs, errors.New("cachekit: Config.Replicas needs a Timeout (it is negative)"))
	} else if r > 1 && strings.Contains(cfg.Prefix, "{") {
		// Redis Cluster would hash every key by the prefix's hash tag.
		errs = append(errs, fmt.Errorf("cachekit: Config.Prefix %q has a '{', which would put every replica of Config.Replicas on one Redis Cluster slot", cfg.Prefix))
	}
	if cfg.MaxAbandoned < 0 {
		errs = append(errs, fmt.Errorf("cachekit: Config.MaxAbandoned is negative (%d)", cfg.MaxAbandoned))
	}
	if cfg.CircuitCooldown < 0 {
		errs = append(errs, fmt.Errorf("cachekit: Config.CircuitCooldown is negative (%v)", cfg.CircuitCooldown))
	}
	if cfg.LocalTTL < 0 {
		errs = append(errs, fmt.Errorf("cachekit: Config.LocalTTL is negative (%v)", cfg.LocalTTL))
	}
	if cfg.Local != nil && fiber.Storage(cfg.Local) == cfg.Storage {
		errs = append(errs, errors.New("cachekit: Config.Local is the Storage itself; give a separate Memory"))
	}
	if cfg.Bus != nil && cfg.Local == nil {
		errs = append(errs, errors.New("cachekit: Config.Bus needs Config.Local (the two-level mode)"))
	}
	return errors.Join(errs...)
}
