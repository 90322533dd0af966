package cachekit

import (
	"bytes"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// A hit while other keys are written: read-only, one unrelated Set per 64
// and per 1,000 reads, and the same with the hot layer off, over 1,024
// keys of 2.5 KB with one tag; and over 64 keys, one Set per 64 reads.
// Each Set writes a key outside the ones read. cpu-ns/op is the process's
// CPU time per op (user and system, all threads): on a machine other work
// loads, it moves less than ns/op, the wall time.
func BenchmarkHotWrites(b *testing.B) {
	val := bytes.Repeat([]byte("x"), 2500)
	for _, bc := range []struct {
		name        string
		keys, every int // every: reads per write; 0: none
		hotBytes    int64
	}{
		{"keys=1024/read-only", 1024, 0, 0},
		{"keys=1024/write-per-64", 1024, 64, 0},
		{"keys=1024/write-per-1000", 1024, 1000, 0},
		{"keys=1024/hot-off/read-only", 1024, 0, -1},
		{"keys=1024/hot-off/write-per-64", 1024, 64, -1},
		{"keys=1024/hot-off/write-per-1000", 1024, 1000, -1},
		{"keys=64/read-only", 64, 0, 0},
		{"keys=64/write-per-64", 64, 64, 0},
		{"keys=64/hot-off/write-per-64", 64, 64, -1},
		{"set-only", 1024, 1, 0}, // the cost of the writes alone: every op a Set, no read
	} {
		b.Run(bc.name, func(b *testing.B) {
			m := newTestMemory(b, MemoryConfig{MaxBytes: 64 << 20})
			c := New(Config{Storage: m, Prefix: "bench", HotBytes: bc.hotBytes})
			names := make([]string, bc.keys)
			for i := range names {
				names[i] = "page:/products/" + strconv.Itoa(i)
				if err := c.Set(names[i], val, time.Hour, "products"); err != nil {
					b.Fatal(err)
				}
			}
			var writes atomic.Uint64
			b.ReportAllocs()
			cpu := cpuTime()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if bc.every > 0 && i%bc.every == bc.every-1 {
						n := writes.Add(1)
						c.Set("cart:"+strconv.FormatUint(n%256, 10), val[:100], time.Hour)
						if bc.every == 1 {
							continue
						}
					}
					if r, _ := c.Lookup(names[i%bc.keys]); r.Status != Hit {
						panic("miss in a hit benchmark")
					}
					i++
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the CPU time the process has used, in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
