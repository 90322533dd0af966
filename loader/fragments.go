package loader

import (
	"html/template"

	"github.com/cachekit/cachekit"
)

// ---- Integration with package fragments: the only place that knows it. ----
//
// TODO(fragments): package fragments does not build yet. Once it does:
//   fragmentFuncs:    return fragments.Funcs()
//   rewriteFragments: return fragments.Rewrite(set, c)
//   checkFragments:   Rewrite a throwaway set of the file's trees, so that a
//                     malformed {{cache}} block fails Load with file and line.

// fragmentFuncs are the placeholder functions {{cache}} blocks need to parse.
func fragmentFuncs() template.FuncMap { return nil }

// rewriteFragments turns the {{cache}} blocks of a chain's set into cached
// blocks, once, before its first Execute.
func rewriteFragments(set *template.Template, c *cachekit.Cache) error { return nil }

// checkFragments reports a malformed {{cache}} block of a file at Load.
func checkFragments(f *file, cfg *config) error { return nil }
