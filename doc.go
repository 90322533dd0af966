// Package cachekit is the cache core behind cachekit's template loader,
// {{cache}} blocks and Fiber middleware: keys with a prefix and version, TTLs,
// tags invalidated in O(1), in-process coalescing of concurrent misses,
// stale-while-revalidate and stale-if-error, and counters.
//
// A Cache runs over any fiber.Storage: the embedded Memory store (bigcache)
// by default, or Redis, Memcached and the other gofiber/storage drivers when a
// site runs on several machines. The cache is never the reason a request
// fails: storage errors are counted, logged once per burst, and the caller
// gets its value computed afresh.
//
// # How it fits together
//
// One Load, the call under GetOrSet, Fetch and the {{cache}} block:
//
//   - cachekit.go: New, once, applied the Config's defaults and checked it
//     (config.go), then wired the layers.
//   - load.go: lookup tries the hot layer (hot.go), values kept in process
//     and exact through the versions of their key and tags (versions.go),
//     which a write moves for what it changes only (a HotView reads it
//     alone, at one clock reading, and a kept value carries a Memo for its
//     reader's decoded form; a HotHint remembers the place of a value for
//     the next lookup, which tries it before hashing the key and checks
//     what it finds there as any lookup); then reads the storage:
//     Local first in the two-level mode, then the store itself. Every call
//     to the store goes through storecalls.go (a context, the expiry every
//     write gets) and, when the store is external, guard.go: a deadline
//     whatever the client does, abandoned calls bounded, circuits per key
//     group and for the whole store; replicas.go stores tag generations on
//     several keys (Config.Replicas), read and written by majority.
//   - keys.go builds each storage key ("<prefix>:<version>:<kind>:<key>",
//     by the rule of internal/keys; place.go keeps keys with one hash tag
//     on one node, and replicas on distinct ones); entry.go decodes what was read (a
//     corrupt entry is a miss); tags.go compares the generation of each of
//     its tags with the current one, all read together (one multi-get on a
//     store that has one). lookupmany.go does the same for many keys at
//     once (LookupMany, GetMany); batch.go keeps such a read for one render
//     (Prefetch, Batch.Take: fragments' {{range}}), void after any change;
//     memo.go keeps the tag generations one render read over a shared
//     store (TagMemo), emptied by any invalidation this Cache sees.
//     LookupHot is the hot layer alone, which a {{cache}} hit tries first.
//   - fill.go: on a miss, Load runs the Fill once for all concurrent callers
//     (singleflight), or serves the stale copy while one refresh runs, and
//     writes the new entry under the tags' generations.
//   - tags.go: InvalidateTags writes a new generation per tag and moves the
//     tag's version and the epoch (pending.go retries a write the store did
//     not take); bus.go carries that, and every Set and Delete, to the other
//     instances, which move the versions the message names.
//   - panics.go: a Fill that panics is an error for its callers, counted
//     and logged with its stack, also in a background refresh.
//   - lowlevel.go: Django's calls (GetMany, SetMany, DeleteMany, Add, Incr,
//     Touch, Clear); the read-modify-write ones go through atomic.go's
//     Atomic, the store's own when it has one. Clear moves the key space's
//     generation, an implicit tag of every entry. incrversion.go: Django's
//     version= (WithVersion, a view of another version of the keys over
//     the same layers) and IncrVersion, which moves an entry to another
//     version under that version's generations of its tags.
//   - fence.go: fences (SetFence, Fence), values stored as they are,
//     outside every generation, and always read from the store itself:
//     the negative information an invalidation leaves (fibercache's
//     InvalidatePath), which no copy of a generation can hide. PeekStored
//     (load.go) is Peek past Local and the hot layer, for the same kind of
//     decision.
//   - ttl.go: what a TTL means in every call (NoExpiry, DefaultTTL, 0 or
//     negative: nothing stored); Set, Add, Touch and the fill read it there.
//   - deps.go: every fill runs with a collector of the tags of what it
//     reads, carried by its context (Policy.Context); context.go holds the
//     calls that take a context (LoadContext, GetOrSetContext,
//     FetchContext, GetContext), so a hit's tags and a nested fill's
//     generations join the entry of the fill around them.
//   - stats.go counts all of it; memory.go is the embedded store; dummy.go
//     the store that keeps nothing.
package cachekit
