// Package dashboard is a Fiber handler that draws a cachekit cache's
// figures as a page (hit ratio per route and per {{cache}} fragment over
// time, stores, stale answers, coalesced waits, bypasses by reason,
// evictions, memory against its bound, storage errors, circuit state), with
// token-guarded forms to invalidate a tag or a path. Everything is served
// by the handler itself: inline SVG charts, inline styles, no script, no
// CDN.
//
//	rec := dashboard.NewRecorder()
//	cache := cachekit.New(cachekit.Config{Storage: mem, Observe: rec.Observe})
//	app.Use(rec.Handler())
//	app.Use(fibercache.New(fibercache.Config{Cache: cache}))
//	h := dashboard.New(dashboard.Config{Cache: cache, Recorder: rec, Token: os.Getenv("CACHE_TOKEN")})
//	app.Get("/_cache", h)
//	app.Post("/_cache", h) // the invalidate forms
//
// The Prometheus collector for the same figures is in package
// github.com/cachekit/cachekit/dashboard/prom.
package dashboard

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/cachekit/cachekit/fibercache"
	"github.com/gofiber/fiber/v2"
)

//go:embed page.html
var pageSource string

var pageTemplate = template.Must(template.New("page").Parse(pageSource))

// nonceTTL is how long a rendered form stays valid.
const nonceTTL = time.Hour

// New returns the dashboard handler. GET and HEAD draw the page; POST runs
// an invalidate form (mount the handler for POST too, at the same path);
// other methods get 405.
func New(config ...Config) fiber.Handler {
	cfg := configDefault(config...)
	cfg.Recorder.watch(cfg.Cache, cfg.Memory)
	d := &board{cfg: cfg}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		panic("dashboard: no randomness: " + err.Error())
	}
	// Nonces and confirmations are bound to this handler and its token.
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(cfg.Token))
	d.key = mac.Sum(nil)
	return d.handle
}

type board struct {
	cfg Config
	key []byte
	now func() time.Time // tests
}

func (d *board) clock() time.Time {
	if d.now != nil {
		return d.now()
	}
	return time.Now()
}

func (d *board) handle(c *fiber.Ctx) error {
	if d.cfg.Next != nil && d.cfg.Next(c) {
		return c.Next()
	}
	h := &c.Response().Header
	h.Set(fiber.HeaderCacheControl, "no-store")
	h.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	h.Set(fiber.HeaderXFrameOptions, "DENY")
	h.Set(fiber.HeaderReferrerPolicy, "same-origin")
	h.Set(fiber.HeaderContentSecurityPolicy,
		"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead:
		return d.page(c, fiber.StatusOK, d.flash(c.Query("done")), formState{})
	case fiber.MethodPost:
		return d.action(c)
	}
	h.Set(fiber.HeaderAllow, "GET, HEAD, POST")
	return c.SendStatus(fiber.StatusMethodNotAllowed)
}

// formState is what the forms show after a refused POST: the message, the
// field it is about, and what was typed (the token never comes back).
type formState struct {
	Error string
	Field string // "tag", "path" or "token"
	Tag   string
	Path  string
}

// action runs an invalidate form. It needs, in this order: a Token
// configured, a same-origin request (Sec-Fetch-Site and Origin, when the
// browser sends them), a nonce this handler issued within the hour, and
// the token. Only then is the tag or path read and acted on.
func (d *board) action(c *fiber.Ctx) error {
	// Copied: the page below is rendered from them after more reads of the
	// request, and nothing may alias fasthttp's buffers.
	st := formState{Tag: strings.Clone(c.FormValue("tag")), Path: strings.Clone(c.FormValue("path"))}
	kind := c.FormValue("action")
	refuse := func(status int, field, msg string) error {
		st.Error, st.Field = msg, field
		return d.page(c, status, "", st)
	}
	if d.cfg.Token == "" {
		return refuse(fiber.StatusForbidden, "", "Invalidation is off: this dashboard has no Token.")
	}
	if crossSite(c) {
		return refuse(fiber.StatusForbidden, "", "Refused: the form was sent from another site.")
	}
	if !d.validNonce(c.FormValue("nonce")) {
		return refuse(fiber.StatusForbidden, "", "The form has expired or was not made by this page: try again.")
	}
	if subtle.ConstantTimeCompare([]byte(c.FormValue("token")), []byte(d.cfg.Token)) != 1 {
		return refuse(fiber.StatusForbidden, "token", "Token: that is not the token.")
	}
	var done string
	switch kind {
	case "tag":
		tag := strings.TrimSpace(st.Tag)
		if msg := checkInput(tag, 256); msg != "" {
			return refuse(fiber.StatusUnprocessableEntity, "tag", "Tag: "+msg)
		}
		if err := d.cfg.Cache.InvalidateTags(tag); err != nil {
			return refuse(fiber.StatusInternalServerError, "tag", "Tag: the cache refused: "+err.Error())
		}
		done = "Invalidated the tag " + strconv.Quote(tag) + ": every entry that carries it is gone."
	case "path":
		path := strings.TrimSpace(st.Path)
		if msg := checkInput(path, 2048); msg != "" {
			return refuse(fiber.StatusUnprocessableEntity, "path", "Path: "+msg)
		}
		if !strings.HasPrefix(path, "/") {
			return refuse(fiber.StatusUnprocessableEntity, "path", "Path: it starts with /, such as /p/7.")
		}
		if err := fibercache.InvalidatePath(d.cfg.Cache, path); err != nil {
			return refuse(fiber.StatusInternalServerError, "path", "Path: the cache refused: "+err.Error())
		}
		done = "Invalidated the path " + strconv.Quote(path) + ": every cached variant of it is gone."
	default:
		return refuse(fiber.StatusBadRequest, "", "Choose a form: invalidate a tag or a path.")
	}
	// Post/redirect/get, with the confirmation signed so that no link can
	// make the page claim what it did not do. A relative Location keeps
	// the mount path: it cannot point anywhere else.
	return c.Redirect("?done="+d.sign(done), fiber.StatusSeeOther)
}

// checkInput says what is wrong with a tag or a path, or "".
func checkInput(s string, max int) string {
	switch {
	case s == "":
		return "it is empty."
	case len(s) > max:
		return fmt.Sprintf("it is longer than %d bytes.", max)
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == unicode.ReplacementChar }) >= 0:
		return "it holds a control character or invalid UTF-8."
	}
	return ""
}

// crossSite reports a request a browser says came from another site.
func crossSite(c *fiber.Ctx) bool {
	switch c.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return true
	}
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	return err != nil || u.Host == "" || u.Host != string(c.Request().Host())
}

func (d *board) mac(parts ...string) string {
	m := hmac.New(sha256.New, d.key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return hex.EncodeToString(m.Sum(nil)[:16])
}

func (d *board) nonce() string {
	ts := strconv.FormatInt(d.clock().Unix(), 10)
	return ts + "." + d.mac("nonce", ts)
}

func (d *board) validNonce(n string) bool {
	ts, sig, ok := strings.Cut(n, ".")
	if !ok {
		return false
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	age := d.clock().Sub(time.Unix(unix, 0))
	if age < -time.Minute || age > nonceTTL {
		return false
	}
	return hmac.Equal([]byte(sig), []byte(d.mac("nonce", ts)))
}

func (d *board) sign(msg string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(msg)) + "." + d.mac("done", msg)
}

// flash returns the confirmation a signed ?done= carries, or "".
func (d *board) flash(v string) string {
	enc, sig, ok := strings.Cut(v, ".")
	if !ok {
		return ""
	}
	msg, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || !hmac.Equal([]byte(sig), []byte(d.mac("done", string(msg)))) {
		return ""
	}
	return string(msg)
}

// The page's data.

type tile struct {
	Value, Label string
	Alert        bool
}

type row struct {
	Name   string
	Counts Counts
	Ratio  string
	Chart  template.HTML
}

type chart struct {
	Title  string
	Note   string
	SVG    template.HTML
	Legend []legend
}

type legend struct{ Name, Class string }

func timeChart(title, note string, ta timeAxis, ss ...series) chart {
	ch := chart{Title: title, Note: note, SVG: lineChart(title+", "+note, ta, false, ss)}
	for _, s := range ss {
		ch.Legend = append(ch.Legend, legend{s.name, "k" + strings.TrimPrefix(s.class, "s")})
	}
	return ch
}

type reasonRow struct {
	Name  string
	Count uint64
}

type pageData struct {
	Title     string
	Store     string
	Err       string
	Done      string
	Form      formState
	CanAct    bool
	Nonce     string
	Window    string
	Every     string
	Tiles     []tile
	Charts    []chart
	Routes    []row
	Fragments []row
	Models    []row
	Bypasses  []reasonRow
	NotStored []reasonRow
	ReasonSVG template.HTML
	UnstSVG   template.HTML
}

func (d *board) page(c *fiber.Ctx, status int, done string, form formState) error {
	now := d.clock()
	rec := d.cfg.Recorder
	hist := rec.hist.view(rec, now)
	cur := hist[len(hist)-1]
	ta := timeAxis{now: now, span: time.Duration(rec.cfg.History) * rec.cfg.Interval, every: rec.cfg.Interval}

	data := pageData{
		Title:  d.cfg.Title,
		Store:  fmt.Sprintf("%T", d.cfg.Cache.Storage()),
		Done:   done,
		Form:   form,
		CanAct: d.cfg.Token != "",
		Window: formatSpan(ta.span),
		Every:  formatSpan(ta.every),
	}
	if err := d.cfg.Cache.Err(); err != nil {
		data.Err = err.Error()
	}
	if data.CanAct {
		data.Nonce = d.nonce()
	}
	data.Tiles, data.Charts = d.overview(cur, hist, ta)
	data.Routes = rows(hist, ta, func(s sample) map[string]Counts { return s.routes })
	data.Fragments = rows(hist, ta, func(s sample) map[string]Counts { return s.fragments })
	data.Models = rows(hist, ta, func(s sample) map[string]Counts { return s.models })
	data.Bypasses = reasonRows(cur.bypass)
	data.NotStored = reasonRows(cur.unstored)
	data.ReasonSVG = reasonChart("bypasses by reason", data.Bypasses)
	data.UnstSVG = reasonChart("misses not stored, by reason", data.NotStored)

	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, data); err != nil {
		return err
	}
	c.Status(status)
	c.Type("html", "utf-8")
	return c.Send(buf.Bytes())
}

// overview is the cache-wide tiles and charts.
func (d *board) overview(cur sample, hist []sample, ta timeAxis) ([]tile, []chart) {
	st := cur.core
	circuit := "closed"
	if st.CircuitOpen {
		circuit = "open"
	}
	tiles := []tile{
		{Value: fmt.Sprintf("%.0f%%", st.HitRatio()*100), Label: "hit ratio (all lookups)"},
		{Value: count(st.Hits), Label: "hits"},
		{Value: count(st.Misses), Label: "misses"},
		{Value: count(st.Stale), Label: "stale answers"},
		{Value: count(st.Coalesced), Label: "coalesced waits"},
		{Value: count(st.Stores), Label: "stores"},
		{Value: count(st.Invalidations), Label: "invalidations"},
		{Value: count(st.Errors), Label: "storage errors", Alert: st.Errors > 0},
		{Value: count(st.Timeouts), Label: "storage timeouts", Alert: st.Timeouts > 0},
		{Value: circuit, Label: fmt.Sprintf("circuit (opened %d times)", st.CircuitOpens), Alert: st.CircuitOpen},
	}
	if cur.haveMem {
		tiles = append(tiles,
			tile{Value: count(uint64(cur.mem.Entries)), Label: "entries in memory"},
			tile{Value: formatBytes(float64(cur.mem.Capacity)) + " / " + formatBytes(float64(cur.mem.MaxBytes)), Label: "memory used / bound"},
			tile{Value: count(cur.mem.Evictions), Label: "evictions"},
		)
	}
	// increase is the increase of a counter in each interval; a sample
	// taken before the Recorder knew the Cache (or Memory) has no point.
	increase := func(have func(s sample) bool, f func(s sample) uint64) []point {
		var pts []point
		for i := 1; i < len(hist); i++ {
			a, b := hist[i-1], hist[i]
			ok := have(a) && have(b) && f(b) >= f(a)
			pts = append(pts, point{at: b.at, v: float64(f(b) - f(a)), ok: ok})
		}
		return pts
	}
	per := func(f func(s sample) uint64) []point {
		return increase(func(s sample) bool { return s.haveCore }, f)
	}
	perMem := func(f func(s sample) uint64) []point {
		return increase(func(s sample) bool { return s.haveMem }, f)
	}
	note := "per " + formatSpan(ta.every) + " interval"
	charts := []chart{
		timeChart("Lookups", note, ta,
			series{"hits", "s1", per(func(s sample) uint64 { return s.core.Hits })},
			series{"stale", "s2", per(func(s sample) uint64 { return s.core.Stale })},
			series{"misses", "s3", per(func(s sample) uint64 { return s.core.Misses })}),
		timeChart("Writes and waits", note, ta,
			series{"stores", "s1", per(func(s sample) uint64 { return s.core.Stores })},
			series{"invalidations", "s2", per(func(s sample) uint64 { return s.core.Invalidations })},
			series{"coalesced waits", "s4", per(func(s sample) uint64 { return s.core.Coalesced })}),
		timeChart("Storage errors", note, ta,
			series{"errors", "s3", per(func(s sample) uint64 { return s.core.Errors })},
			series{"timeouts", "s2", per(func(s sample) uint64 { return s.core.Timeouts })},
			series{"circuit opens", "s4", per(func(s sample) uint64 { return s.core.CircuitOpens })}),
	}
	if cur.haveMem {
		charts = append(charts,
			timeChart("Evictions", note, ta,
				series{"evictions", "s3", perMem(func(s sample) uint64 { return s.mem.Evictions })}),
			chart{Title: "Memory", Note: "allocated against the bound", SVG: barChart("memory allocated against its bound",
				[]bar{{"allocated", float64(cur.mem.Capacity)}}, float64(cur.mem.MaxBytes), formatBytes),
				Legend: []legend{{formatBytes(float64(cur.mem.Capacity)) + " of " + formatBytes(float64(cur.mem.MaxBytes)), "k1"}}},
		)
	}
	return tiles, charts
}

func count(n uint64) string { return strconv.FormatUint(n, 10) }

// rows is one table, in a stable order: by name, Other last.
func rows(hist []sample, ta timeAxis, pick func(sample) map[string]Counts) []row {
	now := pick(hist[len(hist)-1])
	names := make([]string, 0, len(now))
	for name := range now {
		names = append(names, name)
	}
	sortNames(names)
	out := make([]row, 0, len(names))
	for _, name := range names {
		var pts []point
		for i := 1; i < len(hist); i++ {
			dl := pick(hist[i])[name].sub(pick(hist[i-1])[name])
			pts = append(pts, point{at: hist[i].at, v: dl.Ratio(), ok: dl.Served() > 0})
		}
		c := now[name]
		out = append(out, row{
			Name:   name,
			Counts: c,
			Ratio:  fmt.Sprintf("%.0f%%", c.Ratio()*100),
			Chart:  lineChart("hit ratio of "+name, ta, true, []series{{"hit ratio", "s1", pts}}),
		})
	}
	return out
}

func sortNames(names []string) {
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == Other) != (names[j] == Other) {
			return names[j] == Other
		}
		return names[i] < names[j]
	})
}

func reasonRows(m map[string]uint64) []reasonRow {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sortNames(names)
	out := make([]reasonRow, 0, len(names))
	for _, n := range names {
		out = append(out, reasonRow{n, m[n]})
	}
	return out
}

func reasonChart(label string, rs []reasonRow) template.HTML {
	if len(rs) == 0 {
		return ""
	}
	bars := make([]bar, len(rs))
	for i, r := range rs {
		bars[i] = bar{r.Name, float64(r.Count)}
	}
	return barChart(label, bars, 0, nil)
}
