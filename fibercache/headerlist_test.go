package fibercache

import (
	"bufio"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// TestHeaderListView: with the fasthttp this module pins, the scan reads
// the parsed header list itself (the fast path is the one measured).
func TestHeaderListView(t *testing.T) {
	if !newListView().ok {
		t.Fatal("fasthttp.RequestHeader's header list not found: every scan goes through VisitAll")
	}
}

// scanSummary is everything a scan found that a key, a decision or an
// answer reads.
func scanSummary(r *request) string {
	return fmt.Sprintf("cred=%v auth=%v cookies=%v amb=%q user=%v/%x host=%q fwd=%b/%q cc=%+v pragma=%v up=%v inm=%q ims=%q vary=%b/%q ae=%+v",
		r.credentialed, r.authorization, r.cookies, r.ambiguous, r.hasUser, r.userHash, r.host, r.fwdSeen, r.fwd,
		r.cc, r.pragmaNoCache, r.upgrade, r.inm, r.ims, r.varySeen, r.scratch, r.ae)
}

// scanPair is two middlewares of one config: the first scans through the
// parsed-list pass, the second through VisitAll.
type scanPair [2]*middleware

func newScanPair(t testing.TB, cfg Config) scanPair {
	cfg.Cache, cfg.TTL = newCache(t), time.Hour
	cfg = configDefault(cfg)
	mList := newMiddleware(cfg, false)
	mVisit := newMiddleware(cfg, false)
	mVisit.list = listView{}
	return scanPair{mList, mVisit}
}

// scanConfigs are the configs the two passes are compared under: each
// path of the Cookie walk (a UserCookie or none, so that the first cookie
// not harmless ends it; no cookie harmless; prefixes), and a UserHeader or
// credential header named Cookie (the Cookie line then visited too).
var scanConfigs = []Config{
	{UserCookie: "session"},
	{},
	{UserHeader: "Cookie", HarmlessCookies: []string{}},
	{UserHeader: "X-User", UserCookie: "session", CredentialHeaders: []string{"Cookie", "X-Key"}, HarmlessCookies: []string{"_ga", "sid*", "a", "x*"}},
}

// newScanPairs is newScanPair of each of scanConfigs.
func newScanPairs(t testing.TB) []scanPair {
	var ps []scanPair
	for _, cfg := range scanConfigs {
		ps = append(ps, newScanPair(t, cfg))
	}
	return ps
}

// scanBoth scans one request with the parsed-list pass and with VisitAll
// (a middleware whose list view is off), after front, which stands for
// a middleware in front of the cache, and returns both summaries.
func scanBoth(t testing.TB, ms scanPair, raw string, rec *record, front func(*fiber.Ctx)) (list, visit string, ok bool) {
	t.Helper()
	mList, mVisit := ms[0], ms[1]
	app := fiber.New()
	var out [2]string
	app.Get("/*", func(c *fiber.Ctx) error {
		if front != nil {
			front(c)
		}
		for i, m := range []*middleware{mList, mVisit} {
			r := request{scratch: make([]byte, 0, 64)}
			r.scan(c, m, rec)
			out[i] = scanSummary(&r)
		}
		return nil
	})
	var req fasthttp.Request
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		return "", "", false
	}
	var fctx fasthttp.RequestCtx
	fctx.Init(&req, nil, nil)
	app.Handler()(&fctx)
	return out[0], out[1], true
}

// TestScanListMatchesVisitAll: the parsed-list pass finds what VisitAll
// finds, cookies (raw or already collected) and headers a middleware in
// front set or removed included.
func TestScanListMatchesVisitAll(t *testing.T) {
	const base = "GET /x?q=1 HTTP/1.1\r\nHost: Example.com\r\nAccept-Encoding: gzip, br\r\n"
	vary := &record{nonce: provisional.nonce, vary: []byte("Accept-Encoding,Accept-Language,User-Agent")}
	varyCookie := &record{nonce: provisional.nonce, vary: []byte("Accept-Language,Cookie")}
	pairs := newScanPairs(t)
	fronts := map[string]func(*fiber.Ctx){
		"none":        nil,
		"collect":     func(c *fiber.Ctx) { c.Cookies("x") },
		"set-fwd":     func(c *fiber.Ctx) { c.Request().Header.Set("X-Forwarded-Host", "evil") },
		"set-auth":    func(c *fiber.Ctx) { c.Request().Header.Set("Authorization", "Bearer t") },
		"set-cookie":  func(c *fiber.Ctx) { c.Request().Header.SetCookie("sid", "1") },
		"del-cookie":  func(c *fiber.Ctx) { c.Request().Header.Del("Cookie") },
		"set-vary":    func(c *fiber.Ctx) { c.Request().Header.Set("Accept-Language", "de") },
		"set-host":    func(c *fiber.Ctx) { c.Request().Header.SetHost("other.example") },
		"set-useragt": func(c *fiber.Ctx) { c.Request().Header.SetUserAgent("bot") },
	}
	for _, hdrs := range []string{
		"",
		"Cookie: _ga=GA1.2; _gid=x; cookieconsent_status=dismiss\r\n",
		"Cookie: _ga=1; sid=2\r\n",
		"Cookie: session=\"abc\"; _ga=1\r\nCookie: session=def\r\n",
		"Cookie: novalue; =; ; a==b;;\r\n",
		"Cookie:  sid = 1 ;s=\"\"; \"\" ; =\"q\";session=\"x\" ; session = y\r\n",
		"Cookie: _ga=1; _gid=2\r\nCookie: sid=3; session=4\r\n",
		"Cookie: cookieconsent_status=dismiss; _ga_ABC=1; __utmz=2; other=3\r\n",
		"Cookie:\r\nX-Api-Key: k\r\n",
		"X-Forwarded-Host: a\r\nx-forwarded-host: b\r\nAccept-Language: en\r\n",
		"User-Agent: x\r\nConnection: close\r\nCache-Control: no-store\r\nPragma: no-cache\r\n",
	} {
		for name, front := range fronts {
			for ci, ms := range pairs {
				for _, rec := range []*record{nil, vary, varyCookie} {
					l, v, ok := scanBoth(t, ms, base+hdrs+"\r\n", rec, front)
					if !ok {
						t.Fatalf("%q: not a request", hdrs)
					}
					if l != v {
						t.Errorf("%q, config %d, front %s, vary %v:\n list  %s\n visit %s", hdrs, ci, name, rec != nil, l, v)
					}
				}
			}
		}
	}
}

// FuzzScanList: for any headers, the parsed-list pass and VisitAll agree.
func FuzzScanList(f *testing.F) {
	for _, s := range []string{
		"Cookie: _ga=1; a=b\r\n",
		"Cookie: session=\"q\"; x\r\nCookie: =y\r\n",
		"X-Forwarded-Host: a\r\nAccept-Language: en\r\n",
		"Authorization: x\r\nX-Auth-Token: y\r\nUser-Agent: z\r\n",
		"Cookie:  sid = 1 ;s=\"\"; \"\" ; =\"q\";session=\"x\" ; session = y\r\n",
		"Cookie: cookieconsent_status=dismiss; _ga_ABC=1; __utmz=2; other=3\r\nCookie: a=b\r\n",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	vary := &record{nonce: provisional.nonce, vary: []byte("Accept-Language,User-Agent,X-A")}
	pairs := newScanPairs(f)
	f.Fuzz(func(t *testing.T, hdrs string, collect bool) {
		var front func(*fiber.Ctx)
		if collect {
			front = func(c *fiber.Ctx) { c.Cookies("x") }
		}
		for ci, ms := range pairs {
			for _, rec := range []*record{nil, vary} {
				l, v, ok := scanBoth(t, ms, "GET / HTTP/1.1\r\nHost: h\r\n"+hdrs+"\r\n\r\n", rec, front)
				if ok && l != v {
					t.Fatalf("%q config %d collect=%v:\n list  %s\n visit %s", hdrs, ci, collect, l, v)
				}
			}
		}
	})
}

// TestHeaderListSet: listView.set leaves a response header exactly as
// SetCanonical does, with lines already there (an outer middleware's, one
// of the same name among them) or none, and values longer than the last.
func TestHeaderListSet(t *testing.T) {
	lv := newListView()
	if !lv.respOK {
		t.Fatal("fasthttp.ResponseHeader's header list not found: hits set headers through SetCanonical")
	}
	sets := [][2]string{{"Etag", `W/"abc"`}, {"Age", "12"}, {"X-Cache", "HIT"}, {"Age", "123456"},
		{"Cache-Status", "cachekit; hit; ttl=3600"}, {"X-Frame-Options", "DENY"}, {"Etag", `"x"`}}
	for _, before := range [][][2]string{nil, {{"X-Frame-Options", "SAMEORIGIN"}}, {{"Age", "1"}, {"Vary", "Accept"}}} {
		var a, b fasthttp.Response
		for round := 0; round < 3; round++ { // reused as fasthttp reuses a response
			a.Reset()
			b.Reset()
			for _, kv := range before {
				a.Header.Set(kv[0], kv[1])
				b.Header.Set(kv[0], kv[1])
			}
			for _, kv := range sets[:len(sets)-round] {
				lv.set(&a.Header, []byte(kv[0]), []byte(kv[1]))
				b.Header.SetCanonical([]byte(kv[0]), []byte(kv[1]))
			}
			if ga, gb := a.Header.String(), b.Header.String(); ga != gb {
				t.Fatalf("before %q round %d:\nset:          %q\nSetCanonical: %q", before, round, ga, gb)
			}
			if got := string(a.Header.Peek("Age")); got != "123456" {
				t.Fatalf("Age = %q", got)
			}
		}
	}
}

// TestHarmlessLookup: a cookie name is harmless exactly when it is one of
// Config.HarmlessCookies or starts with one ending in '*', whatever its
// length (short names are looked up by length, long ones in a map).
func TestHarmlessLookup(t *testing.T) {
	long := strings.Repeat("x", 40)
	cfg := configDefault(Config{Cache: newCache(t), HarmlessCookies: []string{"a", "_ga", "_gid", "_gat", "pre_*", long, "exactly32_" + strings.Repeat("y", 22)}})
	m := newMiddleware(cfg, false)
	for name, want := range map[string]bool{
		"a": true, "b": false, "_ga": true, "_gb": false, "_gid": true, "_gat": true, "_ga_": false, "": false,
		"pre_": true, "pre_x": true, "pre": false, long: true, long + "x": false, long[:39]: false,
		"exactly32_" + strings.Repeat("y", 22): true, "exactly32_" + strings.Repeat("y", 21) + "z": false,
	} {
		if got := m.harmless([]byte(name)); got != want {
			t.Errorf("harmless(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestHeaderListSetServed: setServed is SetCanonical for each line in turn
// (the fixed ones, ETag, Age, X-Cache, Cache-Status, Cache-Control and
// Expires), on a response list empty or not, fresh or reused (its lines
// holding other names), whatever the kind.
func TestHeaderListSetServed(t *testing.T) {
	lv := newListView()
	if !lv.respOK {
		t.Fatal("no view of the response list")
	}
	fixed := []hdrPair{{"Last-Modified", []byte("Tue, 01 Dec 2026 15:21:29 GMT")}, {"X-Frame-Options", []byte("DENY")}}
	befores := [][][2]string{nil, {{"Age", "1"}, {"X-Other", "o"}}, {{"Cache-Status", "x"}, {"Etag", "y"}},
		{{"X-Frame-Options", "SAMEORIGIN"}, {"X-Cache", "z"}, {"Last-Modified", "l"}, {"Expires", "0"}},
		{{"Cache-Control", "no-cache"}}}
	kinds := []serveKind{kindHit, kindStale, kindStaleIfError, kindCollapsed, kindRevalidated}
	for _, off := range []listView{lv, {}} { // the list written, and SetCanonical
		var a, b fasthttp.Response // reused across the cases, as a connection's
		for _, before := range befores {
			for nf := 0; nf <= len(fixed); nf++ {
				for _, etag := range []string{"", `"e"`} {
					for _, kind := range kinds {
						for _, hasAge := range []bool{true, false} {
							for j, remaining := range []int64{3600, 7, -12, 0, 123456} {
								cc, exp := "", ""
								if j%2 == 1 {
									cc, exp = "public, max-age=7", "Tue, 01 Dec 2026 15:21:36 GMT"
								}
								a.Reset()
								b.Reset()
								for _, kv := range before {
									a.Header.Set(kv[0], kv[1])
									b.Header.Set(kv[0], kv[1])
								}
								off.setServed(&a.Header, &served{fixed: fixed[:nf], etag: []byte(etag), age: 42, hasAge: hasAge,
									kind: kind, remaining: remaining, cacheControl: []byte(cc), expires: []byte(exp)})
								for _, pr := range fixed[:nf] {
									b.Header.SetCanonical([]byte(pr.name), pr.value)
								}
								if etag != "" {
									b.Header.SetCanonical([]byte("ETag"), []byte(etag))
								}
								if hasAge {
									b.Header.SetCanonical([]byte("Age"), []byte("42"))
								}
								b.Header.SetCanonical([]byte("X-Cache"), appendXCache(nil, kind))
								b.Header.SetCanonical([]byte("Cache-Status"), appendCacheStatus(nil, kind, remaining))
								if cc != "" {
									b.Header.SetCanonical([]byte("Cache-Control"), []byte(cc))
									b.Header.SetCanonical([]byte("Expires"), []byte(exp))
								}
								if ga, gb := a.Header.String(), b.Header.String(); ga != gb {
									t.Fatalf("before %q, %d fixed, etag %q, kind %d, age %v: setServed %q, SetCanonical %q", before, nf, etag, kind, hasAge, ga, gb)
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestCacheStatusValues: the X-Cache and Cache-Status a page served as
// each kind carries.
func TestCacheStatusValues(t *testing.T) {
	for _, tc := range []struct {
		kind      serveKind
		remaining int64
		x, status string
	}{
		{kindHit, 3600, "HIT", "cachekit; hit; ttl=3600"},
		{kindHit, 0, "HIT", "cachekit; hit; ttl=0"},
		{kindStale, -5, "STALE", "cachekit; hit; ttl=-5; detail=stale-while-revalidate"},
		{kindStale, 3, "STALE", "cachekit; hit; ttl=0; detail=stale-while-revalidate"},
		{kindStaleIfError, -70, "STALE", "cachekit; fwd=stale; ttl=-70; detail=stale-if-error"},
		{kindCollapsed, 60, "MISS", "cachekit; fwd=uri-miss; collapsed; stored"},
		{kindRevalidated, 60, "HIT", "cachekit; fwd=stale; fwd-status=304; stored; ttl=60"},
	} {
		if x, st := string(appendXCache(nil, tc.kind)), string(appendCacheStatus([]byte("keep|"), tc.kind, tc.remaining)); x != tc.x || st != "keep|"+tc.status {
			t.Errorf("kind %d, remaining %d: X-Cache %q, Cache-Status %q; want %q, %q", tc.kind, tc.remaining, x, st, tc.x, tc.status)
		}
	}
}

// TestHitHeaderBytes: a hit sends its headers under the names it always
// sent, byte for byte as fasthttp writes them.
func TestHitHeaderBytes(t *testing.T) {
	app := fiber.New()
	app.Use(New(Config{Cache: newCache(t), TTL: time.Hour}))
	app.Get("/blog", renderPage)
	h := app.Handler()
	var ctx fasthttp.RequestCtx
	for i := 0; i < 3; i++ { // as serveLoopReq warms: the third is a hit
		ctx.Init(&fasthttp.Request{}, nil, nil)
		ctx.Response.Reset()
		ctx.ResetUserValues()
		if err := ctx.Request.Read(bufio.NewReader(strings.NewReader(benchBrowserRequest))); err != nil {
			t.Fatal(err)
		}
		h(&ctx)
	}
	got := ctx.Response.Header.String()
	for _, want := range []string{"\r\nETag: W/\"", "\r\nAge: 0\r\n", "\r\nX-Cache: HIT\r\n", "\r\nCache-Status: cachekit; hit; ttl=3600\r\n",
		"\r\nLast-Modified: ", "\r\nContent-Type: text/html\r\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("hit headers lack %q:\n%s", want, got)
		}
	}
}
