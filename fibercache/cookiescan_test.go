package fibercache

import (
	"bufio"
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// indexStopRef is pairStop byte by byte.
func indexStopRef(b []byte) int {
	if i := bytes.IndexAny(b, "=;"); i >= 0 {
		return i
	}
	return len(b)
}

// checkIndexes compares pairStop with its reference.
func checkIndexes(t *testing.T, b []byte) {
	t.Helper()
	if got, want := pairStop(b), indexStopRef(b); got != want {
		t.Fatalf("pairStop(%q) = %d, want %d", b, got, want)
	}
}

// TestCookieIndexes: the eight-bytes-at-a-time search finds what
// bytes.IndexAny finds, at every position of lengths around the word size,
// among bytes one bit off
// '=' and ';' (0x3c, 0x3f, 0x39, 0xbd, 0xbb), zeros and spaces, with one
// or two of the bytes sought.
func TestCookieIndexes(t *testing.T) {
	for n := 0; n <= 48; n++ {
		for _, fill := range []byte{'a', '<', '?', '9', 0xbd, 0xbb, 0x00, ' '} {
			base := bytes.Repeat([]byte{fill}, n)
			checkIndexes(t, base)
			for p := 0; p < n; p++ {
				for _, c := range []byte{'=', ';'} {
					b := bytes.Clone(base)
					b[p] = c
					checkIndexes(t, b)
					for q := p + 1; q < n; q++ {
						d := bytes.Clone(b)
						d[q] = '=' + ';' - c
						checkIndexes(t, d)
					}
				}
			}
		}
	}
}

// FuzzCookieIndexes: the same for any bytes.
func FuzzCookieIndexes(f *testing.F) {
	f.Add([]byte("cookieconsent_status=dismiss"))
	f.Add([]byte("_ga=GA1.1.1234567890.1700000000; _gid=GA1.1.987654321.1700000000"))
	f.Add([]byte("\x3c\x3e\xbd=\x00;"))
	f.Fuzz(checkIndexes)
}

// harmlessRef is Config.HarmlessCookies read plainly: an exact name, or a
// prefix before a final '*'.
func harmlessRef(names []string, name string) bool {
	for _, n := range names {
		if p, ok := strings.CutSuffix(n, "*"); ok && strings.HasPrefix(name, p) || n == name {
			return true
		}
	}
	return false
}

// FuzzHarmless: middleware.harmless (names by length, then prefixes by
// their first byte) agrees with harmlessRef for any name,
// against a list with names of every length class (under 4, 4-7, 8-16,
// 17-32, longer) and prefixes (one-byte ones in a second list),
// near misses of each included.
func FuzzHarmless(f *testing.F) {
	lists := [][]string{
		append(slices.Clone(ConfigDefault.HarmlessCookies), "a", "ab", "abc", "abcdefg", "abcdefgh",
			"abcdefghijklmnop", "abcdefghijklmnopq", strings.Repeat("z", 32), strings.Repeat("z", 33), "pre*"),
		{"x", "_*", "y*"},
	}
	var ms []*middleware
	for _, l := range lists {
		ms = append(ms, newMiddleware(configDefault(Config{Cache: newCache(f), HarmlessCookies: l}), false))
		for _, n := range l {
			n = strings.TrimSuffix(n, "*")
			f.Add(n)
			if n != "" {
				f.Add(n[:len(n)-1])
				f.Add(n + "x")
				for i := range len(n) {
					b := []byte(n)
					b[i] ^= 1
					f.Add(string(b))
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, name string) {
		for i, m := range ms {
			if got, want := m.harmless([]byte(name)), harmlessRef(lists[i], name); got != want {
				t.Fatalf("list %d: harmless(%q) = %v, want %v", i, name, got, want)
			}
		}
	})
}

// BenchmarkScan is the request scan alone (request.scan through the
// parsed-list pass) of a browser's request (benchBrowserRequest: three
// harmless cookies), and of one with a session cookie before four
// analytics ones, without and with Config.UserCookie naming it.
func BenchmarkScan(b *testing.B) {
	session := strings.Replace(benchBrowserRequest, "Cookie: ",
		"Cookie: sessionid=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08; ", 1)
	session = strings.Replace(session, "cookieconsent_status=dismiss", "_ga_ABC123=GS1.1.1700000000.1.0.1700000000.0.0.0; _gat=1; cookieconsent_status=dismiss", 1)
	for _, bc := range []struct {
		name, raw string
		cfg       Config
	}{
		{"browser", benchBrowserRequest, Config{}},
		{"session", session, Config{}},
		{"session-user", session, Config{UserCookie: "sessionid"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := bc.cfg
			cfg.Cache = newCache(b)
			m := newMiddleware(configDefault(cfg), false)
			app := fiber.New()
			app.Get("/*", func(c *fiber.Ctx) error {
				r := request{scratch: make([]byte, 0, 64)}
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					r.reset()
					r.scan(c, m, nil)
				}
				return nil
			})
			var req fasthttp.Request
			if err := req.Read(bufio.NewReader(strings.NewReader(bc.raw))); err != nil {
				b.Fatal(err)
			}
			var fctx fasthttp.RequestCtx
			fctx.Init(&req, nil, nil)
			app.Handler()(&fctx)
		})
	}
}
