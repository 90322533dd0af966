package fibercache

import (
	"bufio"
	"bytes"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// Date (RFC 9110 §6.6.1, RFC 9111 §4). fasthttp writes the Date of every
// response itself, the time it writes it, and drops any Date a handler
// sets (ResponseHeader.Set ignores it), unless the server has
// NoDefaultDate, which Fiber exposes as fiber.Config{DisableDefaultDate:
// true}. So: each page is stored with its Date, the one the response came
// with (a reverse proxy's upstream's) or the time it was stored; an app
// with DisableDefaultDate gets the stored Date on hits, as RFC 9111 has a
// cache send it, and every response this middleware handles carries a
// Date (the handler's, or now). Without it, hits show the serve time
// fasthttp writes; Age still tells how old the page is.

var hdrDateB = []byte(fiber.HeaderDate)

// storedDate is the Date a page is stored with: the response's, or now.
func storedDate(rh *responseHeaders, now time.Time) []byte {
	if len(rh.date) > 0 && validDateValue(rh.date) {
		return rh.date
	}
	return now.UTC().AppendFormat(nil, http.TimeFormat)
}

// stampDate returns the Date the page is stored with (storedDate); when
// the app leaves Date to the middleware and the response has none, the
// response gets that one, so the render's answer and the hits agree.
func stampDate(c *fiber.Ctx, rh *responseHeaders, now time.Time) []byte {
	d := storedDate(rh, now)
	if len(rh.date) == 0 && ownDate(c) {
		setDate(&c.Response().Header, d)
	}
	return d
}

// ownDate reports whether the app writes Date itself
// (fiber.Config.DisableDefaultDate): then the middleware sends it.
func ownDate(c *fiber.Ctx) bool {
	s := c.App().Server()
	return s != nil && s.NoDefaultDate
}

// sendStoredDate sends the Date the page pg was stored with, when the app
// leaves Date to it: as setDate does, but written straight into the
// header list (lv) when it can be, without setDate's allocations.
func sendStoredDate(c *fiber.Ctx, lv *listView, pg *page) {
	if !ownDate(c) {
		return
	}
	d := storedHeader(pg, hdrDateB)
	if d == nil {
		d = time.Now().UTC().AppendFormat(nil, http.TimeFormat) // a page stored before Dates were
	}
	h := &c.Response().Header
	if lv.respOK && plainDateValue(d) {
		if lv.hasLineFold(h, "date") {
			h.Del(fiber.HeaderDate)
		}
		lv.appendLine(h, "Date", d)
		return
	}
	setDate(h, d)
}

// plainDateValue: a value setDate's header line would read back as it is
// (validDateValue, no space or tab at either end for the parser to trim).
func plainDateValue(v []byte) bool {
	return validDateValue(v) && v[0] != ' ' && v[0] != '\t' && v[len(v)-1] != ' ' && v[len(v)-1] != '\t'
}

// ensureDate gives a response without a Date the current time, when the
// app leaves Date to it.
func ensureDate(c *fiber.Ctx) {
	if !ownDate(c) {
		return
	}
	h := &c.Response().Header
	if len(h.Peek(fiber.HeaderDate)) == 0 {
		setDate(h, time.Now().UTC().AppendFormat(nil, http.TimeFormat))
	}
}

// setDate makes v the response's only Date. fasthttp's setters drop Date
// whatever the server's NoDefaultDate says; ReadTrailer takes any field
// but the forbidden trailers into the header list as it is, so the Date
// goes in that way (it is not declared a trailer: it is written with the
// other headers).
func setDate(h *fasthttp.ResponseHeader, v []byte) {
	if !validDateValue(v) {
		return
	}
	h.Del(fiber.HeaderDate)
	line := make([]byte, 0, len(v)+10)
	line = append(line, "Date: "...)
	line = append(line, v...)
	line = append(line, "\r\n\r\n"...)
	_ = h.ReadTrailer(bufio.NewReaderSize(bytes.NewReader(line), len(line)+16))
}

// validDateValue: a short field value without control characters.
func validDateValue(v []byte) bool {
	if len(v) == 0 || len(v) > 64 {
		return false
	}
	for _, c := range v {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
