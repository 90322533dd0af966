package fibercache

// CDN-Cache-Control (RFC 9213): a targeted Cache-Control for shared caches
// that are CDNs, which Config.Strict honours. Its value is a Structured
// Field Dictionary (RFC 8941); a value that does not parse as one, is
// empty, or gives a known directive a value of the wrong type is ignored
// whole, and Cache-Control then applies as usual.

// parseTargeted parses a CDN-Cache-Control value into a cacheControl; ok
// false when the field is to be ignored.
func parseTargeted(s []byte) (cc cacheControl, ok bool) {
	cc = newCacheControl()
	i := skipSP(s, 0)
	if i == len(s) {
		return cc, false
	}
	for {
		key, j, ok := sfKey(s, i)
		if !ok {
			return cc, false
		}
		i = j
		var kind byte = '?' // boolean true when no value
		var num int64
		if i < len(s) && s[i] == '=' {
			if kind, num, i, ok = sfBareItem(s, i+1); !ok {
				return cc, false
			}
		}
		for i < len(s) && s[i] == ';' { // parameters: parsed, not used
			i = skipSP(s, i+1)
			if _, i, ok = sfKey(s, i); !ok {
				return cc, false
			}
			if i < len(s) && s[i] == '=' {
				if _, _, i, ok = sfBareItem(s, i+1); !ok {
					return cc, false
				}
			}
		}
		if !cc.targetedDirective(key, kind, num) {
			return cc, false
		}
		i = skipOWS(s, i)
		if i == len(s) {
			return cc, true
		}
		if s[i] != ',' {
			return cc, false
		}
		i = skipOWS(s, i+1)
		if i == len(s) {
			return cc, false // a trailing comma
		}
	}
}

// targetedDirective records one member; false when a known directive has
// a value of the wrong type.
func (cc *cacheControl) targetedDirective(key string, kind byte, num int64) bool {
	cc.any = true
	delta := func(d *int64) bool {
		if kind != 'i' || num < 0 {
			return false
		}
		*d = minDelta(*d, min(num, deltaMax))
		return true
	}
	switch key {
	case "max-age":
		return delta(&cc.maxAge)
	case "s-maxage":
		return delta(&cc.sMaxAge)
	case "stale-while-revalidate":
		return delta(&cc.staleWhileRev)
	case "stale-if-error":
		return delta(&cc.staleIf)
	case "no-store":
		cc.noStore = true
	case "no-cache":
		cc.noCache = true
	case "private":
		cc.private = true
	case "public":
		cc.public = true
	case "must-revalidate":
		cc.mustRevalidate = true
	case "proxy-revalidate":
		cc.proxyRevalidate = true
	}
	return true
}

// sfKey reads a key (lcalpha or '*', then lcalpha, digits, '_-.*').
func sfKey(s []byte, i int) (string, int, bool) {
	if i >= len(s) || !(s[i] >= 'a' && s[i] <= 'z' || s[i] == '*') {
		return "", i, false
	}
	start := i
	for i < len(s) && (s[i] >= 'a' && s[i] <= 'z' || s[i] >= '0' && s[i] <= '9' ||
		s[i] == '_' || s[i] == '-' || s[i] == '.' || s[i] == '*') {
		i++
	}
	return b2s(s[start:i]), i, true
}

// sfBareItem reads a bare item and returns its kind: 'i' integer (num),
// 'd' decimal, 's' string, 't' token, 'b' byte sequence, '?' boolean.
func sfBareItem(s []byte, i int) (kind byte, num int64, next int, ok bool) {
	if i >= len(s) {
		return 0, 0, i, false
	}
	switch c := s[i]; {
	case c == '-' || c >= '0' && c <= '9':
		return sfNumber(s, i)
	case c == '"':
		next, ok = sfString(s, i)
		return 's', 0, next, ok
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '*':
		for i++; i < len(s) && (isTokenChar(s[i]) || s[i] == ':' || s[i] == '/'); i++ {
		}
		return 't', 0, i, true
	case c == ':':
		next, ok = sfByteSeq(s, i)
		return 'b', 0, next, ok
	case c == '?':
		if i+1 < len(s) && (s[i+1] == '0' || s[i+1] == '1') {
			return '?', 0, i + 2, true
		}
	}
	return 0, 0, i, false
}

// sfString reads a string item starting at its opening quote s[i].
func sfString(s []byte, i int) (next int, ok bool) {
	for i++; i < len(s); i++ {
		switch {
		case s[i] == '\\':
			if i+1 >= len(s) || s[i+1] != '"' && s[i+1] != '\\' {
				return i, false
			}
			i++
		case s[i] == '"':
			return i + 1, true
		case s[i] < 0x20 || s[i] > 0x7e:
			return i, false
		}
	}
	return i, false
}

// sfByteSeq reads a byte sequence (base64 between colons) starting at s[i].
func sfByteSeq(s []byte, i int) (next int, ok bool) {
	for i++; i < len(s) && s[i] != ':'; i++ {
		if !(s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || s[i] >= '0' && s[i] <= '9' ||
			s[i] == '+' || s[i] == '/' || s[i] == '=') {
			return i, false
		}
	}
	if i >= len(s) {
		return i, false
	}
	return i + 1, true
}

// sfNumber reads an integer (at most 15 digits) or a decimal (at most 12
// integer and 3 fraction digits).
func sfNumber(s []byte, i int) (kind byte, num int64, next int, ok bool) {
	neg := s[i] == '-'
	if neg {
		i++
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		num = num*10 + int64(s[i]-'0')
		i++
	}
	n := i - start
	if n == 0 || n > 15 {
		return 0, 0, i, false
	}
	if i < len(s) && s[i] == '.' {
		if n > 12 {
			return 0, 0, i, false
		}
		i++
		fs := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if f := i - fs; f == 0 || f > 3 {
			return 0, 0, i, false
		}
		return 'd', 0, i, true
	}
	if neg {
		num = -num
	}
	return 'i', num, i, true
}

func skipSP(s []byte, i int) int {
	for i < len(s) && s[i] == ' ' {
		i++
	}
	return i
}

func skipOWS(s []byte, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}
