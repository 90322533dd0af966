package fragments_test

import (
	"html/template"
	"strings"
	"testing"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/fragments"
)

// TestContexts checks that a block is accepted exactly where html/template
// is in HTML text, and that where it is accepted the page renders as it
// would without the block.
func TestContexts(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		text   bool
	}{
		{"", true},
		{"<p>", true},
		{"<p", false},
		{"<p ", false},
		{"<p class", false},
		{"<p class=", false},
		{`<p class="`, false},
		{`<p class='`, false},
		{`<p class=x`, false},
		{`<p class="a>b">`, true},
		{`<div data-x='a>b'>`, true},
		{"<!--", false},
		{"<!-- x -->", true},
		{"<script>", false},
		{"<SCRIPT>", false},
		{"<script>x</script>", true},
		{`<script type="text/template">`, true},
		{`<script type="module">`, false},
		{"<style>", false},
		{"<style>p{}</style >", true},
		{"<textarea>", false},
		{"<title>", false},
		{"<svg><title>", false},
		{"<title></title>", true},
		{`<a href="/x">`, true},
		{"<a href=/x>", true},
		{"</p>", true},
		{"<p/>", true},
		{"<br/>", true},
		{"a < b", true},
		{"<", true},
		{"<3", true},
		{"<!DOCTYPE html>", true},
		{"<meta charset=utf-8>", true},
		{"<p>x</p", false},
		{"<a b=c d", false},
		{"<img src=x onerror=", false},
		{"<p>{{if .}}<b>{{else}}<i>{{end}}", true},
		{`<p {{if .}}class="a"{{end}}>`, true},
		{"<p {{if .}}class=a{{end}}>", false}, // html/template refuses it too
		{"<p {{.}}>", true},
		{`<p title="{{.}}">`, true},
		{`{{if .}}<a href="{{end}}`, false},
		{`{{range .}}<p>{{end}}`, true},
		{`{{range .}}<p class="{{end}}`, false},
		{`{{define "open"}}<div class="{{end}}{{template "open"}}`, false},
		{`{{define "open"}}<div class="x">{{end}}{{template "open"}}`, true},
	} {
		t.Run(tc.prefix, func(t *testing.T) {
			src := tc.prefix + `{{cache "a" 60}}<b title="{{.}}">{{.}}</b>{{endcache}}`
			tm, err := template.New("t").Funcs(fragments.Funcs()).Parse(src)
			if err != nil {
				t.Fatal(err)
			}
			err = fragments.Rewrite(tm, cachekit.New(cachekit.Config{Storage: cachekit.NewDummy()}))
			if (err == nil) != tc.text {
				t.Fatalf("in HTML text: %v; Rewrite: %v", tc.text, err)
			}
			if err != nil {
				return
			}
			none := func(...any) string { return "" }
			ref := template.Must(template.New("t").Funcs(template.FuncMap{"cache": none, "endcache": none}).Parse(src))
			for _, data := range []any{"<i>&", template.HTML("<i>x</i>"), nil} {
				var got, want strings.Builder
				gerr := tm.Execute(&got, data)
				werr := ref.Execute(&want, data)
				if got.String() != want.String() || (gerr == nil) != (werr == nil) {
					t.Fatalf("data %v:\n got %q, %v\nwant %q, %v", data, got.String(), gerr, want.String(), werr)
				}
			}
		})
	}
}

func TestEscaping(t *testing.T) {
	c := newCache(t)
	tm := load(t, c, nil, "escape.html")
	ref := reference(t, nil, "escape.html")
	for _, q := range []string{
		`<script>alert("x")</script>`,
		`"><img src=x onerror=alert(1)>`,
		`'; alert(1); //`,
		`javascript:alert(1)`,
		`</textarea><script>x</script>`,
		strings.Repeat("long ", 10000),
	} {
		data := map[string]any{"Query": q, "Color": "red; background: url(javascript:x)"}
		want := render(t, ref, "escape.html", data)
		for i := 0; i < 2; i++ {
			if got := render(t, tm, "escape.html", data); got != want {
				t.Fatalf("query %.40q, render %d\n got %q\nwant %q", q, i, got, want)
			}
		}
		if strings.Contains(want, "<script>alert") || strings.Contains(want, "<img") {
			t.Fatalf("reference not escaped: %q", want)
		}
	}
	if st := c.Stats(); st.Hits != 6 || st.Stores != 6 {
		t.Fatalf("each query is its own variant: %+v", st)
	}
}

func TestScriptWithTemplateType(t *testing.T) {
	// html/template treats a non-JavaScript <script> as HTML text.
	c := newCache(t)
	tm := load(t, c, nil, "texttemplate.html")
	ref := reference(t, nil, "texttemplate.html")
	data := map[string]string{"Name": "<x>"}
	if got, want := render(t, tm, "texttemplate.html", data), render(t, ref, "texttemplate.html", data); got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestPartialCalledInText(t *testing.T) {
	c := newCache(t)
	tm := load(t, c, nil, "partials.html")
	if got := render(t, tm, "page", map[string]string{"Name": "<n>"}); got != "<div><span>&lt;n&gt;</span></div>" {
		t.Fatal(got)
	}
}
