package fibercache

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
)

// CacheControl merges directives into the response's Cache-Control header,
// as Django's cache_control decorator (patch_cache_control) does: each
// directive ("public", "max-age=3600", "stale-while-revalidate=30") replaces
// one of the same name already there, names match whatever their case,
// public and private exclude each other (the last one given wins), and a
// max-age already set keeps the smaller of the two values. A directive
// that is not a token, or token=value, is ignored. Call it from the
// handler: the cache reads the header once the handler returned.
func CacheControl(c *fiber.Ctx, directives ...string) {
	h := &c.Response().Header
	cur := splitDirectives(string(h.Peek(fiber.HeaderCacheControl)))
	for _, d := range directives {
		name, value, hasValue := strings.Cut(strings.TrimSpace(d), "=")
		name = strings.ToLower(strings.TrimSpace(name))
		if !isToken(name) || hasValue && !validDirectiveValue(value) {
			continue
		}
		switch name {
		case "public":
			cur = dropDirective(cur, "private")
		case "private":
			cur = dropDirective(cur, "public")
		case "max-age":
			if old, ok := directiveOf(cur, "max-age"); ok {
				o, err1 := strconv.ParseInt(old, 10, 64)
				n, err2 := strconv.ParseInt(value, 10, 64)
				if err1 == nil && err2 == nil && o < n {
					value = old
				}
			}
		}
		cur = dropDirective(cur, name)
		if hasValue {
			cur = append(cur, name+"="+value)
		} else {
			cur = append(cur, name)
		}
	}
	if len(cur) == 0 {
		return
	}
	h.Set(fiber.HeaderCacheControl, strings.Join(cur, ", "))
}

// NeverCache marks the response as never to be cached, as Django's
// never_cache decorator (add_never_cache_headers) does: Cache-Control:
// max-age=0, no-cache, no-store, must-revalidate, private and an Expires of
// now, so no browser, proxy or CDN keeps it; and no-store keeps it out of
// this cache too, whatever Page's TTL says.
func NeverCache(c *fiber.Ctx) {
	CacheControl(c, "max-age=0", "no-cache", "no-store", "must-revalidate", "private")
	c.Response().Header.Set(fiber.HeaderExpires, time.Now().UTC().Format(http.TimeFormat))
}

// PatchVary adds headers to the response's Vary, as Django's
// patch_vary_headers does: names already listed (in any case) are not
// repeated, and "*" replaces the whole list. The cache then stores one page
// per value of each (Accept-Encoding normalised).
func PatchVary(c *fiber.Ctx, headers ...string) {
	h := &c.Response().Header
	var cur []string
	for _, n := range strings.Split(string(h.Peek(fiber.HeaderVary)), ",") {
		if n = strings.TrimSpace(n); n != "" {
			cur = append(cur, n)
		}
	}
	for _, n := range headers {
		n = strings.TrimSpace(n)
		if n == "" || n != "*" && !isToken(n) {
			continue
		}
		seen := false
		for _, o := range cur {
			if utils.EqualFold(o, n) {
				seen = true
				break
			}
		}
		if !seen {
			cur = append(cur, n)
		}
	}
	for _, n := range cur {
		if n == "*" {
			cur = []string{"*"}
			break
		}
	}
	if len(cur) > 0 {
		h.Set(fiber.HeaderVary, strings.Join(cur, ", "))
	}
}

// splitDirectives splits a Cache-Control value into its directives, each
// trimmed (quoted strings are kept whole).
func splitDirectives(v string) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i <= len(v); i++ {
		if i < len(v) {
			switch v[i] {
			case '"':
				quoted = !quoted
				continue
			case '\\':
				if quoted {
					i++
				}
				continue
			case ',':
				if quoted {
					continue
				}
			default:
				continue
			}
		}
		if d := strings.TrimSpace(v[start:min(i, len(v))]); d != "" {
			out = append(out, d)
		}
		start = i + 1
	}
	return out
}

func directiveName(d string) string {
	name, _, _ := strings.Cut(d, "=")
	return strings.TrimSpace(name)
}

func directiveOf(ds []string, name string) (string, bool) {
	for _, d := range ds {
		if utils.EqualFold(directiveName(d), name) {
			_, v, _ := strings.Cut(d, "=")
			return strings.Trim(strings.TrimSpace(v), `"`), true
		}
	}
	return "", false
}

func dropDirective(ds []string, name string) []string {
	out := ds[:0]
	for _, d := range ds {
		if !utils.EqualFold(directiveName(d), name) {
			out = append(out, d)
		}
	}
	return out
}

// validDirectiveValue: a token, or a quoted string without a line break.
func validDirectiveValue(v string) bool {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return !strings.ContainsAny(v, "\r\n")
	}
	return isToken(v)
}
