package fibercache

import (
	"testing"
	"time"
)

// FuzzFreshness: whatever Cache-Control, Date, Expires and Age a response
// sends, the lifetime never goes negative nor past what the response
// allowed: a stored page's TTL is positive and at most its s-maxage or
// max-age (Config.TTL when it gives no freshness), and its age is never
// negative. (An ancient Date once wrapped a Duration into months of life
// for a max-age=60 response.)
func FuzzFreshness(f *testing.F) {
	f.Add("max-age=60", "Thu, 01 Jan 0274 00:00:00 GMT", "", "", false)
	f.Add("", "", "Fri, 31 Dec 9999 23:59:59 GMT", "", true)
	f.Add("s-maxage=10", "Sun, 06 Nov 1994 08:49:37 GMT", "", "2147483648", false)
	f.Add("", "Mon, 01 Jan 0001 00:00:00 GMT", "", "-5", false)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, cc, date, expires, age string, strict bool) {
		var hdr []string
		for _, kv := range [...][2]string{{"Cache-Control", cc}, {"Expires", expires}, {"Age", age}} {
			if kv[1] != "" {
				hdr = append(hdr, kv[0], kv[1])
			}
		}
		rh := headersOf(hdr...)
		if date != "" {
			rh.date = []byte(date) // fasthttp keeps Date to itself
		}
		m := &middleware{cfg: configDefault(Config{Strict: strict})}
		ttl, a, reason := m.freshness(&rh, now)
		if a < 0 {
			t.Fatalf("age %v < 0", a)
		}
		if reason != "" {
			return
		}
		if ttl <= 0 {
			t.Fatalf("stored with TTL %v", ttl)
		}
		limit := time.Duration(-1)
		switch {
		case rh.cc.sMaxAge >= 0:
			limit = time.Duration(rh.cc.sMaxAge) * time.Second
		case rh.cc.maxAge >= 0:
			limit = time.Duration(rh.cc.maxAge) * time.Second
		case rh.nExpires == 0:
			limit = m.cfg.TTL
		}
		if ttl > deltaMax*time.Second || limit >= 0 && ttl > limit {
			t.Fatalf("TTL %v past what the response allowed (%v)", ttl, limit)
		}
	})
}
