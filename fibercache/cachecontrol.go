package fibercache

// A small, forgiving Cache-Control parser (RFC 9111 §5.2). Directive names
// match case-insensitively (Django's GHSA-8cjm-8mp7-r2xf was a parser that
// did not); values may be tokens or quoted strings, and a quoted string may
// hold commas. Anything malformed errs on the side of not storing: a
// delta-seconds that does not parse reads as 0 (already stale), and a
// directive given twice keeps its smallest value.

// deltaMax is where delta-seconds saturate (RFC 9111 §1.2.2).
const deltaMax = 2147483648

// cacheControl is a parsed Cache-Control field. Durations are in seconds,
// -1 when absent.
type cacheControl struct {
	noStore, noCache, private, public       bool
	mustRevalidate, proxyRevalidate         bool
	maxAge, sMaxAge, staleWhileRev, staleIf int64
	// any: at least one directive was seen.
	any bool
}

func newCacheControl() cacheControl {
	return cacheControl{maxAge: -1, sMaxAge: -1, staleWhileRev: -1, staleIf: -1}
}

// parse adds the directives of one Cache-Control field line to cc. Several
// lines are the same as one line joined with commas.
func (cc *cacheControl) parse(s []byte) {
	i := 0
	for i < len(s) {
		// skip separators and whitespace
		for i < len(s) && (s[i] == ',' || s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i >= len(s) {
			return
		}
		start := i
		for i < len(s) && isTokenChar(s[i]) {
			i++
		}
		name := s[start:i]
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		var value []byte
		hasValue, quoted := false, false
		if i < len(s) && s[i] == '=' {
			hasValue = true
			i++
			for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
				i++
			}
			if i < len(s) && s[i] == '"' {
				quoted = true
				i++
				vs := i
				for i < len(s) && s[i] != '"' {
					if s[i] == '\\' && i+1 < len(s) {
						i++
					}
					i++
				}
				value = s[vs:i]
				if i < len(s) {
					i++ // closing quote
				}
			} else {
				vs := i
				for i < len(s) && s[i] != ',' && s[i] != ' ' && s[i] != '\t' && s[i] != ';' {
					i++
				}
				value = s[vs:i]
			}
		}
		// skip anything up to the next comma (junk after a directive)
		for i < len(s) && s[i] != ',' {
			if s[i] == '"' { // an unexpected quoted string: skip it whole
				i++
				for i < len(s) && s[i] != '"' {
					if s[i] == '\\' && i+1 < len(s) {
						i++
					}
					i++
				}
			}
			if i < len(s) {
				i++
			}
		}
		if len(name) == 0 {
			if i < len(s) && s[i] != ',' {
				i++ // not a token start: move on
			}
			continue
		}
		cc.any = true
		cc.directive(name, value, hasValue, quoted)
	}
}

func (cc *cacheControl) directive(name, value []byte, hasValue, quoted bool) {
	_ = quoted
	switch {
	case equalFoldASCII(name, "no-store"):
		cc.noStore = true
	case equalFoldASCII(name, "no-cache"):
		// no-cache="field" is stricter than caches need to be; treated
		// as no-cache for the whole response.
		cc.noCache = true
	case equalFoldASCII(name, "private"):
		cc.private = true
	case equalFoldASCII(name, "public"):
		cc.public = true
	case equalFoldASCII(name, "must-revalidate"):
		cc.mustRevalidate = true
	case equalFoldASCII(name, "proxy-revalidate"):
		cc.proxyRevalidate = true
	case equalFoldASCII(name, "max-age"):
		cc.maxAge = minDelta(cc.maxAge, parseDelta(value, hasValue))
	case equalFoldASCII(name, "s-maxage"):
		cc.sMaxAge = minDelta(cc.sMaxAge, parseDelta(value, hasValue))
	case equalFoldASCII(name, "stale-while-revalidate"):
		cc.staleWhileRev = minDelta(cc.staleWhileRev, parseDelta(value, hasValue))
	case equalFoldASCII(name, "stale-if-error"):
		cc.staleIf = minDelta(cc.staleIf, parseDelta(value, hasValue))
	}
}

// parseDelta parses delta-seconds; anything that is not one reads as 0.
func parseDelta(v []byte, hasValue bool) int64 {
	if !hasValue || len(v) == 0 {
		return 0
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0
		}
		if n < deltaMax {
			n = n*10 + int64(c-'0')
		}
	}
	if n > deltaMax {
		n = deltaMax
	}
	return n
}

func minDelta(old, v int64) int64 {
	if old < 0 || v < old {
		return v
	}
	return old
}

// isTokenChar reports whether c may appear in an RFC 9110 token.
func isTokenChar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// equalFoldASCII compares b with the lower-case ASCII string s, ignoring
// the case of b.
func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// equalFoldBytes compares two ASCII byte strings ignoring case.
func equalFoldBytes(a, b []byte) bool { return equalFold(a, b2s(b)) }

// equalFold compares two ASCII strings ignoring case.
func equalFold(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x >= 'A' && x <= 'Z' {
			x += 'a' - 'A'
		}
		if y >= 'A' && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
