package fibercache

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// headersOf collects a response's headers the way analyze does. hdr holds
// name, value pairs.
func headersOf(hdr ...string) responseHeaders {
	var h fasthttp.ResponseHeader
	h.DisableNormalizing()
	for i := 0; i+1 < len(hdr); i += 2 {
		h.Add(hdr[i], hdr[i+1])
	}
	return collectHeaders(&h, nil)
}

func TestCollectHeaders(t *testing.T) {
	cases := []struct {
		name  string
		hdr   []string
		check func(rh *responseHeaders) bool
	}{
		{"set-cookie", []string{"Set-Cookie", "a=b"}, func(rh *responseHeaders) bool { return rh.setCookie }},
		{"cache-control any case", []string{"cache-control", "PUBLIC, max-age=5"},
			func(rh *responseHeaders) bool { return rh.hasCC && rh.cc.public && rh.cc.maxAge == 5 }},
		{"cache-control over two lines", []string{"Cache-Control", "public", "Cache-Control", "max-age=5"},
			func(rh *responseHeaders) bool { return rh.cc.public && rh.cc.maxAge == 5 }},
		{"pragma no-cache", []string{"Pragma", "No-Cache"}, func(rh *responseHeaders) bool { return rh.pragmaNoCache }},
		{"vary names canonical", []string{"Vary", "accept-language, x-theme"},
			func(rh *responseHeaders) bool { return strings.Join(rh.names, ",") == "Accept-Language,X-Theme" }},
		{"vary star", []string{"Vary", "Accept, *"}, func(rh *responseHeaders) bool { return rh.varyStar }},
		{"vary not a token", []string{"Vary", "a b"}, func(rh *responseHeaders) bool { return rh.badVary }},
		{"surrogate keys", []string{"Surrogate-Key", " a  b "},
			func(rh *responseHeaders) bool { return strings.Join(rh.tags, ",") == "a,b" }},
		{"encoded", []string{"Content-Encoding", "gzip"}, func(rh *responseHeaders) bool { return rh.encoded }},
		{"identity is not encoded", []string{"Content-Encoding", "Identity"}, func(rh *responseHeaders) bool { return !rh.encoded }},
		{"connection lists hop-by-hop", []string{"Connection", "close, X-Hop"},
			func(rh *responseHeaders) bool { return strings.Join(rh.hop, ",") == "close,X-Hop" }},
		{"validators", []string{"ETag", `"x"`, "Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT"},
			func(rh *responseHeaders) bool { return string(rh.etag) == `"x"` && len(rh.lastModText) > 0 }},
		{"expires", []string{"Expires", "e"}, func(rh *responseHeaders) bool { return string(rh.expires) == "e" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rh := headersOf(tc.hdr...)
			if !tc.check(&rh) {
				t.Errorf("headers %q: got %+v", tc.hdr, rh)
			}
		})
	}
}

func TestRefusal(t *testing.T) {
	cases := []struct {
		name         string
		hdr          []string
		credentialed bool
		want         string
	}{
		{"plain", nil, false, ""},
		{"set-cookie", []string{"Set-Cookie", "a=b", "Cache-Control", "public"}, false, "set-cookie"},
		{"no-store", []string{"Cache-Control", "no-store"}, false, "no-store"},
		{"private", []string{"Cache-Control", "Private"}, false, "private"},
		{"no-cache", []string{"Cache-Control", "no-cache"}, false, "no-cache"},
		{"pragma without cache-control", []string{"Pragma", "no-cache"}, false, "no-cache"},
		{"pragma under cache-control", []string{"Pragma", "no-cache", "Cache-Control", "max-age=5"}, false, ""},
		{"vary star", []string{"Vary", "*"}, false, "vary-star"},
		{"bad vary", []string{"Vary", "a b"}, false, "vary-star"},
		{"credentials", nil, true, "credentials"},
		{"credentials, public", []string{"Cache-Control", "public"}, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rh := headersOf(tc.hdr...)
			if got := refusal(&rh, tc.credentialed); got != tc.want {
				t.Errorf("refusal = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFreshness(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }
	cases := []struct {
		name       string
		hdr        []string
		routeTTL   bool
		wantTTL    time.Duration
		wantReason string
		strict     bool
		wantAge    time.Duration
	}{
		{"config TTL", nil, false, time.Minute, "", false, 0},
		{"route TTL wins", []string{"Cache-Control", "max-age=5"}, true, time.Minute, "", false, 0},
		{"max-age", []string{"Cache-Control", "max-age=5"}, false, 5 * time.Second, "", false, 0},
		{"s-maxage over max-age", []string{"Cache-Control", "max-age=5, s-maxage=7"}, false, 7 * time.Second, "", false, 0},
		{"max-age=0", []string{"Cache-Control", "max-age=0"}, false, 0, "max-age-0", false, 0},
		{"s-maxage=0", []string{"Cache-Control", "s-maxage=0, max-age=9"}, false, 0, "max-age-0", false, 0},
		{"max-age=0 beats the route", []string{"Cache-Control", "max-age=0"}, true, 0, "max-age-0", false, 0},
		{"expires", []string{"Expires", at(30 * time.Second)}, false, 30 * time.Second, "", false, 0},
		{"expires against date", []string{"Expires", at(30 * time.Second), "date", at(10 * time.Second)}, false, 20 * time.Second, "", false, 0},
		{"expires past", []string{"Expires", at(-time.Second)}, false, 0, "expired", false, 0},
		{"expires malformed", []string{"Expires", "0"}, false, 0, "expired", false, 0},
		{"max-age over expires", []string{"Cache-Control", "max-age=5", "Expires", at(time.Hour)}, false, 5 * time.Second, "", false, 0},
		{"expires twice", []string{"Expires", at(time.Hour), "Expires", at(time.Hour)}, false, 0, "expired", false, 0},
		{"expires rfc850", []string{"Expires", now.Add(time.Hour).Format("Monday, 02-Jan-06 15:04:05 GMT")}, false, time.Hour, "", false, 0},
		{"expires asctime", []string{"Expires", now.Add(time.Hour).Format(time.ANSIC)}, false, time.Hour, "", false, 0},
		{"expires 1-digit hour", []string{"Expires", "Fri, 02 Jan 2026 4:04:05 GMT"}, false, 0, "expired", false, 0},
		{"expires UTC", []string{"Expires", "Fri, 02 Jan 2026 04:04:05 UTC"}, false, 0, "expired", false, 0},
		{"age counts", []string{"Cache-Control", "max-age=3600", "Age", "600"}, false, 3000 * time.Second, "", false, 600 * time.Second},
		{"age beyond max-age", []string{"Cache-Control", "max-age=3600", "Age", "7200"}, false, 0, "stale", false, 7200 * time.Second},
		{"age first member", []string{"Cache-Control", "max-age=3600", "Age", "7200, 0"}, false, 0, "stale", false, 7200 * time.Second},
		{"age first line", []string{"Cache-Control", "max-age=3600", "Age", "0", "Age", "7200"}, false, 3600 * time.Second, "", false, 0},
		{"age huge", []string{"Cache-Control", "max-age=3600", "Age", "99999999999999999999"}, false, 0, "stale", false, deltaMax * time.Second},
		{"age invalid ignored", []string{"Cache-Control", "max-age=3600", "Age", "7200.0"}, false, 3600 * time.Second, "", false, 0},
		{"age negative ignored", []string{"Cache-Control", "max-age=3600", "Age", "-7200"}, false, 3600 * time.Second, "", false, 0},
		{"old date counts", []string{"Cache-Control", "max-age=3600", "date", at(-time.Minute)}, false, 3540 * time.Second, "", false, time.Minute},
		{"bad date ignored", []string{"Cache-Control", "max-age=3600", "date", "yesterday"}, false, 3600 * time.Second, "", false, 0},
		{"age shortens config TTL", []string{"Age", "20"}, false, 40 * time.Second, "", false, 20 * time.Second},
		{"route ignores age", []string{"Age", "7200"}, true, time.Minute, "", false, 0},
		{"strict without freshness", nil, false, 0, "no-freshness", true, 0},
		{"strict max-age", []string{"Cache-Control", "max-age=9"}, false, 9 * time.Second, "", true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := &middleware{cfg: configDefault(Config{Strict: tc.strict}), routeTTL: tc.routeTTL}
			rh := headersOf(tc.hdr...)
			for i := 0; i+1 < len(tc.hdr); i += 2 {
				if tc.hdr[i] == "date" { // fasthttp keeps Date to itself
					rh.date = []byte(tc.hdr[i+1])
				}
			}
			ttl, age, reason := m.freshness(&rh, now)
			if ttl != tc.wantTTL || reason != tc.wantReason || age != tc.wantAge {
				t.Errorf("freshness = %v %v %q, want %v %v %q", ttl, age, reason, tc.wantTTL, tc.wantAge, tc.wantReason)
			}
		})
	}
}

func TestStaleWindows(t *testing.T) {
	cases := []struct {
		name     string
		cc       string
		cfgSWR   time.Duration
		cfgSIE   time.Duration
		swr, sie time.Duration
	}{
		{"none", "", 0, 0, 0, 0},
		{"from the response", "stale-while-revalidate=3, stale-if-error=4", 0, 0, 3 * time.Second, 4 * time.Second},
		{"config wins", "stale-while-revalidate=3, stale-if-error=4", time.Minute, time.Hour, time.Minute, time.Hour},
		{"must-revalidate", "must-revalidate, stale-if-error=4", time.Minute, 0, 0, 0},
		{"proxy-revalidate", "proxy-revalidate", time.Minute, time.Hour, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := &middleware{cfg: Config{StaleWhileRevalidate: tc.cfgSWR, StaleIfError: tc.cfgSIE}}
			cc := parseCC(tc.cc)
			swr, sie := m.staleWindows(&cc)
			if swr != tc.swr || sie != tc.sie {
				t.Errorf("staleWindows = %v %v, want %v %v", swr, sie, tc.swr, tc.sie)
			}
		})
	}
}

func TestVaryList(t *testing.T) {
	cases := []struct {
		name        string
		hdr         []string
		have        string
		want        string
		wantChanged bool
		wantReason  string
	}{
		{"none", nil, "", "", false, ""},
		{"learned", []string{"Vary", "X-Theme"}, "", "X-Theme", true, ""},
		{"known", []string{"Vary", "x-theme"}, "X-Theme", "X-Theme", false, ""},
		{"kept when the response drops it", nil, "X-Theme", "X-Theme", false, ""},
		{"sorted and merged", []string{"Vary", "X-B, X-A"}, "X-C", "X-A,X-B,X-C", true, ""},
		{"encoded adds Accept-Encoding", []string{"Content-Encoding", "br"}, "", "Accept-Encoding", true, ""},
		{"too many", []string{"Vary", "A,B,C,D,E,F,G,H,I"}, "", "", false, "vary-too-many"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rh := headersOf(tc.hdr...)
			vary, changed, reason := varyList(&rh, []byte(tc.have))
			if string(vary) != tc.want || changed != tc.wantChanged || reason != tc.wantReason {
				t.Errorf("varyList = %q %v %q, want %q %v %q", vary, changed, reason, tc.want, tc.wantChanged, tc.wantReason)
			}
		})
	}
}

func TestValidators(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	lm := "Mon, 02 Jan 2006 15:04:05 GMT"
	cases := []struct {
		name             string
		etag, lastMod    string
		etagMade, lmMade bool
		wantLM           int64
	}{
		{"both made", "", "", true, true, now.Unix()},
		{"both kept", `"v1"`, lm, false, false, 1136214245},
		{"malformed Last-Modified is made", `"v1"`, "yesterday", false, true, now.Unix()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			an := analysis{etag: []byte(tc.etag), lastModText: []byte(tc.lastMod)}
			if tc.etag == "" {
				an.etag = nil
			}
			an.validators([]byte("body"), nil, now)
			if an.etagMade != tc.etagMade || an.lmMade != tc.lmMade || an.lastModified != tc.wantLM {
				t.Errorf("made %v %v, lastModified %d; want %v %v %d", an.etagMade, an.lmMade, an.lastModified, tc.etagMade, tc.lmMade, tc.wantLM)
			}
			if !tc.etagMade && string(an.etag) != tc.etag {
				t.Errorf("etag %q, want %q kept", an.etag, tc.etag)
			}
			if tc.etagMade && (len(an.etag) != 28 || string(an.etag[:3]) != `W/"`) {
				t.Errorf("made etag %q", an.etag)
			}
		})
	}
	a, b := analysis{}, analysis{}
	a.validators([]byte("one"), nil, now)
	b.validators([]byte("two"), nil, now)
	if string(a.etag) == string(b.etag) {
		t.Errorf("two bodies, one etag %q", a.etag)
	}
	// One body, two codings: two representations, two ETags.
	g, i := analysis{}, analysis{}
	g.validators([]byte("one"), []byte("gzip"), now)
	i.validators([]byte("one"), nil, now)
	if string(g.etag) == string(i.etag) {
		t.Errorf("gzip and identity share etag %q", g.etag)
	}
}

func TestReplayHeaders(t *testing.T) {
	cases := []struct {
		name   string
		before []string // set by middleware in front
		hdr    []string // the response as the chain left it
		want   string
	}{
		{"own headers", nil, []string{"X-A", "1", "Cache-Control", "max-age=5"}, "X-A: 1|Cache-Control: max-age=5"},
		{"per-response ones dropped", nil, []string{"Set-Cookie", "a=b", "Date", "d", "Age", "3", "X-Cache", "HIT", "ETag", `"x"`}, ""},
		{"hop-by-hop named by Connection", nil, []string{"Connection", "X-Hop", "X-Hop", "1", "X-B", "2"}, "X-B: 2"},
		{"set in front", []string{"X-Request-Id", "r1"}, []string{"X-Request-Id", "r1", "X-B", "2"}, "X-B: 2"},
		{"repeated in front once", []string{"X-R", "1"}, []string{"X-R", "1", "X-R", "1"}, "X-R: 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var snap snapshot
			for i := 0; i+1 < len(tc.before); i += 2 {
				snap.pairs = append(snap.pairs, header{[]byte(tc.before[i]), []byte(tc.before[i+1])})
			}
			rh := headersOf(tc.hdr...)
			var got []string
			for _, h := range replayHeaders(&rh, &snap, false) {
				got = append(got, string(h.name)+": "+string(h.value))
			}
			if s := strings.Join(got, "|"); s != tc.want {
				t.Errorf("replayed %q, want %q", s, tc.want)
			}
		})
	}
}

func TestEncode(t *testing.T) {
	an := analysis{status: 203, public: true, ttl: 90 * time.Second, vary: []byte("X-A"),
		etag: []byte(`"e"`), lastModText: []byte("lm"), lastModified: 7, lmMade: true}
	var pg page
	if err := decodePage(an.encode([]header{{[]byte("X-A"), []byte("1")}}, []byte("text/html"), []byte("body")), &pg); err != nil {
		t.Fatal(err)
	}
	var hdrs []string
	hs := pg.headers
	for i := 0; i < pg.nheaders; i++ {
		var h header
		h, hs = nextHeader(hs)
		hdrs = append(hdrs, string(h.name)+": "+string(h.value))
	}
	cases := []struct {
		name      string
		got, want any
	}{
		{"status", pg.status, 203},
		{"flags", pg.flags, byte(flagPublic | flagGenerate | flagOwnETag)},
		{"ttl", pg.ttl, uint32(90)},
		{"lastModified", pg.lastModified, int64(7)},
		{"vary", string(pg.vary), "X-A"},
		{"ctype", string(pg.ctype), "text/html"},
		{"etag", string(pg.etag), `"e"`},
		{"headers", strings.Join(hdrs, "|"), "X-A: 1|Last-Modified: lm"},
		{"body", string(pg.body), "body"},
	}
	for _, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

// ttlOf returns the ttl= of a hit's Cache-Status.
func ttlOf(t *testing.T, r result) int {
	t.Helper()
	m := regexp.MustCompile(`ttl=(-?\d+)`).FindStringSubmatch(r.cacheStatus())
	if m == nil {
		t.Fatalf("no ttl in Cache-Status %q", r.cacheStatus())
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestResponseFreshness(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache, TTL: time.Hour}))
	cc := func(v string) fiber.Handler {
		return func(c *fiber.Ctx) error {
			c.Set("Cache-Control", v)
			return c.SendString(v)
		}
	}
	app.Get("/max-age", cc("max-age=120"))
	app.Get("/s-maxage", cc("max-age=120, s-maxage=30"))
	app.Get("/odd", cc(`Public, MAX-AGE="90"`))
	app.Get("/zero", cc("max-age=0"))
	app.Get("/szero", cc("public, max-age=600, s-maxage=0"))
	app.Get("/none", func(c *fiber.Ctx) error { return c.SendString("none") })
	app.Get("/expires", func(c *fiber.Ctx) error {
		c.Set("Expires", time.Now().Add(45*time.Second).UTC().Format(http.TimeFormat))
		return c.SendString("expires")
	})
	app.Get("/expired", func(c *fiber.Ctx) error {
		c.Set("Expires", "0")
		return c.SendString("expired")
	})
	app.Get("/route", Page(10*time.Minute, Config{Cache: cache}), cc("max-age=5"))
	app.Get("/route-zero", Page(10*time.Minute, Config{Cache: cache}), cc("max-age=0"))

	for path, want := range map[string][2]int{
		"/max-age":  {115, 120},
		"/s-maxage": {25, 30},
		"/odd":      {85, 90},
		"/none":     {3595, 3600},
		"/expires":  {39, 45},
		"/route":    {595, 600},
	} {
		get(t, app, path)
		r := get(t, app, path)
		if r.xcache() != "HIT" {
			t.Errorf("%s: X-Cache %q, Cache-Status %q", path, r.xcache(), r.cacheStatus())
			continue
		}
		if ttl := ttlOf(t, r); ttl < want[0] || ttl > want[1] {
			t.Errorf("%s: ttl %d, want %d..%d", path, ttl, want[0], want[1])
		}
	}
	for _, path := range []string{"/zero", "/szero", "/expired", "/route-zero"} {
		get(t, app, path)
		r := get(t, app, path)
		if r.xcache() != "MISS" || strings.Contains(r.cacheStatus(), "stored") {
			t.Errorf("%s was stored: %q %q", path, r.xcache(), r.cacheStatus())
		}
	}
}

func TestTagsAndSurrogateKeys(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache}))
	var runs atomic.Int64
	app.Get("/post/:id", func(c *fiber.Ctx) error {
		Tag(c, "post-"+c.Params("id"), "")
		c.Set("Surrogate-Key", "blog author-"+c.Params("id"))
		return c.SendString(fmt.Sprintf("post %s render %d", c.Params("id"), runs.Add(1)))
	})
	// warm reaches a HIT (a render under a tag born during that render is
	// not stored: the core cannot tell it from a concurrent invalidation).
	warm := func(path string) result {
		for i := 0; i < 3; i++ {
			if r := get(t, app, path); r.xcache() == "HIT" {
				return r
			}
		}
		t.Fatalf("%s never became a hit", path)
		return result{}
	}
	r := warm("/post/1")
	warm("/post/2")
	if v := r.header.Get("Surrogate-Key"); v != "" {
		t.Errorf("Surrogate-Key leaked to the client: %q", v)
	}
	first := r.body

	if err := cache.InvalidateTags("post-1"); err != nil {
		t.Fatal(err)
	}
	r = get(t, app, "/post/1")
	expect(t, "after InvalidateTags(Tag)", r.xcache(), "MISS")
	if r.body == first {
		t.Errorf("invalidated page served again")
	}
	if v := r.header.Get("Surrogate-Key"); v != "" {
		t.Errorf("Surrogate-Key leaked on a miss: %q", v)
	}
	expect(t, "other page untouched", get(t, app, "/post/2").xcache(), "HIT")

	warm("/post/1")
	if err := cache.InvalidateTags("blog"); err != nil { // a Surrogate-Key tag
		t.Fatal(err)
	}
	expect(t, "after InvalidateTags(Surrogate-Key) 1", get(t, app, "/post/1").xcache(), "MISS")
	expect(t, "after InvalidateTags(Surrogate-Key) 2", get(t, app, "/post/2").xcache(), "MISS")
}

func TestStreamedBodyBypassed(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: cache}))
	big := strings.Repeat("streamed ", 10000)
	app.Get("/", func(c *fiber.Ctx) error {
		return c.SendStream(strings.NewReader(big))
	})
	for i := 0; i < 2; i++ {
		r := get(t, app, "/")
		expect(t, "body whole", r.body, big)
		expect(t, "X-Cache", r.xcache(), "MISS")
		want := "cachekit; fwd=uri-miss; detail=stream"
		if i > 0 {
			want = "cachekit; fwd=uri-miss; detail=uncacheable" // hit-for-miss
		}
		expect(t, "Cache-Status", r.cacheStatus(), want)
	}
}

func TestPerResponseHeadersNotReplayed(t *testing.T) {
	cache := newCache(t)
	app := newApp()
	var reqID atomic.Int64
	app.Use(func(c *fiber.Ctx) error { // in front: a request ID
		c.Set("X-Request-Id", strconv.FormatInt(reqID.Add(1), 10))
		return c.Next()
	})
	app.Use(New(Config{Cache: cache}))
	app.Get("/", func(c *fiber.Ctx) error {
		c.Set("X-Page", "kept")
		c.Response().Header.Add("Link", "</a.css>; rel=preload")
		c.Response().Header.Add("Link", "</b.js>; rel=preload")
		c.Set("Keep-Alive", "timeout=5")
		c.Set("X-Hop", "per-connection")
		c.Set("Connection", "X-Hop")
		c.Set("Age", "30") // 30 s old already: fresh for 30 more
		c.Set("X-Cache", "bogus")
		return c.SendString("page")
	})
	get(t, app, "/")
	r := get(t, app, "/")
	expect(t, "X-Cache", r.xcache(), "HIT")
	expect(t, "X-Request-Id is the hit's own", r.header.Get("X-Request-Id"), "2")
	expect(t, "X-Page replayed", r.header.Get("X-Page"), "kept")
	expect(t, "both Link headers", strings.Join(r.header.Values("Link"), "|"), "</a.css>; rel=preload|</b.js>; rel=preload")
	expect(t, "Keep-Alive not replayed", r.header.Get("Keep-Alive"), "")
	expect(t, "Connection-listed header not replayed", r.header.Get("X-Hop"), "")
	expect(t, "Age counts the upstream Age", r.header.Get("Age"), "30")
}
