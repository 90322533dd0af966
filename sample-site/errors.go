package main

import (
	"bufio"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/cachekit/cachekit/loader"
	"github.com/gofiber/fiber/v2"
)

// errorPage renders errors through the site's own page: client errors
// (4xx) say what was wrong with the request, server errors ask to try
// again; under -dev a server error shows the error itself, with the
// template's file and line (Django's debug page). Error statuses are never
// stored by fibercache.
func (s *site) errorPage(c *fiber.Ctx, err error) error {
	code := fiber.StatusInternalServerError
	custom := ""
	var fe *fiber.Error
	if errors.As(err, &fe) {
		code = fe.Code
		if fe.Message != http.StatusText(code) && fe.Message != fiber.ErrNotFound.Message {
			custom = fe.Message
		}
	}
	heading, message := clientError(c, code)
	if custom != "" && code < 500 {
		message = custom
	}
	if code >= 500 {
		fmt.Printf("sample-site: %s %s: %v\n", c.Method(), c.Path(), err)
	}
	c.Status(code)
	c.Set(fiber.HeaderCacheControl, "no-store")
	if code >= 500 && s.cfg.Dev {
		return debugPage(c, code, err, s.cfg.Templates)
	}
	data := fiber.Map{"Status": code, "Heading": heading, "Message": message}
	if rerr := s.render(c, "pages/error", heading, data); rerr != nil {
		// The layout itself failed (the database is down): a bare page.
		c.Type("html")
		return c.Status(code).SendString(fmt.Sprintf("<!doctype html><title>%d</title><h1>%d: %s</h1><p>%s</p>",
			code, code, template.HTMLEscapeString(heading), template.HTMLEscapeString(message)))
	}
	return nil
}

// clientError returns the heading and message of an error status: a 4xx
// says what was wrong with the request (trying again will not help), a 5xx
// asks to try again.
func clientError(c *fiber.Ctx, code int) (heading, message string) {
	switch code {
	case fiber.StatusNotFound:
		return "Not found", "There is no page at " + c.Path() + "."
	case fiber.StatusForbidden:
		return "Forbidden", "You may not do that."
	case fiber.StatusBadRequest:
		return "Bad request", "The request was malformed, so the shop could not read it."
	case fiber.StatusMethodNotAllowed:
		return "Method not allowed", "That address does not take a " + c.Method() + " request."
	case fiber.StatusRequestEntityTooLarge:
		return "Request too large", "The request's body is larger than this shop accepts (1 MB)."
	case fiber.StatusRequestHeaderFieldsTooLarge:
		return "Request headers too large", "The request's headers (often its cookies) are larger than this shop accepts. Clearing this site's cookies usually fixes it."
	case fiber.StatusRequestTimeout:
		return "Request timeout", "The request took too long to arrive."
	}
	if code >= 400 && code < 500 {
		return http.StatusText(code), "The shop could not handle this request as it was sent."
	}
	return "Something went wrong", "The page could not be shown. Please try again in a moment."
}

// execErrorRE finds "template: NAME:LINE:" in an html/template execution
// error.
var execErrorRE = regexp.MustCompile(`template: ([^:\s]+):(\d+):`)

// templateLocation returns the file and line an error points at: a
// loader.Error (parse) carries them, an execution error names the template
// and the line.
func templateLocation(err error, dir string) (file string, line int) {
	var le *loader.Error
	if errors.As(err, &le) {
		return le.File, le.Line
	}
	if m := execErrorRE.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[2])
		return filepath.Join(dir, filepath.FromSlash(m[1])+".html"), n
	}
	return "", 0
}

type sourceLine struct {
	N    int
	Text string
	Here bool
}

// sourceAround returns the lines of file around line.
func sourceAround(file string, line int) []sourceLine {
	f, err := os.Open(file)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []sourceLine
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if n >= line-5 && n <= line+5 {
			out = append(out, sourceLine{n, sc.Text(), n == line})
		}
	}
	return out
}

var debugTemplate = template.Must(template.New("debug").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Status}}: {{.Summary}}</title>
<style>body{font:15px/1.4 system-ui,sans-serif;margin:0}header{background:#ffc;padding:1em 2em;border-bottom:1px solid #ddd}
h1{font-size:1.3em;margin:0 0 .3em}pre{margin:0}.src{padding:1em 2em}.src table{border-collapse:collapse;font:13px/1.5 monospace}
.src td{padding:0 .6em;white-space:pre}.src .n{color:#888;text-align:right}.src .here{background:#fdd}.note{padding:0 2em;color:#555}</style></head>
<body><header><h1>{{.Status}}: {{.Summary}}</h1><pre class="message">{{.Message}}</pre>
<p>{{.Method}} {{.Path}}{{if .File}} · <strong class="location">{{.File}}{{if .Line}}, line {{.Line}}{{end}}</strong>{{end}}</p></header>
{{if .Source}}<div class="src"><table>{{range .Source}}<tr{{if .Here}} class="here"{{end}}><td class="n">{{.N}}</td><td>{{.Text}}</td></tr>{{end}}</table></div>{{end}}
<p class="note">You see this page because the site runs with -dev. In production the visitor gets the shop's friendly error page.</p>
</body></html>`))

// debugPage is the -dev page for a server error: the error, and for a
// template error its file, line and the source around it. It uses none of
// the site's templates, which may be what is broken.
func debugPage(c *fiber.Ctx, code int, err error, dir string) error {
	file, line := templateLocation(err, dir)
	summary := "Server error"
	if file != "" {
		summary = "Template error"
	}
	var b strings.Builder
	if terr := debugTemplate.Execute(&b, map[string]any{
		"Status": code, "Summary": summary, "Message": err.Error(), "Method": c.Method(), "Path": c.Path(),
		"File": file, "Line": line, "Source": sourceAround(file, line),
	}); terr != nil {
		return c.SendString(err.Error())
	}
	c.Type("html")
	return c.SendString(b.String())
}
