package loader

import (
	"bytes"
	"errors"
	"html/template"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/fragments"
)

// Integration with package fragments: {{cache}} … {{endcache}} blocks.

// fragmentFuncs are the placeholder functions that let {{cache}} blocks
// parse. The engine's own functions override them (so a user's "tags" keeps
// working outside blocks); "cache" and "endcache" are best left to blocks.
func fragmentFuncs() template.FuncMap { return fragments.Funcs() }

// rewriteFragments turns the {{cache}} blocks of a chain's set into blocks
// cached in c, once, before the set's first Execute. files maps the set's
// template names to their files, to name the file in errors.
func rewriteFragments(set *template.Template, c *cachekit.Cache, files map[string]*file) error {
	err := fragments.Rewrite(set, c)
	if err == nil {
		return nil
	}
	var fe *fragments.Error
	if errors.As(err, &fe) {
		if f := files[fe.Template]; f != nil {
			return &Error{File: f.path, Name: fe.Template, Line: fe.Line, Err: err}
		}
	}
	return err
}

// checkFragments rewrites a throwaway set of one file's templates, so that
// a malformed {{cache}} block (no name, bad ttl, no {{endcache}}, ...) fails
// Load with file and line rather than the first render. Blocks placed in a
// bad HTML context through another file are found when the chain is built.
func checkFragments(f *file, src []byte, cfg *config) error {
	if !bytes.Contains(src, []byte("cache")) {
		return nil
	}
	set := template.New(f.name).Funcs(cfg.funcs)
	files := make(map[string]*file, len(f.names))
	for _, name := range f.names {
		if _, err := set.AddParseTree(name, f.trees[name].Copy()); err != nil {
			return err
		}
		files[name] = f
	}
	return rewriteFragments(set, cfg.cache, files)
}
