package fragments

import (
	"reflect"
	"testing"
)

// FuzzTTL: any string ttl, as a literal (parseTTL with dynamic false) or
// from the data (toTTL), either parses or fails with an error; a literal
// never yields a negative TTL, and both agree where both accept.
func FuzzTTL(f *testing.F) {
	for _, s := range []string{"0", "60", "-5", "5m", "-1m", "1h30m", "abc", "", "9223372036854775807", "1e9", "-0", "0.5s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lit, lerr := parseTTL(s, false)
		dyn, derr := toTTL(reflect.ValueOf(s))
		if lerr == nil && lit < 0 {
			t.Fatalf("literal %q: negative TTL %v accepted", s, lit)
		}
		if lerr == nil && (derr != nil || dyn != lit) {
			t.Fatalf("literal %q = %v, from the data = %v, %v", s, lit, dyn, derr)
		}
		if derr == nil && dyn >= 0 && lerr != nil {
			t.Fatalf("%q: accepted from the data (%v), refused as a literal: %v", s, dyn, lerr)
		}
	})
}
