package fragments_test

import (
	"errors"
	"html/template"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cachekit/cachekit/fragments"
)

// Malformed blocks are errors at Rewrite, naming the file and line.
func TestRewriteErrors(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string // substrings of the error
		line int
	}{
		{"noname.html", []string{"noname.html:2:", "has no name"}, 2},
		{"nonliteral.html", []string{"nonliteral.html:3:", "string literal"}, 3},
		{"emptyname.html", []string{"emptyname.html:1:", "empty"}, 1},
		{"negative.html", []string{"negative.html:1:", `{{cache "a"}}`, "ttl -5 is negative"}, 1},
		{"badduration.html", []string{"badduration.html:2:", `ttl "soon"`}, 2},
		{"negativeduration.html", []string{"negativeduration.html:1:", "negative"}, 1},
		{"hugettl.html", []string{"hugettl.html:1:", "too large"}, 1},
		{"nottl.html", []string{"nottl.html:1:", "no ttl"}, 1},
		{"missing.html", []string{"missing.html:3:", `{{cache "a"}}`, "no {{endcache}}"}, 3},
		{"stray.html", []string{"stray.html:2:", "{{endcache}} without a {{cache}}"}, 2},
		{"levels.html", []string{"levels.html:1:", "no {{endcache}} for this block at the same level"}, 1},
		{"inpipeline.html", []string{"inpipeline.html:1:", "must be an action of its own"}, 1},
		{"withvar.html", []string{"withvar.html:1:", "must be an action of its own"}, 1},
		{"endargs.html", []string{"endargs.html:1:", "takes no arguments"}, 1},
		{"nestedsame.html", []string{"nestedsame.html:1:", "same", "different body"}, 1},
		{"samename.html", []string{"samename.html:", "different body"}, 0},
		{"assign.html", []string{"assign.html:2:", "assigns $x"}, 2},
		{"break.html", []string{"break.html:2:", "{{break}}"}, 2},
		{"usedafter.html", []string{"usedafter.html:2:", "$y is declared inside"}, 2},
		{"inattr.html", []string{"inattr.html:1:", "starts inside an attribute value"}, 1},
		{"intag.html", []string{"intag.html:2:", "starts inside an HTML tag"}, 2},
		{"inscript.html", []string{"inscript.html:3:", "inside a <script> element"}, 3},
		{"instyle.html", []string{"instyle.html:1:", "inside a <style> element"}, 1},
		{"incomment.html", []string{"incomment.html:2:", "inside an HTML comment"}, 2},
		{"intitle.html", []string{"intitle.html:1:", "inside a <title> element"}, 1},
		{"endsintag.html", []string{"endsintag.html:2:", "ends inside an attribute value"}, 2},
		{"calledinattr.html", []string{"calledinattr.html:2:", "starts inside an attribute value", `template "p" is called at calledinattr.html:2:`}, 2},
	} {
		t.Run(tc.file, func(t *testing.T) {
			tm, err := template.New(tc.file).Funcs(fragments.Funcs()).ParseFiles(filepath.Join("testdata", "errors", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			before := map[string]string{}
			for _, x := range tm.Templates() {
				if x.Tree != nil {
					before[x.Name()] = x.Tree.Root.String()
				}
			}
			err = fragments.Rewrite(tm, newCache(t))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			var fe *fragments.Error
			if !errors.As(err, &fe) {
				t.Fatalf("%T is not a *fragments.Error", err)
			}
			if tc.line != 0 && fe.Line != tc.line {
				t.Errorf("Line %d, want %d", fe.Line, tc.line)
			}
			// A failed Rewrite leaves the set as it was.
			after := tm.Templates()
			if len(after) != len(before) {
				t.Fatalf("%d templates after, %d before", len(after), len(before))
			}
			for _, x := range after {
				if x.Tree != nil && before[x.Name()] != x.Tree.Root.String() {
					t.Fatalf("template %q changed", x.Name())
				}
			}
			t.Log(err)
		})
	}
}
