package parsetree

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"text/template/parse"
)

func parseRoot(t *testing.T, src string) *parse.ListNode {
	t.Helper()
	tr := parse.New("t")
	tr.Mode = parse.SkipFuncCheck
	trees := map[string]*parse.Tree{}
	if _, err := tr.Parse(src, "{{", "}}", trees); err != nil {
		t.Fatal(err)
	}
	return trees["t"].Root
}

// kinds names the nodes that hold other nodes.
var kinds = map[parse.NodeType]string{
	parse.NodeList:    "list",
	parse.NodeAction:  "action",
	parse.NodePipe:    "pipe",
	parse.NodeCommand: "cmd",
	parse.NodeChain:   "chain",
	parse.NodeIf:      "if",
	parse.NodeRange:   "range",
	parse.NodeWith:    "with",
}

// label names a node by its kind and, for leaves, its text.
func label(n parse.Node) string {
	switch n := n.(type) {
	case *parse.TemplateNode:
		return "template:" + n.Name
	case *parse.TextNode:
		return "text:" + string(n.Text)
	}
	if k, ok := kinds[n.Type()]; ok {
		return k
	}
	return n.String()
}

func TestInspect(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want string // labels in visiting order
	}{
		{"empty", "", "list"},
		{"text", "a", "list text:a"},
		{"action", "{{f .X}}", "list action pipe cmd f .X"},
		{"declaration", "{{$v := 1}}", "list action pipe $v cmd 1"},
		{"chain", "{{(f).Y}}", "list action pipe cmd chain pipe cmd f"},
		{"pipeline", "{{f | g}}", "list action pipe cmd f cmd g"},
		{"if else", "{{if .A}}x{{else}}y{{end}}", "list if pipe cmd .A list text:x list text:y"},
		{"if without else", "{{if .A}}x{{end}}", "list if pipe cmd .A list text:x"},
		{"range", "{{range $i := .L}}{{$i}}{{end}}", "list range pipe $i cmd .L list action pipe cmd $i"},
		{"with", "{{with .A}}{{.}}{{end}}", "list with pipe cmd .A list action pipe cmd ."},
		{"template with pipe", `{{template "p" .}}`, "list template:p pipe cmd ."},
		{"template without pipe", `{{template "p"}}`, "list template:p"},
		{"nested", `{{if .A}}{{range .B}}{{template "q"}}{{end}}{{end}}`, "list if pipe cmd .A list range pipe cmd .B list template:q"},
		{"break and continue", "{{range .L}}{{break}}{{continue}}{{end}}", "list range pipe cmd .L list {{break}} {{continue}}"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			Inspect(parseRoot(t, c.src), func(n parse.Node) bool {
				got = append(got, label(n))
				return true
			})
			if g := strings.Join(got, " "); g != c.want {
				t.Errorf("Inspect(%q):\n got %s\nwant %s", c.src, g, c.want)
			}
		})
	}
}

func TestInspectSkipsChildren(t *testing.T) {
	root := parseRoot(t, `{{if .A}}{{template "in"}}{{end}}{{template "out"}}`)
	var got []string
	Inspect(root, func(n parse.Node) bool {
		got = append(got, label(n))
		_, isIf := n.(*parse.IfNode)
		return !isIf
	})
	if g, want := strings.Join(got, " "), "list if template:out"; g != want {
		t.Errorf("got %s, want %s", g, want)
	}
}

func TestInspectNil(t *testing.T) {
	for _, n := range []parse.Node{nil, (*parse.ListNode)(nil), (*parse.PipeNode)(nil), (*parse.TemplateNode)(nil)} {
		Inspect(n, func(n parse.Node) bool {
			t.Errorf("visited %T", n)
			return true
		})
	}
}

func TestCalls(t *testing.T) {
	cases := []struct {
		src  string
		want []string
	}{
		{"no calls {{.}}", nil},
		{`{{template "a"}}`, []string{"a"}},
		{`{{template "b"}}{{template "a" .}}{{template "b"}}`, []string{"b", "a"}},
		{`{{if .X}}{{template "if"}}{{else}}{{template "else"}}{{end}}`, []string{"if", "else"}},
		{`{{range .L}}{{with .}}{{template "deep" .}}{{end}}{{else}}{{template "a"}}{{end}}{{template "deep"}}`, []string{"deep", "a"}},
		{`{{define "d"}}{{template "in d"}}{{end}}{{template "top"}}`, []string{"top"}}, // a define is a tree of its own
	}
	for i, c := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if got := Calls(parseRoot(t, c.src)); !slices.Equal(got, c.want) {
				t.Errorf("Calls(%q) = %q, want %q", c.src, got, c.want)
			}
		})
	}
}
