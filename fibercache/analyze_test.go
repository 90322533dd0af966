package fibercache

import (
	"net/http"
	"strings"
	"testing"
	"time"

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
	return collectHeaders(&h)
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
	}{
		{"config TTL", nil, false, time.Minute, ""},
		{"route TTL wins", []string{"Cache-Control", "max-age=5"}, true, time.Minute, ""},
		{"max-age", []string{"Cache-Control", "max-age=5"}, false, 5 * time.Second, ""},
		{"s-maxage over max-age", []string{"Cache-Control", "max-age=5, s-maxage=7"}, false, 7 * time.Second, ""},
		{"max-age=0", []string{"Cache-Control", "max-age=0"}, false, 0, "max-age-0"},
		{"s-maxage=0", []string{"Cache-Control", "s-maxage=0, max-age=9"}, false, 0, "max-age-0"},
		{"max-age=0 beats the route", []string{"Cache-Control", "max-age=0"}, true, 0, "max-age-0"},
		{"expires", []string{"Expires", at(30 * time.Second)}, false, 30 * time.Second, ""},
		{"expires against date", []string{"Expires", at(30 * time.Second), "date", at(10 * time.Second)}, false, 20 * time.Second, ""},
		{"expires past", []string{"Expires", at(-time.Second)}, false, 0, "expired"},
		{"expires malformed", []string{"Expires", "0"}, false, 0, "expired"},
		{"max-age over expires", []string{"Cache-Control", "max-age=5", "Expires", at(time.Hour)}, false, 5 * time.Second, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := &middleware{cfg: configDefault(), routeTTL: tc.routeTTL}
			rh := headersOf(tc.hdr...)
			for i := 0; i+1 < len(tc.hdr); i += 2 {
				if tc.hdr[i] == "date" { // fasthttp keeps Date to itself
					rh.date = []byte(tc.hdr[i+1])
				}
			}
			ttl, reason := m.freshness(&rh, now)
			if ttl != tc.wantTTL || reason != tc.wantReason {
				t.Errorf("freshness = %v %q, want %v %q", ttl, reason, tc.wantTTL, tc.wantReason)
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
			an.validators([]byte("body"), now)
			if an.etagMade != tc.etagMade || an.lmMade != tc.lmMade || an.lastModified != tc.wantLM {
				t.Errorf("made %v %v, lastModified %d; want %v %v %d", an.etagMade, an.lmMade, an.lastModified, tc.etagMade, tc.lmMade, tc.wantLM)
			}
			if !tc.etagMade && string(an.etag) != tc.etag {
				t.Errorf("etag %q, want %q kept", an.etag, tc.etag)
			}
			if tc.etagMade && (len(an.etag) != 26 || an.etag[0] != '"') {
				t.Errorf("made etag %q", an.etag)
			}
		})
	}
	a, b := analysis{}, analysis{}
	a.validators([]byte("one"), now)
	b.validators([]byte("two"), now)
	if string(a.etag) == string(b.etag) {
		t.Errorf("two bodies, one etag %q", a.etag)
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
			for _, h := range replayHeaders(&rh, &snap) {
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
		{"flags", pg.flags, byte(flagPublic | flagGenerate)},
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
