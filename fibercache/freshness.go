package fibercache

import "time"

// freshness returns how long the page stays fresh from now and how old it
// already is (RFC 9111 §4.2): the route's TTL wins (age 0); else the
// freshness lifetime, s-maxage, max-age or Expires (against Date when
// given), or Config.TTL (none under Config.Strict), less the response's
// current age, the larger of its Age and of now less its Date. reason says
// why it may not be stored at all: an invalid or repeated Expires is
// already expired (§5.3), an Age that does not parse is ignored (§5.1), a
// Date that does not parse counts for nothing.
func (m *middleware) freshness(rh *responseHeaders, now time.Time) (ttl, age time.Duration, reason string) {
	cc := &rh.cc
	nowSec := now.Unix()
	date, haveDate := int64(0), false
	if rh.date != nil {
		date, haveDate = parseHTTPDate(rh.date, now)
	}
	var lifetime int64
	switch {
	case cc.sMaxAge == 0, cc.sMaxAge < 0 && cc.maxAge == 0:
		return 0, 0, "max-age-0"
	case m.routeTTL:
		return m.cfg.TTL, 0, ""
	case cc.sMaxAge > 0:
		lifetime = cc.sMaxAge
	case cc.maxAge > 0:
		lifetime = cc.maxAge
	case rh.nExpires > 0:
		exp, ok := parseHTTPDate(rh.expires, now)
		base := nowSec
		if haveDate {
			base = date
		}
		if !ok || rh.nExpires > 1 || exp <= base {
			return 0, 0, "expired"
		}
		// Saturated as delta-seconds are (RFC 9111 §1.2.2): a far Expires
		// must not overflow the Duration below.
		lifetime = min(exp-base, deltaMax)
	case m.cfg.Strict:
		return 0, 0, "no-freshness"
	default:
		lifetime = -1 // Config.TTL
	}
	var cur int64
	if haveDate && nowSec > date {
		cur = nowSec - date
	}
	if a, ok := parseAge(rh.age); rh.hasAge && ok && a > cur {
		cur = a
	}
	// An ancient Date saturates too: a wrapped Duration would make a
	// centuries-old response fresh (or fresher than it said).
	cur = min(cur, deltaMax)
	age = time.Duration(cur) * time.Second
	if lifetime < 0 {
		ttl = m.cfg.TTL - age
	} else {
		ttl = time.Duration(lifetime-cur) * time.Second
	}
	if ttl <= 0 {
		return 0, age, "stale"
	}
	return ttl, age, ""
}

// applyTargeted makes a CDN-Cache-Control the chain set, when it parses,
// the response's policy instead of Cache-Control and Expires (RFC 9213
// §2.1), for Config.Strict: its freshness and no-cache win; Cache-Control's
// no-store and private, and what was set in front, still forbid.
func (rh *responseHeaders) applyTargeted() {
	if !rh.hasTargeted {
		return
	}
	cc, ok := parseTargeted(rh.targeted)
	if !ok {
		return
	}
	// Cache-Control's no-store and private still forbid (DESIGN rule 2:
	// never stored, whatever else the response says), and what was set
	// in front too.
	cc.noStore = cc.noStore || rh.cc.noStore
	cc.private = cc.private || rh.cc.private
	cc.noCache = cc.noCache || rh.front.noCache
	// Only Cache-Control's own public lets a credentialed response be
	// stored (DESIGN rule 2): a CDN-targeted public is for the CDN's
	// policy, not a licence to share what a user's credentials fetched.
	cc.public = rh.cc.public
	rh.cc = cc
	rh.nExpires, rh.expires = 0, nil
}
