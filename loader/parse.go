package loader

import (
	"fmt"
	"log"
	"sort"
	"strconv"
	"strings"
	texttemplate "text/template"
	"text/template/parse"

	"github.com/cachekit/cachekit/internal/parsetree"
)

// Error is a template file that does not parse or compile. Load returns it
// for the first such file; in Reload mode, Render returns it for the pages
// that use the file.
type Error struct {
	File string // the file's path, as found in the directory or file system
	Name string // the template name of the file
	Line int    // 1-based line of the error in File; 0 when unknown
	Err  error  // the parser's error
}

// Error returns "loader: FILE:LINE: message".
func (e *Error) Error() string {
	msg := e.Err.Error()
	// Drop the parser's own "template: NAME:LINE: " prefix: File and Line say it.
	if p := "template: " + e.Name + ":"; strings.HasPrefix(msg, p) {
		rest := msg[len(p):]
		if i := strings.Index(rest, ": "); i > 0 {
			if _, err := strconv.Atoi(rest[:i]); err == nil {
				msg = rest[i+2:]
			}
		}
	}
	if e.Line > 0 {
		return fmt.Sprintf("loader: %s:%d: %s", e.File, e.Line, msg)
	}
	return fmt.Sprintf("loader: %s: %s", e.File, msg)
}

// Unwrap returns the parser's error.
func (e *Error) Unwrap() error { return e.Err }

// lineOf finds the line in a parser error "template: NAME:LINE: ..." or an
// html/template error "html/template:NAME:LINE:COL: ...".
func lineOf(name string, err error) int {
	msg := err.Error()
	for _, p := range []string{"template: " + name + ":", "html/template:" + name + ":"} {
		if i := strings.Index(msg, p); i >= 0 {
			rest := msg[i+len(p):]
			j := 0
			for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
				j++
			}
			if n, err := strconv.Atoi(rest[:j]); err == nil {
				return n
			}
		}
	}
	return 0
}

// tree is one template of a file: the file's body or one of its {{define}}s.
type tree struct {
	*parse.Tree
	empty bool     // parse.IsEmptyTree: does not replace a template of the same name
	calls []string // names of the templates it calls, in order, without repeats
}

// file is one parsed template file. It is never modified once parsed.
type file struct {
	foundFile // where it was read and the version parsed
	trees     map[string]*tree
	names     []string // tree names, body first then defines in source order
}

// parseFile reads and parses one file with the engine's delimiters and
// functions, keeping its body and each of its defines as separate trees.
func (e *Engine) parseFile(ff foundFile, cfg *config) (*file, error) {
	buf, ff, err := e.readVersion(ff)
	if err != nil {
		return nil, err
	}
	t := texttemplate.New(ff.name).Delims(cfg.left, cfg.right).Funcs(cfg.funcs)
	if _, err := t.Parse(string(buf)); err != nil {
		return nil, &Error{File: ff.path, Name: ff.name, Line: lineOf(ff.name, err), Err: err}
	}
	f := &file{foundFile: ff, trees: make(map[string]*tree)}
	for _, tt := range t.Templates() {
		if tt.Tree == nil {
			continue
		}
		f.trees[tt.Name()] = &tree{Tree: tt.Tree, empty: parse.IsEmptyTree(tt.Tree.Root), calls: parsetree.Calls(tt.Tree.Root)}
		f.names = append(f.names, tt.Name())
	}
	sort.Slice(f.names, func(i, j int) bool {
		a, b := f.names[i], f.names[j]
		if (a == ff.name) != (b == ff.name) {
			return a == ff.name
		}
		return f.trees[a].Root.Pos < f.trees[b].Root.Pos
	})
	if err := checkFragments(f, buf, cfg); err != nil {
		return nil, err
	}
	if cfg.verbose {
		log.Printf("views: parsed template: %s\n", ff.name)
	}
	return f, nil
}

// parsedFiles is the parsed files of one Load and the names they define,
// immutable.
type parsedFiles struct {
	files  []*file          // html/v2's parse order
	byPath map[string]*file // by file path
	global map[string]ref   // what html/v2's single set would hold under each name
	names  []string         // sorted names of global, for suggestions
}

// ref is one tree and the file it comes from.
type ref struct {
	file *file
	tree *tree
}

// newParsedFiles resolves names as html/v2's one shared set does: files are
// added in walk order and a template replaces an earlier one of the same name
// unless its tree is empty (text/template's rule).
func newParsedFiles(files []*file) *parsedFiles {
	pf := &parsedFiles{files: files, byPath: make(map[string]*file, len(files)), global: make(map[string]ref)}
	for _, f := range files {
		pf.byPath[f.path] = f
		for _, name := range f.names {
			t := f.trees[name]
			if old, ok := pf.global[name]; ok && t.empty && old.tree != nil {
				continue
			}
			pf.global[name] = ref{f, t}
		}
	}
	pf.names = make([]string, 0, len(pf.global))
	for name := range pf.global {
		pf.names = append(pf.names, name)
	}
	sort.Strings(pf.names)
	return pf
}

// withFiles returns a set where the given files replace (or, when nil,
// remove) the files of the same path, and new files join at the place of
// order, which lists every path in walk order (nil to keep the current order).
func (pf *parsedFiles) withFiles(changed map[string]*file, order []string) *parsedFiles {
	var files []*file
	if order == nil {
		files = make([]*file, 0, len(pf.files))
		for _, f := range pf.files {
			if nf, ok := changed[f.path]; ok {
				if nf != nil {
					files = append(files, nf)
				}
				continue
			}
			files = append(files, f)
		}
	} else {
		files = make([]*file, 0, len(order))
		for _, p := range order {
			if nf, ok := changed[p]; ok {
				if nf != nil {
					files = append(files, nf)
				}
			} else if f := pf.byPath[p]; f != nil {
				files = append(files, f)
			}
		}
	}
	return newParsedFiles(files)
}
