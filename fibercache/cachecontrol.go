package fibercache

import "github.com/gofiber/fiber/v2/utils"

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
	if string(s) == "max-age=0" {
		// What browsers send on a reload, read as the loop below reads it.
		cc.any = true
		cc.maxAge = 0
		return
	}
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
		i = skipSpace(s, i)
		var value []byte
		hasValue := i < len(s) && s[i] == '='
		if hasValue {
			value, i = directiveValue(s, skipSpace(s, i+1))
		}
		i = skipToComma(s, i)
		if len(name) == 0 {
			if i < len(s) && s[i] != ',' {
				i++ // not a token start: move on
			}
			continue
		}
		cc.any = true
		cc.directive(b2s(name), value, hasValue)
	}
}

// skipSpace returns the index of the first byte of s from i on that is not
// a space or a tab.
func skipSpace(s []byte, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// directiveValue reads the value starting at s[i], a token or a quoted
// string (returned without its quotes), and returns the index after it.
func directiveValue(s []byte, i int) (value []byte, next int) {
	if i < len(s) && s[i] == '"' {
		vs := i + 1
		i = skipQuoted(s, vs)
		value = s[vs:i]
		if i < len(s) {
			i++ // closing quote
		}
		return value, i
	}
	vs := i
	for i < len(s) && s[i] != ',' && s[i] != ' ' && s[i] != '\t' && s[i] != ';' {
		i++
	}
	return s[vs:i], i
}

// skipQuoted returns the index of the quote that closes the quoted string
// whose content starts at s[i] (len(s) when none does).
func skipQuoted(s []byte, i int) int {
	for i < len(s) && s[i] != '"' {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		i++
	}
	return i
}

// skipToComma skips anything up to the next comma (junk after a
// directive), an unexpected quoted string whole.
func skipToComma(s []byte, i int) int {
	for i < len(s) && s[i] != ',' {
		if s[i] == '"' {
			i = skipQuoted(s, i+1)
		}
		if i < len(s) {
			i++
		}
	}
	return i
}

func (cc *cacheControl) directive(name string, value []byte, hasValue bool) {
	switch {
	case utils.EqualFold(name, "no-store"):
		cc.noStore = true
	case utils.EqualFold(name, "no-cache"):
		// no-cache="field" is stricter than caches need to be; treated
		// as no-cache for the whole response.
		cc.noCache = true
	case utils.EqualFold(name, "private"):
		cc.private = true
	case utils.EqualFold(name, "public"):
		cc.public = true
	case utils.EqualFold(name, "must-revalidate"):
		cc.mustRevalidate = true
	case utils.EqualFold(name, "proxy-revalidate"):
		cc.proxyRevalidate = true
	case utils.EqualFold(name, "max-age"):
		cc.maxAge = minDelta(cc.maxAge, parseDelta(value, hasValue))
	case utils.EqualFold(name, "s-maxage"):
		cc.sMaxAge = minDelta(cc.sMaxAge, parseDelta(value, hasValue))
	case utils.EqualFold(name, "stale-while-revalidate"):
		cc.staleWhileRev = minDelta(cc.staleWhileRev, parseDelta(value, hasValue))
	case utils.EqualFold(name, "stale-if-error"):
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
